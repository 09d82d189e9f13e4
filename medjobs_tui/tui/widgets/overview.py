"""The Overview tab, the landing page (as Sidekiq's and Oban Web's): runs per minute over the last hour,
queue depth and busy slots, each job's next fire time, open alerts (the Alerts tab) and dead runs as counts
that lead to their lists, and the runners alive. Painted in place (``update``, ``Sparkline.data``): no flicker."""

from __future__ import annotations

from datetime import tzinfo
from typing import Callable

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Sparkline, Static

from medjobs_tui.console import Overview, RunnerInfo
from medjobs_tui.tui import formatting as fmt

_NOTHING = object()

SERIES = (("succeeded", "green"), ("failed", "red"), ("timed_out", "yellow"))


def runners_text(runners: list[RunnerInfo], embedded: bool) -> Text:
    """Which runners are alive, in words: this console's, headless or other windows' ones, or none."""
    own = [r for r in runners if r.this_console]
    others = [r for r in runners if not r.this_console]
    if not runners:
        return Text("no runner: queued runs wait until an operator's console or `medjobs run` starts",
                    style="bold red")
    parts = []
    if own:
        parts.append("this console's runner")
    elif embedded:
        parts.append("this console's runner is starting")
    if others:
        parts.append(f"{len(others)} other runner{'s' if len(others) > 1 else ''} "
                     f"({', '.join(r.id.split(':')[0] + ':' + r.id.split(':')[1] for r in others)})")
    return Text(" and ".join(parts) + " alive", style="green")


def runners_short(runners: list[RunnerInfo], embedded: bool) -> str:
    """The header's few words on runners: ``runner: this console``, ``runner: 1 headless``, ``NO RUNNER``."""
    own = any(r.this_console for r in runners)
    others = sum(not r.this_console for r in runners)
    if not runners:
        return "runner starting" if embedded else "NO RUNNER (runs wait)"
    words = ["runner: this console"] if own else ["runner: elsewhere"] if not embedded else ["runner starting"]
    if others and own:
        words.append(f"+{others} other")
    elif others and not own:
        words = [f"runner: {others} elsewhere"]
    return " ".join(words)


class OverviewPane(Vertical, can_focus=True):
    """The Overview's widgets; ``paint(overview, zone)`` updates them."""

    class Go(Message):
        """The user asked for a list behind a count: ``tab`` with ``filter_text``."""

        def __init__(self, tab: str, filter_text: str) -> None:
            super().__init__()
            self.tab = tab
            self.filter_text = filter_text

    DEFAULT_CSS = """
    OverviewPane { padding: 0 1; height: 1fr; }
    OverviewPane .overview-heading { text-style: bold; color: $accent; margin-top: 1; }
    OverviewPane .chart-row { height: 1; }
    OverviewPane .chart-label { width: 22; }
    OverviewPane Sparkline { width: 1fr; height: 1; }
    OverviewPane #overview-columns { height: auto; }
    OverviewPane #overview-queues { width: auto; height: auto; margin-right: 4; }
    OverviewPane #overview-fires { width: 1fr; height: auto; }
    OverviewPane #overview-counts { height: auto; margin-top: 1; }
    OverviewPane #overview-counts Button { margin-right: 2; min-width: 16; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: dict[str, object] = {}
        """The figures each Static part shows now, by selector (see ``_show``)."""

    def compose(self) -> ComposeResult:
        yield Static("Runs per minute, last hour", classes="overview-heading")
        for key, _ in SERIES:
            with Horizontal(classes="chart-row"):
                yield Static("", id=f"label-{key}", classes="chart-label")
                yield Sparkline([0] * 60, id=f"chart-{key}")
        with Horizontal(id="overview-columns"):
            yield Static("", id="overview-queues")
            yield Static("", id="overview-fires")
        with Horizontal(id="overview-counts"):
            yield Button("dead runs", id="goto-dead", variant="error")
            yield Button("open alerts", id="goto-alerts", variant="warning")
        yield Static("", id="overview-runners")

    def paint(self, overview: Overview, zone: tzinfo, embedded: bool) -> None:
        """Show ``overview`` (times in ``zone``); ``embedded``: this console has its own runner. A part whose
        figures are the same as last painted is left as it is (no new renderable, no layout pass)."""
        for key, style in SERIES:
            data = getattr(overview, key)
            self.query_one(f"#chart-{key}", Sparkline).data = data
            self.query_one(f"#chart-{key}", Sparkline).styles.color = style
            self._show(f"#label-{key}", sum(data), lambda: Text.assemble(
                (f"{key.replace('_', ' '):<10}", style), f" {sum(data):>4} in 1 h"))
        self._show("#overview-queues", tuple(overview.queues), lambda: self._queues_table(overview))
        self._show("#overview-fires", (tuple(overview.next_fires), zone), lambda: self._fires_table(overview, zone))
        dead = overview.dead_runs
        self._label("#goto-dead", f"{dead} dead run{'' if dead == 1 else 's'} (d)")
        alerts = overview.open_alerts
        self._label("#goto-alerts", f"{alerts} open alert{'' if alerts == 1 else 's'} (a)")
        self._show("#overview-runners", (tuple((r.id, r.this_console) for r in overview.runners), embedded,
                                         overview.runner_problem),
                   lambda: self._runners_line(overview, embedded))

    def _show(self, selector: str, figures: object, make: Callable[[], RenderableType]) -> None:
        """Update Static ``selector`` with ``make()`` unless it shows the same ``figures`` already."""
        if self._shown.get(selector, _NOTHING) == figures:
            return
        self.query_one(selector, Static).update(make())
        self._shown[selector] = figures

    @staticmethod
    def _queues_table(overview: Overview) -> Table:
        queues = Table(box=None, pad_edge=False, expand=False, title="Queues", title_justify="left",
                       title_style="bold")
        for name, justify in (("queue", "left"), ("waiting", "right"), ("running", "right"), ("busy", "right")):
            queues.add_column(name, justify=justify)
        for q in overview.queues:
            busy = Text(f"{q.busy}/{q.slots}", style="yellow" if q.busy >= q.slots else "")
            queues.add_row(q.queue, str(q.queued), str(q.running), busy)
        return queues

    @staticmethod
    def _fires_table(overview: Overview, zone: tzinfo) -> Table:
        fires = Table(box=None, pad_edge=False, expand=False, title="Next fire times", title_justify="left",
                      title_style="bold")
        fires.add_column("job")
        fires.add_column("next (clinic time)")
        for name, at in overview.next_fires:
            fires.add_row(name, fmt.local_time(at, zone) if at else Text("paused", style="yellow"))
        return fires

    @staticmethod
    def _runners_line(overview: Overview, embedded: bool) -> Text:
        line = Text.assemble(("Runners: ", "bold"), runners_text(overview.runners, embedded))
        if overview.runner_problem:
            line.append(f"\n{overview.runner_problem}", style="bold red")
        return line

    def _label(self, selector: str, text: str) -> None:
        """Set a count button's label and give it the width of its new text (Textual's ``Button.label`` only
        repaints: a longer label would be cut, "0 staff" for "0 staff alerts, 24 h (a)")."""
        button = self.query_one(selector, Button)
        if button.label.plain != text:
            button.label = text
            button.refresh(layout=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "goto-dead":
            self.post_message(self.Go("queue", "status:dead"))
        elif event.button.id == "goto-alerts":
            self.post_message(self.Go("alerts", ""))
