"""A job's page: its schedule (next five fire times in clinic time), its policy, a chart of the last
7 days' durations and outcomes, and its recent runs; t triggers, p pauses or resumes, r retries the run
under the cursor, R retries every dead run of the job (after confirmation), enter opens a run."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Sparkline, Static

from medjobs_tui.console import JobPage
from medjobs_tui.tui import formatting as fmt
from medjobs_tui.tui.screens.dialogs import field_table
from medjobs_tui.tui.screens.live import LiveScreen
from medjobs_tui.tui.tables import TABS, run_rows
from medjobs_tui.tui.widgets.live import LiveTable

QUEUE_COLUMNS = next(s.columns for s in TABS if s.id == "queue")


class JobScreen(LiveScreen):
    """Job ``job_name``'s page, refreshed every ``interval`` seconds while open."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="job_screen.back"),
        Binding("t", "trigger", "Trigger", id="job_screen.trigger", tooltip="Queue a run of this job now"),
        Binding("p", "toggle_pause", "Pause/resume", id="job_screen.pause", tooltip="Pause or resume this job"),
        Binding("r", "retry", "Retry run", id="job_screen.retry", tooltip="Retry the run under the cursor"),
        Binding("R", "retry_dead", "Retry all dead", id="job_screen.retry_dead",
                tooltip="Retry every dead run of this job"),
    ]

    def __init__(self, job_name: str, interval: float = 2.0) -> None:
        super().__init__(interval)
        self.job_name = job_name

    def compose(self) -> ComposeResult:
        yield Static(self.job_name, id="job-title", classes="screen-title")
        with Horizontal(id="job-top"):
            yield Static("", id="job-policy")
            yield Static("", id="job-fires")
        with Vertical(id="job-chart"):
            yield Static("", id="job-chart-title", classes="dialog-section")
            yield Sparkline([], id="job-durations")
            yield Static("", id="job-days")
        yield Static("Recent runs (enter opens one)", classes="dialog-section")
        yield LiveTable(QUEUE_COLUMNS, id="job-runs")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#job-runs", LiveTable).focus()

    def fetch(self) -> JobPage:
        return self.app.operations.job_page(self.job_name)

    def show(self, page: JobPage) -> None:
        zone = self.app.zone
        job = page.job
        self.query_one("#job-title", Static).update(Text.assemble(
            fmt.job(job.name, job.job_type), " · ", ("paused", "bold yellow") if job.paused else ("active", "green"),
            " · last ", fmt.status(job.last_status)))
        self.query_one("#job-policy", Static).update(field_table(page.policy))
        fires = Table(box=None, show_header=True, pad_edge=False)
        fires.add_column("next fire times (clinic time)", style="bold")
        for at in page.next_fires:
            fires.add_row(fmt.local_datetime(at, zone))
        if job.paused:
            fires.add_row(Text("paused: ticks are recorded as skipped", style="yellow"))
        self.query_one("#job-fires", Static).update(fires)
        medians = [d.median_s or 0.0 for d in page.days]
        top = max(medians) if any(medians) else None
        self.query_one("#job-chart-title", Static).update(
            "Last 7 days: median seconds per day" + (f" (highest {top:.2f} s)" if top else " (no attempts)"))
        self.query_one("#job-durations", Sparkline).data = medians
        self.query_one("#job-days", Static).update(day_labels(page.days))
        self.query_one("#job-runs", LiveTable).sync(run_rows(page.runs, self.app.operations.clock.now(), zone))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer only what the role may do; R only when the job has dead runs."""
        needs = {"trigger": "job.trigger", "toggle_pause": "job.pause", "retry": "run.retry",
                 "retry_dead": "run.retry"}.get(action)
        if needs and not self.app.may(needs):
            return False
        if action == "retry_dead":
            return bool(self.data is not None and self.data.dead_run_ids)
        return True

    def action_trigger(self) -> None:
        """Queue a run of this job now."""
        self.app.trigger_job(self.job_name, after=self.refetch)

    def action_toggle_pause(self) -> None:
        """Pause this job, or resume it."""
        self.app.toggle_job(self.job_name, after=self.refetch)

    def action_retry(self) -> None:
        """Retry the run under the cursor."""
        key = self.query_one("#job-runs", LiveTable).selected_key
        if key is not None:
            self.app.retry_runs([int(key)], after=self.refetch)

    def action_retry_dead(self) -> None:
        """Retry every dead run of this job, after confirmation."""
        if self.data is not None and self.data.dead_run_ids:
            self.app.retry_runs(list(self.data.dead_run_ids), after=self.refetch,
                                what=f"every dead run of {self.job_name}")

    @on(DataTable.RowSelected, "#job-runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(int(event.row_key.value))


DAY_CELLS = 11
"""Cells per day under the chart (the Sparkline is 7 x DAY_CELLS wide, so each day's bar is over its label)."""


def day_labels(days) -> Text:
    """Two lines, DAY_CELLS per day: ``11-23`` then ``✓12 ✗1 ⏱0`` (succeeded, failed, timed out attempts)."""
    dates, counts = Text(), Text()
    for d in days:
        dates.append(f"{d.day[5:]:<{DAY_CELLS}}", style="dim")
        cell = Text(f"✓{d.succeeded}", style="green")
        if d.failed:
            cell.append(f" ✗{d.failed}", style="red")
        if d.timed_out:
            cell.append(f" ⏱{d.timed_out}", style="yellow")
        cell.truncate(DAY_CELLS - 1)
        cell.pad_right(DAY_CELLS - cell.cell_len)
        counts.append_text(cell)
    return Text("\n").join([dates, counts])
