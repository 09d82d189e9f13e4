"""The operations users perform, with role checks and audit; the only API of the dashboard and the CLI."""

from medjobs_tui.console.accounts import CUSTODIAN, RUNNER, SignIn, SignInFailed
from medjobs_tui.console.errors import ConsoleError, PermissionDenied
from medjobs_tui.console.models import (
    REVIEW_ROLES, ROLES, SERVICE_ROLES, Actor, AuditRow, ChannelStatus, DeliveryRow, DoseRow, EvidenceRow, JobMetrics,
    JobRow, NotificationRow, RunRow, Snapshot, UserRow,
)
from medjobs_tui.console.operations import Console

__all__ = [
    "CUSTODIAN", "REVIEW_ROLES", "ROLES", "RUNNER", "SERVICE_ROLES", "Actor", "AuditRow", "ChannelStatus", "Console",
    "ConsoleError", "DeliveryRow", "DoseRow", "EvidenceRow", "JobMetrics", "JobRow", "NotificationRow",
    "PermissionDenied", "RunRow", "SignIn", "SignInFailed", "Snapshot", "UserRow",
]
