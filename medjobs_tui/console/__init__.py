"""The operations users perform, with role checks and audit; the only API of the dashboard and the CLI."""

from medjobs_tui.console.accounts import BAD_CREDENTIALS, CUSTODIAN, RUNNER, SignIn, SignInFailed
from medjobs_tui.console.errors import AccountRevoked, ConsoleError, PermissionDenied
from medjobs_tui.console.models import (
    DOSE_STATES, NOTIFICATION_STATES, REVIEW_ROLES, ROLES, RUN_STATES, SERVICE_ROLES, Actor, AlertRow, AttemptRow, AuditRow,
    BulkResult, ChannelStatus, DayStats, DeliveryRow, DoseRow, EvidenceRow, HistoryEntry, JobMetrics, JobPage, JobRow,
    LogLine, NotificationRow, Overview, QueueLoad, RunFilter, RunnerInfo, RunRow, RunStory, Snapshot, UserRow,
)
from medjobs_tui.console.operations import PERMISSIONS, Console
from medjobs_tui.console.views import EXPORT_FORMATS, render_table
from medjobs_tui.console.words import percent, priority_name

__all__ = [
    "AccountRevoked", "BAD_CREDENTIALS", "CUSTODIAN", "DOSE_STATES", "EXPORT_FORMATS", "NOTIFICATION_STATES", "PERMISSIONS", "REVIEW_ROLES", "ROLES", "RUNNER",
    "RUN_STATES", "SERVICE_ROLES",
    "Actor", "AlertRow", "AttemptRow", "AuditRow", "BulkResult", "ChannelStatus", "Console", "ConsoleError", "DayStats",
    "DeliveryRow", "DoseRow", "EvidenceRow", "HistoryEntry", "JobMetrics", "JobPage", "JobRow", "LogLine",
    "NotificationRow", "Overview", "PermissionDenied", "QueueLoad", "RunFilter", "RunRow", "RunStory", "RunnerInfo",
    "SignIn", "SignInFailed", "Snapshot", "UserRow", "percent", "priority_name", "render_table",
]
