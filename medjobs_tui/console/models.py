"""The rows the console hands to its screens (dashboard and CLI): plain frozen dataclasses, no PHI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from medjobs_tui.engine.metrics import JobMetrics
from medjobs_tui.engine.validation import JobValidation

__all__ = ["Actor", "DoseConfirmation", "RunRow", "JobRow", "JobMetrics", "EvidenceRow", "DeliveryRow", "DoseRow",
           "NotificationRow", "ChannelStatus", "Snapshot", "ROLES", "SERVICE_ROLES", "REVIEW_ROLES", "UserRow", "AuditRow"]

ROLES = ("admin", "operator", "reviewer", "auditor")
"""The roles of people (users table)."""

SERVICE_ROLES = ("runner",)
"""Roles of service identities, which no person signs in as: the headless runner (``medjobs run``)."""

REVIEW_ROLES = ("technical lead", "security officer", "compliance officer", "project manager")
"""Review roles a reviewer may carry (which checklist items they sign)."""


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a unique username, one role of ROLES (or SERVICE_ROLES), and for a
    reviewer the review role of REVIEW_ROLES they carry (else None)."""

    username: str
    role: str
    review_role: str | None = None


@dataclass(frozen=True)
class UserRow:
    """One user as ``medjobs user list`` shows it (never the password hash). Instants are aware UTC."""

    username: str
    role: str
    review_role: str | None
    enabled: bool
    has_password: bool
    failed_signins: int
    locked_until: datetime | None
    last_signin_at: datetime | None
    created_at: datetime | None


@dataclass(frozen=True)
class AuditRow:
    """One audit entry: UTC instant, actor and role, action, object, outcome (ok | denied | error), detail JSON."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str | None
    outcome: str
    detail: str | None


@dataclass(frozen=True)
class RunRow:
    """One run of a job, as the Queue tab shows it. Instants are aware UTC; duration in seconds."""

    id: int
    job_name: str
    job_type: str
    queue: str
    priority: str            # critical | high | normal | low
    status: str              # queued | running | succeeded | failed | timed_out | crashed | interrupted | dead | cancelled | skipped | coalesced
    attempt: int
    max_attempts: int
    trigger: str             # schedule | catch_up | manual | once | retry
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
class DeliveryRow:
    """One notification's delivery through one channel (``inbox`` is the in-app Notifications tab).

    ``status``: pending | sending | sent | failed | unconfirmed (cut short between send and record; never
    sent again) | expired (too late to send). ``attempts`` counts sends started; ``error`` is the masked
    reason (channel, URL scheme, category: never the URL or patient data). Instants aware UTC.
    """

    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    error: str | None

    @property
    def label(self) -> str:
        """``inbox sent``, ``staff_mail failed (5)``: the channel, its status and, past one, its attempts."""
        extra = f" ({self.attempts})" if self.attempts > 1 else ""
        return f"{self.channel} {self.status}{extra}"


@dataclass(frozen=True)
class ChannelStatus:
    """Delivery counts of one channel: ``counts`` maps each delivery status to how many rows have it."""

    channel: str
    scheme: str              # the URL's scheme (mailtos, json...), never the URL; "app" for the inbox
    audience: tuple[str, ...]
    configured: bool         # False for a channel that has rows but is no longer in config.yaml
    counts: dict[str, int]


@dataclass(frozen=True)
class NotificationRow:
    """One outbox entry. ``patient`` is the pseudonym (P-00012), never a name. ``status`` is the outcome over
    its ``deliveries``: pending while any is, else failed, unconfirmed or expired if any is, else sent."""

    id: int
    created_at: datetime
    kind: str
    audience: str
    patient: str | None
    due_at: datetime | None
    message: str
    status: str
    deliveries: tuple[DeliveryRow, ...] = ()

    @property
    def delivery_summary(self) -> str:
        """The deliveries in one line (``inbox sent, staff_mail pending``), or ``not planned yet``."""
        return ", ".join(d.label for d in self.deliveries) or "not planned yet"


@dataclass(frozen=True)
class DoseRow:
    """One scheduled dose instant, as ``medjobs doses`` and the Doses tab show it.

    ``at`` aware UTC; ``local`` the same instant in the patient's zone (else the clinic's); ``patient`` the
    pseudonym; ``order`` the medication request id; ``dose``/``unit`` of the step in force (None = not
    stated) and ``dose_text`` as written for people; ``status`` due | reminded | taken | missed | skipped |
    refused (``clinical.dosing.dose_status``).
    """

    at: datetime
    local: datetime
    patient: str
    order: int
    medication: str
    dose: float | None
    unit: str | None
    dose_text: str
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
    doses: list[DoseRow] | None = None
    """Today's doses (clinic-local day); None when the actor's role may not see them."""
    validation: list[JobValidation] = field(default_factory=list)
    """Each job's validation status (``engine.validation.JobValidation``)."""


@dataclass(frozen=True)
class DoseConfirmation:
    """What ``Console.record_dose`` recorded: the order, the patient's pseudonym, the dose's scheduled
    instant (aware UTC) and its local wall-clock text in the patient's zone, the status now and the one it
    replaced (None: first entry), when it happened (aware UTC) and the history row id."""

    order_id: int
    patient: str
    dose_instant: datetime
    local_time: str
    status: str
    previous: str | None
    occurred_at: datetime
    history_id: int


@dataclass(frozen=True)
class BackupRow:
    """One backup as the dashboard and ``medjobs backup list`` show it: file name, when (aware UTC), size,
    whether it was verified when made (and the integrity text), and ``intact``: the file is there and its
    SHA-256 still matches the one recorded (False: changed or missing since; a flipped byte shows here)."""

    id: int
    file: str
    created_at: datetime
    size_bytes: int
    verified: bool
    integrity: str
    intact: bool
