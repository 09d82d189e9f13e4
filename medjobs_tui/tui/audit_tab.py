"""The Audit tab: the newest audit entries, for the roles that may read the audit trail (admin, auditor).

It is added after sign-in only for those roles, and filled through the console's ``audit_entries``
operation (which checks the role again). Entries carry no patient data.
"""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text
from textual.widgets import Static, TabPane

from medjobs_tui.console import AuditRow
from medjobs_tui.tui import formatting as fmt
from medjobs_tui.tui.tables import Column, Row
from medjobs_tui.tui.widgets import LiveTable

AUDIT_TAB = "audit"
AUDIT_KEY = "u"
"""The key that shows the Audit tab (aUdit; `a` acknowledges alerts)."""
AUDIT_LIMIT = 200
"""How many of the newest entries the tab shows (``medjobs audit list`` reads further back)."""

AUDIT_COLUMNS = (
    Column("at", "time", 11), Column("outcome", "outcome", 7), Column("actor", "actor", 10),
    Column("action", "action", 14), Column("object", "object", 10), Column("role", "role", 8),
    Column("detail", "detail", 10, fill=True),
)
"""The outcome (ok, denied, error) comes right after the time: no width hides a refusal. The entry under the
cursor is shown in full, its detail too, under the table (``preview``)."""

OUTCOME_STYLE = {"ok": "green", "denied": "bold red", "error": "red"}


def audit_rows(entries: list[AuditRow], zone: tzinfo) -> list[Row]:
    """Audit entries, newest first, keyed by id; times in the clinic's zone."""
    return [(str(e.id), (
        fmt.local_time(e.at, zone), Text(e.outcome, style=OUTCOME_STYLE.get(e.outcome, "")), e.actor,
        e.action, e.target or "-", e.role, fmt.long_text(e.detail),
    )) for e in entries]


def preview(e: AuditRow, zone: tzinfo) -> Text:
    """Audit entry ``e`` in full, under the table: number, clinic and UTC time, outcome, who (role), what, on
    what, and its whole detail (JSON: counts, ids and reasons, never patient data)."""
    text = Text.assemble((f"Entry {e.id}", "bold"), f" · {fmt.local_time(e.at, zone)} clinic time · ",
                         (e.outcome, OUTCOME_STYLE.get(e.outcome, "")),
                         f" · {e.actor} ({e.role}) · {e.action} · {e.target or '-'}\n")
    text.append(f"detail: {e.detail}" if e.detail else "detail: none")
    return text


def audit_pane() -> TabPane:
    """The Audit tab's pane: the table, the entry under the cursor in full, and the hint shown while it is empty."""
    return TabPane("Audit", LiveTable(AUDIT_COLUMNS, id=f"{AUDIT_TAB}-table"),
                   Static("", id=f"{AUDIT_TAB}-preview", classes="preview"),
                   Static("No audit entries yet.", id=f"{AUDIT_TAB}-empty", classes="empty-hint"), id=AUDIT_TAB)
