"""Queries of pruning: fold finished runs older than the retention into ``run_metrics_daily``, then remove them.

A pruned run leaves its counts behind (one row per UTC day and job), its evidence file on disk and its
evidence-chain links; its row, attempts, history and error details go. Each batch is one transaction, so a crash leaves
every run either whole or folded, never both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import sqlite_utils

from medjobs_tui.clock import iso
from medjobs_tui.store.db import transaction

PRUNED_STATES = ("succeeded", "dead", "cancelled", "skipped", "coalesced")
"""Runs in these states are finished: nothing will move them again."""
_COUNTERS = ("runs", "succeeded_runs", "dead_runs", "other_rows", "attempts", "succeeded_attempts",
             "error_attempts", "retries", "timeouts", "duration_sum_s", "duration_count")


def _rows(cursor) -> list[dict[str, Any]]:
    cols = [c[0] for c in cursor.description]
    return [dict(zip(cols, r)) for r in cursor.fetchall()]


def prune_batch(db: sqlite_utils.Database, before: datetime, evidence_ok: Callable[[str | None, str | None], bool],
                limit: int = 500) -> int:
    """Fold up to ``limit`` finished runs that finished before ``before`` (UTC) into the daily metrics and
    delete them (with their attempts, history and error details), in one transaction; return how many.

    ``evidence_ok(path, sha256)`` says whether a run's evidence record matches (checked as it is folded).
    """
    # The evidence chain (validation) keeps its links of pruned runs: they name evidence files that stay,
    # and the chain is append-only; its run_id outlives the run row and has no foreign key (migration 32).
    # Foreign keys stay on: every other child row of the runs (attempts, history, error details) is
    # deleted here first, and a child table added later with a key to runs makes pruning fail loudly.
    marks = ",".join("?" for _ in PRUNED_STATES)
    with transaction(db):
        runs = _rows(db.execute(
            f"SELECT id, job_name, status, coalesce(finished_at, created_at) AS ended, evidence_path, evidence_sha256"
            f" FROM runs WHERE status IN ({marks}) AND coalesce(finished_at, created_at) < ? ORDER BY id LIMIT ?",
            [*PRUNED_STATES, iso(before), limit]))
        if not runs:
            return 0
        ids = [r["id"] for r in runs]
        id_marks = ",".join("?" for _ in ids)
        attempts = _rows(db.execute(
            f"SELECT run_id, attempt, outcome, duration_s FROM run_attempts WHERE run_id IN ({id_marks})"
            " AND outcome IS NOT NULL", ids))
        day_of = {r["id"]: (r["ended"][:10], r["job_name"]) for r in runs}
        folds: dict[tuple[str, str], dict[str, Any]] = {}

        def fold(key):
            return folds.setdefault(key, {**{c: 0 for c in _COUNTERS}, "duration_max_s": None, "invalid_evidence": 0})

        for r in runs:
            f = fold(day_of[r["id"]])
            if r["status"] in ("succeeded", "dead"):
                f["runs"] += 1
                f["succeeded_runs" if r["status"] == "succeeded" else "dead_runs"] += 1
                if not evidence_ok(r["evidence_path"], r["evidence_sha256"]):
                    f["invalid_evidence"] += 1
            else:
                f["other_rows"] += 1
        for a in attempts:
            f = fold(day_of[a["run_id"]])
            f["attempts"] += 1
            f["succeeded_attempts"] += a["outcome"] == "succeeded"
            f["error_attempts"] += a["outcome"] in ("failed", "timed_out", "crashed")
            f["timeouts"] += a["outcome"] == "timed_out"
            f["retries"] += a["attempt"] > 1
            if a["duration_s"] is not None:
                f["duration_sum_s"] += a["duration_s"]
                f["duration_count"] += 1
                f["duration_max_s"] = max(f["duration_max_s"] or 0.0, a["duration_s"])
        for (day, job), f in folds.items():
            sets = ", ".join(f"{c} = {c} + excluded.{c}" for c in (*_COUNTERS, "invalid_evidence"))
            db.execute(
                f"INSERT INTO run_metrics_daily (day, job_name, {', '.join(_COUNTERS)}, duration_max_s, invalid_evidence)"
                f" VALUES (?, ?, {', '.join('?' for _ in _COUNTERS)}, ?, ?)"
                f" ON CONFLICT(day, job_name) DO UPDATE SET {sets},"
                " duration_max_s = max(coalesce(duration_max_s, 0), coalesce(excluded.duration_max_s, 0))",
                [day, job, *(f[c] for c in _COUNTERS), f["duration_max_s"], f["invalid_evidence"]])
        for table in ("run_attempts", "run_history", "error_details"):
            db.execute(f"DELETE FROM {table} WHERE run_id IN ({id_marks})", ids)
        db.execute(f"DELETE FROM runs WHERE id IN ({id_marks})", ids)
        return len(ids)


def folded_by_job(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """Per job name, the sums of its folded daily metrics (the counters of ``run_metrics_daily``)."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in (*_COUNTERS, "invalid_evidence"))
    rows = _rows(db.execute(f"SELECT job_name, {sums}, max(duration_max_s) AS duration_max_s"
                            " FROM run_metrics_daily GROUP BY job_name"))
    return {r.pop("job_name"): r for r in rows}


def daily_metrics(db: sqlite_utils.Database, job_name: str | None = None) -> list[dict[str, Any]]:
    """The folded daily rows (of ``job_name`` if given), oldest day first."""
    where, params = ("WHERE job_name = ?", [job_name]) if job_name else ("", [])
    return _rows(db.execute(f"SELECT * FROM run_metrics_daily {where} ORDER BY day, job_name", params))
