"""The operations users perform, with role checks and audit; the only API of the dashboard and the CLI."""

from medjobs_tui.console.identity import session_actor
from medjobs_tui.console.models import (
    ROLES, Actor, ChannelStatus, DeliveryRow, DoseRow, EvidenceRow, JobMetrics, JobRow, NotificationRow, RunRow,
    Snapshot,
)
from medjobs_tui.console.operations import Console, ConsoleError, PermissionDenied

__all__ = [
    "ROLES", "Actor", "ChannelStatus", "Console", "DeliveryRow", "DoseRow", "ConsoleError", "EvidenceRow",
    "JobMetrics", "JobRow", "NotificationRow",
    "PermissionDenied", "RunRow", "Snapshot", "session_actor",
]
