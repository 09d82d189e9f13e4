"""MedJobs' own alerts as users see and acknowledge them (the Alerts view, ``medjobs alerts``).

Mixed into ``Console``. Listing (``alert.list``: every person's role) first evaluates the alerts read from
the records (``engine.alerting``: the dead-man's switch, error rates, dead runs), so a console without a
runner still sees a schedule that stopped ticking. Acknowledging (``alert.ack``) records who and when and
is audited, allowed or refused; it does not resolve an alert: only its cause clearing does.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from medjobs_tui.clock import parse_iso
from medjobs_tui.console.errors import ConsoleError
from medjobs_tui.console.models import Actor, AlertRow
from medjobs_tui.engine import alerting
from medjobs_tui.notify.alerts import (  # noqa: F401 - the labels of both alert lists, for the CLI and dashboard
    ALERT_PREFIX, INTERACTION_PREFIX, PATIENT_KINDS, PSEUDONYM_PART, AlertRefError, alert_label, interaction_label,
    kind_words, parse_alert_ref,
)
from medjobs_tui.store import alerts as store_alerts

if TYPE_CHECKING:
    from medjobs_tui.console.operations import Console

DASHBOARD_EVALUATION_S = 10.0
"""The dashboard's refreshes evaluate the alerts at most this often (seconds of real time): a refresh every
second must not take the store's write lock every second (the runner evaluates every minute anyway)."""

ALERT_STATES = ("open", "acknowledged", "resolved", "active", "all")
"""What ``Console.alerts`` lists: one state, ``active`` (open and acknowledged) or ``all``."""


ALERT_WITHHELD = "withheld: about a patient's medication (operators, admins and reviewers see it)"
"""What a role that may not read patients' data sees instead of the summary and resolution of an alert about one
patient's medication (``PATIENT_KINDS``); its scope keeps the order numbers without the patient's pseudonym."""


def alert_row(r: dict[str, Any], patient_reader: bool = True) -> AlertRow:
    """An ``alerts`` table row as an AlertRow; for a role that may not read patients' data (``patient_reader``
    False) an alert about a patient's medication comes without the pseudonym, summary and resolution."""
    scope, summary, reason = r["scope"], r["summary"], r["resolved_reason"]
    if not patient_reader and r["kind"] in PATIENT_KINDS:
        scope = PSEUDONYM_PART.sub("", scope)
        summary = ALERT_WITHHELD
        reason = ALERT_WITHHELD if reason else reason
    return AlertRow(
        id=r["id"], kind=r["kind"], kind_words=kind_words(r["kind"], r["severity"]), scope=scope,
        job_name=r["job_name"], severity=r["severity"], state=r["state"], summary=summary, count=r["count"],
        first_seen=parse_iso(r["first_seen"]), last_seen=parse_iso(r["last_seen"]),
        acknowledged_by=r["acknowledged_by"],
        acknowledged_at=parse_iso(r["acknowledged_at"]) if r["acknowledged_at"] else None,
        resolved_at=parse_iso(r["resolved_at"]) if r["resolved_at"] else None, resolved_reason=reason,
    )


class AlertsMixin:
    """The alert operations of the Console (``self`` is the Console)."""

    def alerts(self: Console, actor: Actor, state: str = "active", limit: int = 200, *,
               evaluate: bool = True) -> list[AlertRow]:
        """MedJobs' alerts in ``state`` (open, acknowledged, resolved, ``active`` = open and acknowledged, or
        ``all``): open first, then acknowledged, then resolved, newest seen first. With ``evaluate``, the
        alerts read from the records are evaluated first (``engine.alerting.evaluate``). An alert about a
        patient's medication shows its pseudonym, summary and resolution only to roles that may read patients'
        data (``patient.read``; see ``alert_row``). Raises PermissionDenied for a role without ``alert.list``,
        ConsoleError for an unknown state."""
        self.authorise(actor, "alert.list", "alerts")
        if state not in ALERT_STATES:
            raise ConsoleError(f"no alert state {state!r}; states: {', '.join(ALERT_STATES)}")
        if evaluate:
            alerting.evaluate(self.db, self.settings, self.clock.now())
        states = {"active": store_alerts.ACTIVE, "all": store_alerts.STATES}.get(state, (state,))
        reader = self.may(actor, "patient.read")
        return [alert_row(r, reader) for r in store_alerts.listing(self.db, states, limit)]

    def alerts_due(self: Console) -> bool:
        """True (and noted) when this console last evaluated the alerts for the dashboard more than
        DASHBOARD_EVALUATION_S seconds ago, or never."""
        now = time.monotonic()
        last = self.__dict__.get("_alerts_evaluated")
        if last is not None and now - last < DASHBOARD_EVALUATION_S:
            return False
        self.__dict__["_alerts_evaluated"] = now
        return True

    def alert(self: Console, actor: Actor, alert_id: int) -> AlertRow:
        """Alert ``alert_id``. Raises ConsoleError if there is none; PermissionDenied as ``alerts``."""
        self.authorise(actor, "alert.list", f"alert:{alert_id}")
        row = store_alerts.get(self.db, alert_id)
        if row is None:
            raise ConsoleError(f"no alert {alert_label(alert_id)} (see `medjobs alerts --state all`)")
        return alert_row(row, self.may(actor, "patient.read"))

    def acknowledge_alert(self: Console, actor: Actor, alert_id: int) -> AlertRow:
        """``actor`` acknowledges open alert ``alert_id``: it shows ``acknowledged by <user>`` with the time, and
        stays until its cause clears (then it resolves itself). Audited (``alert.ack``), refused ones too.
        Raises PermissionDenied for a role without ``alert.ack``; ConsoleError for an unknown alert or one
        already acknowledged or resolved."""
        self.authorise(actor, "alert.ack", f"alert:{alert_id}")
        row = store_alerts.get(self.db, alert_id)
        if row is None:
            raise ConsoleError(f"no alert {alert_label(alert_id)} (see `medjobs alerts --state all`)")
        if row["state"] == "acknowledged":
            raise ConsoleError(f"alert {alert_label(alert_id)} was already acknowledged by {row['acknowledged_by']} at "
                               f"{row['acknowledged_at'][:16]} UTC")
        if row["state"] == "resolved":
            raise ConsoleError(f"alert {alert_label(alert_id)} is resolved ({row['resolved_reason'] or 'its cause cleared'}); "
                               "nothing to acknowledge")
        now = self.clock.now()
        if not store_alerts.acknowledge(self.db, alert_id, actor.username, now):
            raise ConsoleError(f"alert {alert_label(alert_id)} changed meanwhile; list the alerts again")
        self._audit_ok(actor, "alert.ack", f"alert:{alert_id}", {      # the audit trail is the auditor's: no pseudonym
            "kind": row["kind"], "scope": PSEUDONYM_PART.sub("", row["scope"]), "severity": row["severity"]})
        return alert_row(store_alerts.get(self.db, alert_id), self.may(actor, "patient.read"))
