"""Outcome recording: one store call and one transaction per outcome, its evidence record in place before it commits.

``record`` applies the retry policy. The evidence record the outcome will give the run is written under a
temporary name before the write lock is taken (``engine.staging``): by the worker that ran the attempt
(``Outcome.staged``), else here. Then, in one ``BEGIN
IMMEDIATE`` transaction, it closes the attempt (only if the claim is still current: the fencing token is
the runner id and the attempt number), checks that the staged record is exactly the record of the run as
now stored (else it writes it again, inside the transaction), renames it into place, stores its SHA-256
and appends its link to the evidence chain (the link names the previous link's SHA-256), and for a dead
run writes the audit entry and the staff alert (a success resolves the run's dead-run alert: "succeeded on
retry"). So the record is in place before the transaction commits and no recorded outcome lacks it; an
attempt whose claim was lost renames nothing (its staged file is removed). If the runner dies between the
rename and the commit, the run is recovered as interrupted and its record rewritten then.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any, Callable

from medjobs_tui.clock import iso
from medjobs_tui.config import Settings
from medjobs_tui.engine import evidence, staging
from medjobs_tui.engine.pool import Outcome
from medjobs_tui.engine.retry import next_attempt_at
from medjobs_tui.notify.alerts import alert_run_dead, resolve_run_dead
from medjobs_tui.security import audit
from medjobs_tui.store import ClaimLost, savepoint, transaction
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import validation as store_validation

log = logging.getLogger(__name__)

RUNNER_ACTOR = "runner"
RETRIED_OUTCOMES = staging.RETRIED_OUTCOMES


def record(db, settings: Settings, run: dict[str, Any], outcome: Outcome, now: datetime, *, audit_key: bytes,
           then: Callable[[], None] | None = None) -> str:
    """Record ``outcome`` of the claimed attempt ``run`` (the row as claimed) at ``now``; return the run's
    new status (succeeded, queued, dead). ``then`` is called last inside the same transaction (the runner
    claims its next run there: one transaction instead of two). Raises store.ClaimLost, writing nothing,
    when the claim is no longer current (the run was recovered and handed on), and the store's errors (the
    caller retries; nothing of the transaction, ``then``'s writes included, is committed)."""
    job = settings.jobs[run["job_name"]]
    retry_at = None
    if outcome.status in RETRIED_OUTCOMES and not outcome.permanent:
        retry_at = next_attempt_at(job.retry_policy, run["attempt"], run["max_attempts"], now)
    duration_s = round(outcome.duration_s, 6)
    finished_at = outcome.finished_at or now
    staged = outcome.staged
    if staged is None:
        as_run = run if outcome.started_at is None else dict(run, started_at=iso(outcome.started_at))
        staged = staging.stage(db, settings, as_run, status=outcome.status, error=outcome.error,
                               summary=outcome.summary, finished_at=finished_at, duration_s=duration_s,
                               permanent=outcome.permanent)
    try:
        with transaction(db):
            if outcome.detail and outcome.error_ref:
                store_runs.save_error_detail(db, outcome.error_ref, run["id"], now, outcome.detail)
            status = store_runs.finish_attempt(
                db, run["id"], outcome=outcome.status, now=now, finished_at=finished_at, duration_s=duration_s,
                error=outcome.error, summary=outcome.summary, retry_at=retry_at,
                claim=(run["claimed_by"], run["attempt"]),
                dead_note="permanent error: not retried" if outcome.permanent else "attempts exhausted",
                started_at=outcome.started_at,
            )
            placed = staging.place(db, settings, run["id"], staged) if staged is not None else None
            if placed is not None:
                _link(db, placed, staged.relpath, staged.sha256)
            else:
                write_evidence(db, settings, run["id"])
            if status == "dead":
                audit.record(db, key=audit_key, actor=RUNNER_ACTOR, role="system", action="run.dead",
                             target=f"run:{run['id']}", outcome="error", at=now,
                             detail={"job": run["job_name"], "attempts": run["attempt"]})
                if job.monitoring_config.alerts_enabled:
                    alert_run_dead(db, run_id=run["id"], job_name=run["job_name"], attempt=run["attempt"], now=now)
            elif status == "succeeded" and run["attempt"] > 1:   # a dead run retried: its alert resolves itself
                resolve_run_dead(db, run_id=run["id"], attempt=run["attempt"], now=now)
            if then is not None:
                then()
    finally:
        staging.discard(staged)
    level = (logging.ERROR if status == "dead" else logging.INFO if outcome.status == "succeeded"
             else logging.WARNING)                       # a failed attempt with a retry left is a warning
    log.log(level, "run %s of %s attempt %s %s in %.2f s: now %s", run["id"], run["job_name"], run["attempt"],
            outcome.status, outcome.duration_s, status)
    return status


def record_many(db, settings: Settings, items: list[tuple[dict[str, Any], Outcome]], now: datetime, *,
                audit_key: bytes) -> list[str]:
    """Record the outcomes of several claimed attempts (a claim batch: ``(run as claimed, Outcome)`` pairs, in
    order) inside the open transaction; return each run's new status, or ``lost`` for one whose claim is no
    longer current (nothing of it is written; its staged record is removed).

    In order: a first attempt that succeeded with its record staged (the common case) is recorded together
    with the like ones next to it (``store.runs.finish_successes``: one statement per table; records checked
    and renamed into place as ``record`` does, linked into the evidence chain in order); a run that never
    started (``not_started``) is handed back to the queue (``store.runs.release_unstarted``: no attempt spent);
    any other outcome goes through ``record``. Each but the first kind under a savepoint of its own. The
    caller commits (or, on an error, rolls back the whole of it)."""
    statuses: dict[int, str] = {}
    group: list[tuple[dict[str, Any], Outcome]] = []

    def flush() -> None:
        if group:
            try:
                _record_successes(db, settings, group, now, statuses)
            finally:
                for _, out in group:
                    staging.discard(out.staged)
            group.clear()

    for run, out in items:
        if out.status == "succeeded" and run["attempt"] == 1 and out.staged is not None and not out.detail:
            group.append((run, out))
            continue
        flush()
        try:
            with savepoint(db, "medjobs_outcome"):
                if out.status == "not_started":
                    store_runs.release_unstarted(db, run["id"], (run["claimed_by"], run["attempt"]), now, out.error)
                    statuses[run["id"]] = "queued"
                else:
                    statuses[run["id"]] = record(db, settings, run, out, now, audit_key=audit_key)
        except ClaimLost:
            log.warning("run %s was recovered by another runner before its outcome was recorded; "
                        "this attempt's outcome is dropped", run["id"])
            statuses[run["id"]] = "lost"
    flush()
    return [statuses[run["id"]] for run, _ in items]


def _record_successes(db, settings: Settings, quick: list[tuple[dict[str, Any], Outcome]], now: datetime,
                      statuses: dict[int, str]) -> None:
    """``record_many``'s common case: first attempts that succeeded, with their records staged."""
    lost = store_runs.finish_successes(db, [
        {"id": run["id"], "claim": (run["claimed_by"], run["attempt"]), "started_at": out.started_at or now,
         "finished_at": out.finished_at or now, "duration_s": round(out.duration_s, 6), "summary": out.summary}
        for run, out in quick], now)
    done = [(run, out) for run, out in quick if run["id"] not in lost]
    ids = [run["id"] for run, _ in done]
    rows, attempts = store_runs.runs_by_id(db, ids), store_runs.attempts_by_run(db, ids)
    links, unplaced = [], []
    root = os.fspath(settings.evidence_dir)
    for run, out in done:
        row = rows[run["id"]]
        if staging.place_as(settings, row, attempts[run["id"]], out.staged, root):
            links.append((run["id"], out.staged.relpath, out.staged.sha256, row["finished_at"] or row["created_at"]))
        else:
            unplaced.append(run["id"])
    store_runs.set_evidence_many(db, [(run_id, path, sha) for run_id, path, sha, _ in links])
    store_validation.append_links(db, links)
    for run_id in unplaced:
        write_evidence(db, settings, run_id)
    for run, out in quick:
        if run["id"] in lost:
            log.warning("run %s was recovered by another runner before its outcome was recorded; "
                        "this attempt's outcome is dropped", run["id"])
            statuses[run["id"]] = "lost"
        else:
            statuses[run["id"]] = "succeeded"
            log.info("run %s of %s attempt %s succeeded in %.2f s: now succeeded", run["id"], run["job_name"],
                     run["attempt"], out.duration_s)


def _link(db, run: dict[str, Any], relpath: str, sha: str) -> None:
    """Store the record's path and SHA-256 with the run and append its link (naming the previous link's SHA-256)."""
    previous = store_validation.last_link(db)
    store_runs.set_evidence(db, run["id"], relpath, sha)
    store_validation.append_link(db, run_id=run["id"], path=relpath, sha256=sha,
                                 prev_sha256=previous["sha256"] if previous else None,
                                 at=run["finished_at"] or run["created_at"])


def write_evidence(db, settings: Settings, run_id: int) -> None:
    """(Re)write the evidence record of run ``run_id`` as the store (or the open transaction) has it, and store
    its path and SHA-256 with a new chain link. If the file cannot be written, clear the reference instead, so
    the run shows as invalid (never stale-valid), and say so in the log; the outcome stands either way."""
    run = store_runs.get_run(db, run_id)
    try:
        record_ = evidence.build_record(run, store_runs.run_attempts(db, run_id), settings, audit_head=audit.head(db))
        relpath = evidence.evidence_relpath(run)
        sha = evidence.write_record(settings.evidence_dir, relpath, record_)
    except Exception as exc:  # noqa: BLE001 - evidence is required: a failure must show, not vanish
        store_runs.clear_evidence(db, run_id)
        log.error("evidence of run %s could not be written: %s", run_id, type(exc).__name__)
        return
    _link(db, run, relpath, sha)


def rebuild_missing_evidence(db, settings: Settings) -> list[int]:
    """Write the evidence of every run with a recorded outcome but no record (start-up); return their ids."""
    done = []
    for run_id in store_runs.finished_runs_without_evidence(db):
        with transaction(db):
            write_evidence(db, settings, run_id)
        done.append(run_id)
    return done
