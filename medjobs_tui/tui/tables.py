"""What each tab's table shows: its columns, and the rows it builds from a console Snapshot.

A row is ``(key, cells)``; the key is stable across refreshes (run id, job name, ...) so the table
can be updated by row key instead of being cleared and refilled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Callable, Sequence

from rich.console import RenderableType

from medjobs_tui.console import Snapshot
from medjobs_tui.tui import formatting as fmt

Row = tuple[str, Sequence[RenderableType]]


@dataclass(frozen=True)
class TabSpec:
    """One tab of the dashboard: pane id, title, columns ``(key, label)`` and its row builder."""

    id: str
    title: str
    columns: tuple[tuple[str, str], ...]
    build: Callable[[Snapshot, tzinfo], list[Row]]


def queue_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Runs, newest first."""
    return [(str(r.id), (
        fmt.number(r.id), r.job_name, r.priority, fmt.status(r.status), f"{r.attempt}/{r.max_attempts}",
        r.trigger, fmt.local_time(r.scheduled_at, zone), fmt.duration(r.duration_s),
    )) for r in snap.runs]


def job_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Configured jobs, highest priority first."""
    return [(j.name, (
        j.name, j.job_type, j.priority, j.queue, j.schedule, fmt.local_time(j.next_run_at, zone),
        fmt.yes_no(j.paused), fmt.status(j.last_status),
    )) for j in snap.jobs]


def metric_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Per-job metrics."""
    return [(m.job_name, (
        m.job_name, fmt.number(m.runs), fmt.seconds(m.last_duration_s), fmt.seconds(m.p50_duration_s),
        fmt.seconds(m.p95_duration_s), fmt.percent(m.success_rate), fmt.percent(m.error_rate),
        fmt.number(m.retry_count), fmt.number(m.timeout_count), fmt.status(m.validation_status),
    )) for m in snap.metrics]


def evidence_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Evidence records, newest run first."""
    return [(str(e.run_id), (
        fmt.number(e.run_id), e.job_name, fmt.status(e.status), fmt.local_time(e.finished_at, zone),
        fmt.check_mark(e.valid), e.path,
    )) for e in snap.evidence]


def notification_rows(snap: Snapshot, zone: tzinfo) -> list[Row]:
    """Outbox entries, newest first; patients by pseudonym only. The message comes last: it is the long one."""
    return [(str(n.id), (
        fmt.number(n.id), fmt.local_time(n.created_at, zone), n.kind, n.audience, n.patient or fmt.MISSING,
        fmt.local_time(n.due_at, zone), fmt.status(n.status), n.message,
    )) for n in snap.notifications]


TABS: tuple[TabSpec, ...] = (
    TabSpec("queue", "Queue", (
        ("run", "run"), ("job", "job"), ("priority", "priority"), ("status", "status"), ("attempt", "attempt"),
        ("trigger", "trigger"), ("scheduled", "scheduled"), ("duration", "duration"),
    ), queue_rows),
    TabSpec("jobs", "Jobs", (
        ("job", "job"), ("type", "type"), ("priority", "priority"), ("queue", "queue"), ("schedule", "schedule"),
        ("next", "next run"), ("paused", "paused"), ("last", "last status"),
    ), job_rows),
    TabSpec("metrics", "Metrics", (
        ("job", "job"), ("runs", "runs"), ("last", "last (s)"), ("p50", "p50 (s)"), ("p95", "p95 (s)"),
        ("success", "success %"), ("error", "error %"), ("retries", "retries"), ("timeouts", "timeouts"),
        ("validation", "validation"),
    ), metric_rows),
    TabSpec("evidence", "Evidence", (
        ("run", "run"), ("job", "job"), ("status", "status"), ("finished", "finished"), ("valid", "valid"),
        ("path", "path"),
    ), evidence_rows),
    TabSpec("notifications", "Notifications", (
        ("id", "#"), ("time", "time"), ("kind", "kind"), ("audience", "audience"), ("patient", "patient"),
        ("due", "due"), ("status", "status"), ("message", "message"),
    ), notification_rows),
)
"""The dashboard's tabs, in order (keys 1-5 switch to them)."""
