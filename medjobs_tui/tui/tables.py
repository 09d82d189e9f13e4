"""What each tab's table shows: its columns, and the rows it builds from a console Snapshot.

A row is ``(key, cells)``; the key is stable across refreshes (run id, job name, ...) so the table
can be updated by row key instead of being cleared and refilled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, tzinfo
from typing import Callable, Sequence

from rich.console import RenderableType
from rich.text import Text

from medjobs_tui.console import RunRow, Snapshot
from medjobs_tui.tui import formatting as fmt

Row = tuple[str, Sequence[RenderableType]]


@dataclass(frozen=True)
class Column:
    """One column of a table: key, heading, and its width in cells.

    ``width`` is a floor: the table widens a column to its widest cell on each refresh. A ``fill``
    column (at most one, the last: the long free text) takes the width the others leave, never less
    than ``width``, and its text ends in "…" when cut. ``help`` explains the heading on the help screen.
    ``wide_only`` columns are left out of a table narrower than WIDE_TABLE cells (an 80-column terminal
    keeps the key columns instead).
    """

    key: str
    label: str
    width: int = 0
    fill: bool = False
    help: str = ""
    wide_only: bool = False


WIDE_TABLE = 100
"""Tables at least this many cells wide show their ``wide_only`` columns too."""


@dataclass(frozen=True)
class TabSpec:
    """One tab of the dashboard: pane id, title, columns, row builder, and the hint shown while it is empty."""

    id: str
    title: str
    columns: tuple[Column, ...]
    build: Callable[[Snapshot, tzinfo], list[Row]]
    empty: str = ""
    key: str = ""
    """The key that shows the tab; empty: its number among the numbered tabs (1, 2, ...)."""


def queue_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """The Queue's rows (see ``run_rows``)."""
    return run_rows(snap.runs, snap.now, zone)


def run_rows(runs: Sequence[RunRow], now: datetime, zone: tzinfo) -> list[Row]:
    """Runs, newest first, skipped ticks and cancelled runs dimmed; a running run's progress (bar, share,
    time left at ``now``) where its duration will be; the masked error (never patient data) last."""
    rows = []
    for r in runs:
        progress = r.progress
        cells = (_run_cells(r, zone) if progress is None      # the same run, the same cells object: see LiveTable.sync
                 else _build_run_cells(r, zone, fmt.progress(*progress, r.eta_s(now))))
        rows.append((str(r.id), cells))
    return rows


@lru_cache(maxsize=4096)
def _run_cells(run: RunRow, zone: tzinfo) -> tuple[RenderableType, ...]:
    """The cells of a run without progress to show, built once per state of the run (RunRow is frozen): a
    refresh that finds a run unchanged hands the table the very cells it showed, which it skips unread.
    Callers must not change the Text objects returned (LiveTable copies what it keeps)."""
    return _build_run_cells(run, zone, fmt.duration(run.duration_s))


def _build_run_cells(r: RunRow, zone: tzinfo, took: RenderableType) -> tuple[RenderableType, ...]:
    cells = (fmt.number(r.id), r.job_name, fmt.status(r.status), f"{r.attempt}/{r.max_attempts}",
             took, fmt.local_time(r.scheduled_at, zone), r.priority, r.trigger, fmt.long_text(r.error))
    return tuple(fmt.dim_if(c, r.status) if i != 2 else c for i, c in enumerate(cells))


def job_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Configured jobs, highest priority first; the most looked-at columns first (they stay on an 80-column screen)."""
    return [(j.name, (
        fmt.job(j.name, j.job_type), fmt.yes_no(j.paused), fmt.status(j.last_status),
        fmt.local_time(j.next_run_at, zone), j.priority, j.schedule, j.queue,
    )) for j in snap.jobs]


def metric_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Per-job metrics."""
    return [(m.job_name, (
        m.job_name, fmt.number(m.runs), fmt.seconds(m.last_duration_s), fmt.seconds(m.p50_duration_s),
        fmt.seconds(m.p95_duration_s), fmt.percent(m.success_rate), fmt.percent(m.error_rate),
        fmt.number(m.retry_count), fmt.number(m.timeout_count), fmt.validation(m.validation_status),
    )) for m in snap.metrics]


def evidence_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Evidence records, newest run first."""
    return [(str(e.run_id), (
        fmt.number(e.run_id), e.job_name, fmt.status(e.status), fmt.local_time(e.finished_at, zone),
        fmt.check_mark(e.valid), fmt.long_text(e.path),
    )) for e in snap.evidence]


LEVEL_STYLES = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red", "INFO": "", "DEBUG": "dim"}


def log_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """The runner's log lines, newest first: clinic-local time, level (coloured), source module, message."""
    return [(line.key, (
        line.at.astimezone(zone).strftime("%H:%M:%S"), Text(line.level, style=LEVEL_STYLES.get(line.level, "")),
        _log_source(line), fmt.long_text(line.message),
    )) for line in snap.log]


def _log_source(line) -> str:
    """The module that logged, after the process id when another runner's (``pid 4242 engine.runner``)."""
    module = line.logger.removeprefix("medjobs_tui.")
    return f"pid {line.source.rsplit(':', 1)[-1]} {module}" if line.source else module


def notification_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Outbox entries, newest first; patients by pseudonym only. The message comes last: it is the long one,
    without its leading "P-00047: " when the patient column already says it (enter shows it whole)."""
    return [(str(n.id), (
        fmt.local_time(n.created_at, zone), n.kind, n.audience, n.patient or fmt.MISSING, fmt.status(n.status),
        fmt.long_text(fmt.without_patient_prefix(n.message, n.patient)),
    )) for n in snap.notifications]


def dose_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Today's dose instants (clinic-local day), oldest first: local time (the patient's zone), UTC, patient
    pseudonym, order, dose of the step in force, status, medication. None (a role that may not see doses) or
    no doses: no rows."""
    return [(f"{d.order}@{d.at.isoformat()}", (
        d.local.strftime("%H:%M %Z"), d.at.strftime("%H:%MZ"), d.patient, fmt.number(d.order), d.dose_text,
        fmt.status(d.status), fmt.long_text(d.medication),
    )) for d in (snap.doses or [])]


TABS: tuple[TabSpec, ...] = (
    TabSpec("queue", "Queue", (
        Column("run", "run", 4), Column("job", "job", 12), Column("status", "status", 9),
        Column("attempt", "attempt", help="the attempt the run is on, of the most its retry policy allows (a waiting "
                                           "run: the attempt it will start next)"),
        Column("duration", "duration", 8), Column("scheduled", "scheduled", 11, wide_only=True),
        Column("priority", "priority", wide_only=True), Column("trigger", "trigger", 8, wide_only=True),
        Column("error", "error", 12, fill=True),
    ), queue_rows, empty="No runs yet — press 2 for the Jobs tab, pick a job, then t to trigger it."),
    TabSpec("jobs", "Jobs", (
        Column("job", "job", 12), Column("paused", "paused"), Column("last", "last status", 11),
        Column("next", "next run", 11), Column("priority", "priority"), Column("schedule", "schedule", 12),
        Column("queue", "queue", 8),
    ), job_rows),
    TabSpec("metrics", "Metrics", (
        Column("job", "job", 12),
        Column("runs", "runs", help="finished runs (succeeded or dead)"),
        Column("last", "last s", 6, help="seconds the latest attempt took"),
        Column("p50", "median s", help="half of the attempts took less than this many seconds (p50)"),
        Column("p95", "95% s", 6, help="95 in 100 attempts took less than this many seconds (p95)"),
        Column("success", "success", 7, help="share of finished attempts that succeeded"),
        Column("error", "errors", 7, help="share of finished attempts that failed or timed out"),
        Column("retries", "retries", help="attempts after the first one of their run"),
        Column("timeouts", "timeouts", help="attempts stopped because they ran past the job's time limit"),
        Column("validation", "evidence", 9, help="valid: every finished run has its evidence record and its "
                                                 "SHA-256 matches; INVALID n: n records missing or changed"),
    ), metric_rows),
    TabSpec("evidence", "Evidence", (
        Column("run", "run", 4), Column("job", "job", 12), Column("status", "status", 9),
        Column("finished", "finished", 11), Column("valid", "valid"), Column("path", "path", 20, fill=True),
    ), evidence_rows,
        empty="No evidence records yet — each finished run writes one (press 2, then t to trigger a job)."),
    TabSpec("notifications", "Notifications", (
        Column("time", "time", 11), Column("kind", "kind", 10), Column("audience", "audience"),
        Column("patient", "patient", 7), Column("status", "status", 7),
        Column("message", "message", 12, fill=True),
    ), notification_rows,
        empty="No notifications yet — reminders and alerts appear here when the clinical jobs run."),
    TabSpec("doses", "Doses", (
        Column("local", "local", 9), Column("utc", "UTC", 6), Column("patient", "patient", 7),
        Column("order", "order", 5), Column("dose", "dose", 6), Column("status", "status", 8),
        Column("medication", "medication", 12, fill=True),
    ), dose_rows,
        empty="No scheduled doses today. `medjobs doses` lists other days."),
)
"""The dashboard's table tabs, in order after the Overview (key 0): numbered 1, 2, ... unless given a key."""

ROLE_EMPTY = {
    "doses": ("dose.read", "Your role ({role}) may not see patients' doses: this tab stays empty for you. Operators, "
                           "admins and reviewers see today's dose instants here."),
    "backups": ("backup.list", "Your role ({role}) may not list backups: this tab stays empty for you. Operators, "
                               "admins and auditors see the backups kept here."),
}
"""Tabs a role may not fill, with the permission they need and what the tab says instead of its empty hint."""

from medjobs_tui.tui import validation_tab  # noqa: E402 - the Validation tab lives in its own module

TABS = TABS + (TabSpec("validation", "Validation", tuple(Column(*c) for c in validation_tab.COLUMNS),
                       validation_tab.rows, empty=validation_tab.EMPTY),)

from medjobs_tui.tui import alerts_tab  # noqa: E402 - the Alerts tab lives in its own module

TABS = TABS + (TabSpec(alerts_tab.TAB, "Alerts", tuple(Column(*c) for c in alerts_tab.COLUMNS), alerts_tab.rows,
                       empty=alerts_tab.EMPTY),)
TABS = TABS + (TabSpec("log", "Log", (
    Column("time", "time", 8), Column("level", "level", 7), Column("source", "source", 10, wide_only=True),
    Column("message", "message", 20, fill=True),
), log_rows, key="l", empty="No log lines yet — this console's runner and every other runner of the clinic "
                            "(medjobs run, another console) write here."),)


from medjobs_tui.tui import backups_tab  # noqa: E402 - the Backups tab lives in its own module
TABS = TABS + (TabSpec(backups_tab.BACKUPS_TAB, "Backups", tuple(Column(*c) for c in backups_tab.COLUMNS),
                       backups_tab.rows, key=backups_tab.KEY, empty=backups_tab.EMPTY),)


def tab_keys() -> list[tuple[str, TabSpec]]:
    """``(key, tab)`` for every table tab: its own key, else its number among the numbered tabs."""
    out, n = [], 0
    for spec in TABS:
        if not spec.key:
            n += 1
        out.append((spec.key or str(n), spec))
    return out
