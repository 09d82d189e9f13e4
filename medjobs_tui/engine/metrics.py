"""Per-job metrics from recorded attempts: execution times, success/error rates, retries, timeouts, validation."""

from __future__ import annotations

import math
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

from medjobs_tui.engine.evidence import is_valid


@dataclass(frozen=True)
class JobMetrics:
    """Per-job metrics over all recorded attempts, pruned ones included (durations: kept runs only).
    Durations in seconds; rates in 0..1."""

    job_name: str
    runs: int                # finished runs (succeeded or dead)
    attempts: int
    last_duration_s: float | None
    p50_duration_s: float | None
    p95_duration_s: float | None
    success_rate: float | None     # succeeded attempts / finished attempts
    error_rate: float | None       # failed or timed-out attempts / finished attempts
    retry_count: int               # attempts after the first
    timeout_count: int
    validation_status: str         # "valid" (every finished run has evidence whose hash matches), "invalid: N", "no runs"


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (``pct`` in 0..100) of ``values``; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def job_metrics(job_name: str, attempts: list[dict[str, Any]], terminal_runs: list[dict[str, Any]],
                evidence_dir: Path, folded: dict[str, Any] | None = None) -> JobMetrics:
    """Metrics of one job from its finished attempts (oldest first), its runs in a final state, and the
    sums of its pruned runs' daily metrics (``folded``: the counters of ``run_metrics_daily``, or None).

    Execution times are attempt durations in seconds. Run and attempt counts, success_rate, error_rate,
    retries, timeouts and validation cover all history, pruned runs included; the duration figures
    (last, p50, p95) cover the runs still kept (the retention window: percentiles cannot be folded).
    success_rate and error_rate are shares of finished attempts (interrupted attempts count in
    neither). validation_status is "valid" when every final run had an evidence record whose SHA-256
    matched (pruned runs: when they were folded), "invalid: N" otherwise.
    """
    f = folded or {}
    durations = [a["duration_s"] for a in attempts if a["duration_s"] is not None]
    n = len(attempts) + (f.get("attempts") or 0)
    ok = sum(1 for a in attempts if a["outcome"] == "succeeded") + (f.get("succeeded_attempts") or 0)
    bad = sum(1 for a in attempts if a["outcome"] in ("failed", "timed_out", "crashed")) + (f.get("error_attempts") or 0)
    invalid = sum(1 for r in terminal_runs if not is_valid(evidence_dir, r["evidence_path"], r["evidence_sha256"]))
    invalid += f.get("invalid_evidence") or 0
    runs = len(terminal_runs) + (f.get("runs") or 0)
    if not runs:
        validation = "no runs"
    else:
        validation = "valid" if invalid == 0 else f"invalid: {invalid}"
    return JobMetrics(
        job_name=job_name,
        runs=runs,
        attempts=n,
        last_duration_s=durations[-1] if durations else None,
        p50_duration_s=percentile(durations, 50),
        p95_duration_s=percentile(durations, 95),
        success_rate=ok / n if n else None,
        error_rate=bad / n if n else None,
        retry_count=sum(1 for a in attempts if a["attempt"] > 1) + (f.get("retries") or 0),
        timeout_count=sum(1 for a in attempts if a["outcome"] == "timed_out") + (f.get("timeouts") or 0),
        validation_status=validation,
    )
