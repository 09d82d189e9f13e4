"""The rows the console hands to its screens (dashboard and CLI): plain frozen dataclasses, no PHI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from medjobs_tui.engine.metrics import JobMetrics

__all__ = ["Actor", "RunRow", "JobRow", "JobMetrics", "EvidenceRow", "NotificationRow", "Snapshot", "ROLES"]

ROLES = ("admin", "operator", "reviewer", "auditor")


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a unique username and one role of ROLES."""

    username: str
    role: str


@dataclass(frozen=True)
class RunRow:
    """One run of a job, as the Queue tab shows it. Instants are aware UTC; duration in seconds."""

    id: int
    job_name: str
    job_type: str
    queue: str
    priority: str            # critical | high | normal | low
    status: str              # queued | running | succeeded | failed | timed_out | crashed | interrupted | dead | cancelled | skipped
    attempt: int
    max_attempts: int
    trigger: str             # schedule | manual | once | retry
    scheduled_at: datetime
    available_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    error: str | None        # masked: a generic text and a reference, never patient data


@dataclass(frozen=True)
class JobRow:
    """One configured job, as the Jobs tab shows it."""

    name: str
    job_type: str
    priority: str
    queue: str
    schedule: str            # e.g. "cron */15 * * * *" or "every 3600 s"
    next_run_at: datetime | None   # None while paused
    paused: bool
    last_status: str | None
    last_finished_at: datetime | None


@dataclass(frozen=True)
class EvidenceRow:
    """One evidence record: the run it documents, where it is (relative to the evidence root), and whether its hash matches."""

    run_id: int
    job_name: str
    job_type: str
    status: str
    finished_at: datetime | None
    path: str
    sha256: str
    valid: bool


@dataclass(frozen=True)
class NotificationRow:
    """One outbox entry. ``patient`` is the pseudonym (P-00012), never a name."""

    id: int
    created_at: datetime
    kind: str
    audience: str
    patient: str | None
    due_at: datetime | None
    message: str
    status: str


@dataclass(frozen=True)
class Snapshot:
    """Everything the dashboard shows, fetched in one go by a background worker."""

    now: datetime
    runs: list[RunRow] = field(default_factory=list)
    jobs: list[JobRow] = field(default_factory=list)
    metrics: list[JobMetrics] = field(default_factory=list)
    evidence: list[EvidenceRow] = field(default_factory=list)
    notifications: list[NotificationRow] = field(default_factory=list)
