"""A run's whole story: where it stands, its progress, every state change (who or what), every attempt,
and its evidence one key away (v). r retries and c cancels it, as on the Queue."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, ProgressBar, Static

from medjobs_tui.console import RunStory, words
from medjobs_tui.tui import details
from medjobs_tui.tui import formatting as fmt
from medjobs_tui.tui.screens.dialogs import field_table
from medjobs_tui.tui.screens.live import LiveScreen
from medjobs_tui.tui.tables import Column
from medjobs_tui.tui.widgets.live import LiveTable

HISTORY_COLUMNS = (Column("at", "at", 19), Column("from", "from", 9), Column("to", "to", 9), Column("by", "by", 10),
                   Column("note", "note", 12, fill=True))
ATTEMPT_COLUMNS = (Column("attempt", "attempt"), Column("started", "started", 19), Column("outcome", "outcome", 9),
                   Column("duration", "duration", 8), Column("error", "error", 12, fill=True))


def _last_width(table: LiveTable) -> int:
    """The width the last (fill) column of ``table`` has on screen now (cells wider than it are cut with "…")."""
    columns = table.ordered_columns
    return columns[-1].width if columns else 0


class RunScreen(LiveScreen):
    """Run ``run_id``'s story, refreshed each second while open."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="run_screen.back"),
        Binding("v", "evidence", "Evidence", id="run_screen.evidence", tooltip="Open this run's evidence record"),
        Binding("r", "retry", "Retry", id="run_screen.retry", tooltip="Retry this run now"),
        Binding("c", "cancel", "Cancel run", id="run_screen.cancel", tooltip="Cancel this queued run"),
    ]

    def __init__(self, run_id: int, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        yield Static(f"Run {self.run_id}", id="run-title", classes="screen-title")
        with VerticalScroll(id="run-body"):
            yield Static("", id="run-fields")
            with Horizontal(id="run-progress-line"):
                yield ProgressBar(show_eta=False, id="run-progress")
                yield Static("", id="run-eta")
            yield Static("State history", classes="dialog-section")
            yield LiveTable(HISTORY_COLUMNS, id="run-history")
            yield Static("Attempts", classes="dialog-section")
            yield LiveTable(ATTEMPT_COLUMNS, id="run-attempts")
            yield Static("", id="run-in-full")
        yield Footer()

    def fetch(self) -> RunStory:
        return self.app.operations.run_story(self.run_id)

    def show(self, story: RunStory) -> None:
        zone = self.app.zone
        run = story.run
        self.query_one("#run-title", Static).update(Text.assemble(
            (f"Run {run.id} ", "bold"), fmt.job(run.job_name, run.job_type), " · ", fmt.status(run.status)))
        fields = details.run_fields(run, zone)
        fields.insert(7, ("created by", f"{story.created_by} ({run.trigger})"))
        fields.append(("evidence", details.evidence_line(story)))
        self.query_one("#run-fields", Static).update(field_table(fields))
        progress = run.progress
        line = self.query_one("#run-progress-line")
        line.display = progress is not None
        if progress is not None:
            done, total = progress
            bar = self.query_one("#run-progress", ProgressBar)
            bar.update(total=total or None, progress=done)
            eta = run.eta_s(self.app.operations.clock.now())
            self.query_one("#run-eta", Static).update(
                f"  {done} of {total} done" + (f" · about {fmt.eta(eta)} left" if eta is not None else "")
                if total else f"  {done} done")
        notes = [words.local_instants(h.note, zone, h.at) for h in story.history]
        history = self.query_one("#run-history", LiveTable)
        history.sync([(str(i), (
            fmt.local_datetime(h.at, zone), h.from_status or fmt.MISSING, fmt.status(h.to_status), h.actor,
            fmt.long_text(note))) for i, (h, note) in enumerate(zip(story.history, notes))])
        attempts = self.query_one("#run-attempts", LiveTable)
        attempts.sync([(str(a.attempt), (
            fmt.number(a.attempt), fmt.local_datetime(a.started_at, zone),
            fmt.status(a.outcome or "running"), fmt.duration(a.duration_s), fmt.long_text(a.error)))
            for a in story.attempts])
        # what the last columns cut (a narrow terminal), in full and wrapped under the tables
        cut = [(fmt.local_datetime(h.at, zone), note) for h, note in zip(story.history, notes)
               if note and cell_len(" ".join(note.split())) > _last_width(history)]
        cut += [(f"attempt {a.attempt}", a.error) for a in story.attempts
                if a.error and cell_len(" ".join(a.error.split())) > _last_width(attempts)]
        in_full = self.query_one("#run-in-full", Static)
        in_full.display = bool(cut)
        if cut:
            in_full.update(Text.assemble(("In full (cut above)\n", "bold"),
                                         *(f"{label}: {' '.join(text.split())}\n" for label, text in cut)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer r / c only to a role that may use them, and only when the run is in a state they apply to."""
        story: RunStory | None = self.data
        if action in ("retry", "cancel"):
            if not self.app.may(f"run.{action}"):
                return False
            if story is None:
                return False
            status = story.run.status
            if action == "retry":
                return status in ("dead", "queued")
            return status == "queued"
        if action == "evidence":
            return story is not None and story.evidence_valid is not None
        return True

    def action_evidence(self) -> None:
        """Open the run's evidence record (its hash checked)."""
        self.app.open_evidence(self.run_id)

    def action_retry(self) -> None:
        """Retry this run (the console says why not, when it cannot be)."""
        self.app.retry_runs([self.run_id], after=self.refetch)

    def action_cancel(self) -> None:
        """Cancel this run, after confirmation."""
        self.app.cancel_runs([self.run_id], after=self.refetch)
