"""The Alerts tab: MedJobs' own alerts (a dead run, a critical job failing, a schedule missed, an error rate
over its threshold, critical supply, a major or contraindicated interaction) with their state in words; ``a`` acknowledges the
selected one (operator, admin; the console checks the role and audits).

Kept in its own module so the tab list in ``tables.py`` and the app change by a few lines. Rows come from
``Snapshot.alerts`` (``console.AlertRow``): open first, then acknowledged, then resolved; newest seen first.
"""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text

from medjobs_tui.console import Actor, AlertRow, Console, Snapshot
from medjobs_tui.console.alerts import alert_label
from medjobs_tui.tui import formatting as fmt

TAB = "alerts"

COLUMNS = (
    ("alert", "alert", 5, False, "the alert's number, A-N (medjobs alerts ack A-N; interaction alerts are I-N)"),
    ("severity", "severity", 8, False, "critical, high or warning"),
    ("kind", "kind", 14, False, "dead run, critical job failing, schedule missed, error rate over threshold, "
                                "critical supply, major or contraindicated interaction"),
    ("scope", "about", 12, False, "the job, run, or order(s) with the patient's pseudonym"),
    ("status", "state", 12, False, "open; acknowledged by whom; resolved (its cause cleared by itself: the "
                                   "summary then says how)"),
    ("count", "seen", 4, False, "how many times its cause was seen while it was active"),
    ("last", "last seen", 11, False, "when its cause was last seen (clinic time)"),
    ("summary", "summary", 16, True, "what happened, in plain words (ids and pseudonyms only); for a resolved "
                                     "alert, why it resolved first"),
)
"""(key, heading, width, fill, help) of each column."""

EMPTY = "No alerts — dead runs, failing critical jobs, missed schedules, error rates, critical supply and major "\
        "interactions show here, and resolve themselves when their cause clears."

SEVERITY_STYLES = {"critical": "bold red", "high": "red", "warning": "yellow"}
STATE_STYLES = {"open": "bold red", "acknowledged": "yellow", "resolved": "green"}


def rows(snap: Snapshot, zone: tzinfo) -> list:
    """One row per alert, as the console lists them (open first); resolved ones dimmed, the reason they
    resolved first in their summary (the state column stays short)."""
    out = []
    for a in snap.alerts:
        resolved = a.state == "resolved"
        state = Text("resolved" if resolved else a.state_words, style=STATE_STYLES.get(a.state, ""))
        summary = f"{a.resolved_reason or 'its cause cleared'} (was: {a.summary})" if resolved else a.summary
        cells = (Text(alert_label(a.id), justify="right"), Text(a.severity, style=SEVERITY_STYLES.get(a.severity, "")), a.kind_words,
                 a.scope, state, fmt.number(a.count), fmt.local_time(a.last_seen, zone), fmt.long_text(summary))
        if a.state == "resolved":
            cells = tuple(c if i == 4 else fmt.dim_if(c, "skipped") for i, c in enumerate(cells))
        out.append((str(a.id), cells))
    return out


def preview(a: AlertRow, zone: tzinfo) -> Text:
    """The alert under the cursor in full, shown under the table: what, its state with who and when, the
    summary and, once resolved, why."""
    text = Text.assemble((f"Alert {alert_label(a.id)}", "bold"), f" · {a.kind_words} · {a.scope} · ",
                         (a.severity, SEVERITY_STYLES.get(a.severity, "")), "\n")
    seen = f"seen {a.count} time{'' if a.count == 1 else 's'}, first {fmt.local_time(a.first_seen, zone)}, " \
           f"last {fmt.local_time(a.last_seen, zone)}"
    if a.state == "acknowledged":
        state = f"acknowledged by {a.acknowledged_by} at {fmt.local_time(a.acknowledged_at, zone)}"
    elif a.state == "resolved":
        state = f"resolved at {fmt.local_time(a.resolved_at, zone)}: {a.resolved_reason or 'its cause cleared'}"
    else:
        state = "open"
    text.append(state, style=STATE_STYLES.get(a.state, ""))
    text.append(f" · {seen}\n{a.summary}")
    return text


def ack_question(a: AlertRow) -> tuple[str, str]:
    """The confirmation asked before acknowledging alert ``a``: the question, then its kind, scope, severity,
    state and summary (what exactly is being acknowledged)."""
    return (f"Acknowledge alert {alert_label(a.id)}?",
            f"{a.kind_words} · {a.scope} · {a.severity} · {a.state_words}\n{a.summary}\n\n"
            "y acknowledges (audited) · n or escape leaves it open")


def acknowledge(console: Console, actor: Actor, row_key: str) -> str:
    """Acknowledge the alert of an Alerts-tab row (key: its id); the line the user reads back."""
    a = console.acknowledge_alert(actor, int(row_key))
    return f"Alert {alert_label(a.id)} ({a.kind_words}, {a.scope}) {a.state_words}"
