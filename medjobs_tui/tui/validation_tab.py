"""The Validation tab: each job's validation status (valid, failing, stale) with its reasons.

Kept in its own module so the tab list in ``tables.py`` changes by one line. Rows come from
``Snapshot.validation`` (``engine.validation.JobValidation``): job, status, critical-path ticks that
succeeded in time out of those checked, evidence records intact out of the finished runs, last run,
when the status was evaluated, and the reasons (plain words, never patient data).
"""

from __future__ import annotations

from datetime import tzinfo

from medjobs_tui.console import Snapshot
from medjobs_tui.tui import formatting as fmt

COLUMNS = (
    ("job", "job", 12, False, ""),
    ("status", "status", 8, False, "valid; failing: a critical tick missed, failed or late, or evidence broken; "
                                   "stale: no run within two schedule periods"),
    ("ticks", "ticks ok", 8, False, "critical-path ticks of the last 24 h that succeeded within the timeout, "
                                    "of those checked (- when the job is not on the critical path)"),
    ("evidence", "evidence ok", 8, False, "finished runs whose evidence record matches its hash and the chain"),
    ("last", "last run", 11, False, "when the latest run finished"),
    ("checked", "checked", 11, False, "when the status was evaluated"),
    ("reasons", "reasons", 20, True, "why the job is not valid"),
)
"""(key, heading, width, fill, help) of each column."""

EMPTY = "No jobs configured."


def rows(snap: Snapshot, zone: tzinfo) -> list:
    """One row per configured job, in config order."""
    return [(v.job_name, (
        v.job_name, fmt.status(v.status),
        f"{v.ticks_ok}/{v.ticks_checked}" if v.critical_path else fmt.MISSING,
        f"{v.evidence_ok}/{v.runs_checked}" if v.evidence_required else fmt.MISSING,
        fmt.local_time(v.last_run_at, zone), fmt.local_time(v.timestamp, zone),
        fmt.long_text("; ".join(v.reasons) or None),
    )) for v in snap.validation]
