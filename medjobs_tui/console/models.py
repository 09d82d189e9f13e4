"""The rows the console hands to its screens (dashboard and CLI): plain frozen dataclasses, no PHI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from medjobs_tui import config
from medjobs_tui.clinical.dosing import DOSE_STATUSES
from medjobs_tui.engine.metrics import JobMetrics
from medjobs_tui.engine.validation import JobValidation

__all__ = ["Actor", "DoseConfirmation", "RunRow", "JobRow", "JobMetrics", "EvidenceRow", "DeliveryRow", "DoseRow",
           "NotificationRow", "ChannelStatus", "Snapshot", "ROLES", "SERVICE_ROLES", "REVIEW_ROLES", "UserRow", "AuditRow",
           "RunnerInfo", "RunFilter", "HistoryEntry", "AttemptRow", "RunStory", "DayStats", "JobPage", "QueueLoad",
           "Overview", "LogLine", "BulkResult", "RUN_STATES", "NOTIFICATION_STATES", "DOSE_STATES"]

RUN_STATES = ("queued", "running", "succeeded", "failed", "timed_out", "interrupted", "dead", "cancelled",
              "skipped", "coalesced")
"""Every state a run row can be in (coalesced: a missed tick folded into the next one)."""

DOSE_STATES = DOSE_STATUSES
"""Every status a scheduled dose can show (``clinical.dosing.dose_status``: due, overdue, reminded, taken, missed,
skipped, refused, before import)."""

NOTIFICATION_STATES = ("pending", "sent", "inbox_only", "failed", "unconfirmed", "expired")
"""Every status a notification can have (``store.outbox``: inbox_only, a patient's or prescriber's that reached
only the in-app inbox)."""

ROLES = ("admin", "operator", "reviewer", "auditor")
"""The roles of people (users table)."""

SERVICE_ROLES = ("runner",)
"""Roles of service identities, which no person signs in as: the headless runner (``medjobs run``)."""

REVIEW_ROLES = config.REVIEW_ROLES
"""Review roles a reviewer may carry (which checklist items they sign: config.yaml ``signoff``)."""


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
    progress_done: int | None = None     # items the handler reported done in this attempt (patients, pages)
    progress_total: int | None = None    # items in all, when the handler knows
    progress_at: datetime | None = None  # when it last reported

    @property
    def progress(self) -> tuple[int, int | None] | None:
        """``(done, total)`` reported by the running attempt, or None (not running, or nothing reported yet)."""
        if self.status != "running" or self.progress_done is None or self.progress_at is None:
            return None
        if self.started_at is not None and self.progress_at < self.started_at:
            return None          # reported by an earlier attempt
        return self.progress_done, self.progress_total

    def eta_s(self, now: datetime) -> float | None:
        """Seconds left at the pace so far (elapsed / done x items left), or None when it cannot be told."""
        progress = self.progress
        if progress is None or self.started_at is None:
            return None
        done, total = progress
        if not total or done <= 0:
            return None
        elapsed = (now - self.started_at).total_seconds()
        return max(0.0, elapsed / done * (total - done))


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
    stated) and ``dose_text`` as written for people; ``status`` due | overdue | reminded | taken | missed |
    skipped | refused | before import (``clinical.dosing.dose_status``).
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
    backups: list[BackupRow] | None = None
    """The backups kept, each re-checked against its SHA-256; None when the actor's role may not list them."""
    validation: list[JobValidation] = field(default_factory=list)
    """Each job's validation status (``engine.validation.JobValidation``)."""
    runners: list["RunnerInfo"] = field(default_factory=list)
    status_counts: dict[str, int] = field(default_factory=dict)
    overview: "Overview | None" = None
    log: list["LogLine"] = field(default_factory=list)
    alerts: list["AlertRow"] = field(default_factory=list)
    """MedJobs' own alerts, open first (``Console.alerts``): the Alerts tab."""
    views: frozenset[str] = frozenset()
    """Which views this snapshot holds (the visible tab's, plus the header's runners and counts)."""
    selftest: "SelfTestResult | None" = None
    """The newest self-test (``console.selftest.SelfTestResult``), with the Validation view; None otherwise."""


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
    SHA-256 still matches the one recorded (False: changed or missing since; a flipped byte shows here);
    ``state`` says which: ``intact``, ``changed`` or ``missing``."""

    id: int
    file: str
    created_at: datetime
    size_bytes: int
    verified: bool
    integrity: str
    intact: bool
    state: str = "intact"


@dataclass(frozen=True)
class RestoreOutcome:
    """What ``Console.restore`` did: ``kept_as`` (path of the store kept aside); ``audit_carried`` audit
    entries written after the backup carried over from it into the restored chain, of ``audit_after_backup``
    found there; ``audit_problem`` (one line) when some of them did not chain under the audit key and were
    left out (they stay in the store kept aside), else None."""

    kept_as: Path
    audit_carried: int
    audit_after_backup: int
    audit_problem: str | None = None


@dataclass(frozen=True)
class RunnerInfo:
    """A runner alive on the store (its heartbeat within the lease): ``this_console`` when it is the one
    embedded in the console asking."""

    id: str
    started_at: datetime
    heartbeat_at: datetime
    this_console: bool


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list: a job name, any of some states, scheduled since an instant (UTC), a text to find."""

    job: str | None = None
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    text: str | None = None

    def __bool__(self) -> bool:
        return bool(self.job or self.statuses or self.since or self.text)


@dataclass(frozen=True)
class HistoryEntry:
    """One state change of a run: when, from, to, who or what made it (a user, ``runner``, a runner id), why."""

    at: datetime
    from_status: str | None
    to_status: str
    actor: str
    note: str | None


@dataclass(frozen=True)
class AttemptRow:
    """One attempt of a run: start, end, outcome, masked error (with its reference), seconds."""

    attempt: int
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    outcome: str | None
    error: str | None


@dataclass(frozen=True)
class RunStory:
    """A run's whole story: the run, who created it, every state change, every attempt, its evidence."""

    run: RunRow
    created_by: str
    history: list[HistoryEntry]
    attempts: list[AttemptRow]
    evidence_path: str | None
    evidence_valid: bool | None    # None: no record
    summary: dict | None


@dataclass(frozen=True)
class DayStats:
    """One clinic-local day of a job's finished attempts: counts per outcome and the median seconds."""

    day: str                 # YYYY-MM-DD, clinic-local
    succeeded: int
    failed: int
    timed_out: int
    median_s: float | None


@dataclass(frozen=True)
class JobPage:
    """Everything a job's page shows: the job, its next fire times, its policy, recent runs, 7 days of outcomes."""

    job: JobRow
    next_fires: list[datetime]
    policy: list[tuple[str, str]]
    runs: list[RunRow]
    days: list[DayStats]
    dead_run_ids: list[int]


@dataclass(frozen=True)
class QueueLoad:
    """One queue: runs waiting (queued and due or backing off), runs running, its concurrency (slots) and how
    many slots the running runs hold (``busy``: the runs of a claim batch hold one, one after another)."""

    queue: str
    queued: int
    running: int
    slots: int
    busy: int = 0


@dataclass(frozen=True)
class Overview:
    """The landing page: attempts per minute over the last hour (oldest first, 60 buckets per outcome),
    queue load, each job's next fire time, staff alerts of the last 24 h, dead runs, runners alive."""

    minutes: list[datetime]
    succeeded: list[int]
    failed: list[int]
    timed_out: list[int]
    queues: list[QueueLoad]
    next_fires: list[tuple[str, datetime | None]]
    staff_alerts_24h: int
    dead_runs: int
    runners: list[RunnerInfo]
    runner_problem: str | None = None
    """This console's runner in words when it cannot do its work (e.g. cannot record outcomes), else None."""
    open_alerts: int = 0
    """MedJobs' alerts still open (not yet acknowledged nor resolved): the Alerts tab."""


@dataclass(frozen=True)
class LogLine:
    """One line of the runner's log (already masked: exception classes and ids, never stored data)."""

    seq: int
    at: datetime
    level: str
    logger: str
    message: str
    source: str = ""
    """The process that wrote it (``host:pid``) when another runner's (read from the clinic's log file);
    empty for this process's own lines."""

    @property
    def key(self) -> str:
        """A key for the line, unique among the lines shown (own lines by number, others' by their text)."""
        return f"f{self.seq}" if self.source else f"s{self.seq}"


@dataclass(frozen=True)
class BulkResult:
    """What a bulk retry or cancel did: the runs it changed, and those it left with the reason."""

    done: list[int]
    refused: list[tuple[int, str]]


@dataclass(frozen=True)
class AlertRow:
    """One of MedJobs' own alerts (``notify.alerts``) as the Alerts view and ``medjobs alerts`` show it.

    ``kind`` (``run_dead``, ``schedule_missed``...) and ``kind_words`` (``dead run``, ``schedule missed``...);
    ``scope`` what it is about (``job backup``, ``run 12``, ``order 45 (P-00012)``: ids and pseudonyms only);
    ``severity`` critical | high | warning; ``state`` open | acknowledged | resolved; ``count`` occurrences
    while active; instants aware UTC; ``resolved_reason`` says what cleared its cause.
    """

    id: int
    kind: str
    kind_words: str
    scope: str
    job_name: str | None
    severity: str
    state: str
    summary: str
    count: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_reason: str | None = None

    @property
    def state_words(self) -> str:
        """The state in words: ``open``, ``acknowledged by ann.op``, ``resolved: run 12 succeeded on retry``."""
        if self.state == "acknowledged":
            return f"acknowledged by {self.acknowledged_by}"
        if self.state == "resolved":
            return f"resolved: {self.resolved_reason}" if self.resolved_reason else "resolved"
        return self.state
