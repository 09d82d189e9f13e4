"""Queries of the run queue: jobs, runs, attempts and the run history. Every state change is a history row.

A run's row holds its current state; ``run_history`` keeps every transition (never overwritten) and
``run_attempts`` one row per attempt with its outcome and duration. All instants are UTC ISO text.
Transitions are guarded: an UPDATE only applies if the run is still in the expected state, so two
processes can never both move the same run.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Iterable

import sqlite_utils

from medjobs_tui.clock import iso
from medjobs_tui.store.db import ClaimLost, transaction

ACTIVE_STATES = ("queued", "running")
OUTCOMES = ("succeeded", "failed", "timed_out", "crashed", "interrupted")
"""How an attempt can end; ``crashed``: its worker died from a signal that was not the runner's timeout kill."""
FINAL_STATES = ("succeeded", "dead", "cancelled", "skipped", "coalesced")


class RunStateError(Exception):
    """A run is not in the state an operation needs (e.g. retrying a run that is not dead)."""


def _row(cursor) -> dict[str, Any] | None:
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([c[0] for c in cursor.description], row))


def _rows(cursor) -> list[dict[str, Any]]:
    cols = [c[0] for c in cursor.description]
    return [dict(zip(cols, r)) for r in cursor.fetchall()]


# ----------------------------------------------------------------------------------------- jobs


def sync_jobs(db: sqlite_utils.Database, jobs: dict[str, str]) -> None:
    """Make sure a ``jobs`` row exists for each ``name -> job_type``; paused flags are kept."""
    with transaction(db):
        for name, job_type in jobs.items():
            db.execute(
                "INSERT INTO jobs (name, job_type) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET job_type = excluded.job_type",
                [name, job_type],
            )


def set_paused(db: sqlite_utils.Database, name: str, paused: bool, actor: str, at: datetime) -> bool:
    """Pause or resume job ``name``; return True if the flag changed. Raises KeyError for an unknown job."""
    with transaction(db):
        row = _row(db.execute("SELECT paused FROM jobs WHERE name = ?", [name]))
        if row is None:
            raise KeyError(name)
        if bool(row["paused"]) == paused:
            return False
        db.execute(
            "UPDATE jobs SET paused = ?, changed_by = ?, changed_at = ? WHERE name = ?",
            [int(paused), actor, iso(at), name],
        )
        return True


def paused_jobs(db: sqlite_utils.Database) -> set[str]:
    """Names of the jobs currently paused."""
    return {r[0] for r in db.execute("SELECT name FROM jobs WHERE paused = 1").fetchall()}


# ----------------------------------------------------------------------------------------- runs


def _history(db, run_id: int, from_status: str | None, to_status: str, at: datetime, actor: str,
             note: str | None = None) -> None:
    db.execute(
        "INSERT INTO run_history (run_id, from_status, to_status, at, actor, note) VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, from_status, to_status, iso(at), actor, note],
    )


def insert_run(
    db: sqlite_utils.Database,
    *,
    job_name: str,
    job_type: str,
    queue: str,
    priority: int,
    max_attempts: int,
    trigger: str,
    scheduled_at: datetime,
    created_by: str,
    now: datetime,
    dedupe_key: str | None = None,
    status: str = "queued",
    note: str | None = None,
) -> int | None:
    """Insert a run in ``status`` (queued, or skipped for a paused job's tick); return its id.

    Returns None, inserting nothing, when ``dedupe_key`` is already taken: one schedule tick is
    queued once, however many schedulers fire it.

    A run created ``queued`` without a ``note`` gets no history row of its own: its creation is its row's
    ``created_at`` and ``created_by``, and ``run_history`` reads it from there (two pages fewer to encrypt per
    trigger). Any other creation (skipped, or with a note) is a history row as every change is.
    """
    with transaction(db):
        cur = db.execute(
            "INSERT OR IGNORE INTO runs (job_name, job_type, queue, priority, status, attempt, max_attempts,"
            " trigger, dedupe_key, scheduled_at, available_at, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            [job_name, job_type, queue, priority, status, max_attempts, trigger, dedupe_key,
             iso(scheduled_at), iso(scheduled_at), created_by, iso(now)],
        )
        if cur.rowcount == 0:
            return None
        run_id = cur.lastrowid
        if status != "queued" or note is not None:
            _history(db, run_id, None, status, now, created_by, note)
        return run_id


def register_runner(db: sqlite_utils.Database, runner_id: str, now: datetime) -> None:
    """Record a live runner (or renew its heartbeat): it holds a lease on the runs it claims."""
    with transaction(db):
        db.execute("INSERT INTO runners (id, started_at, heartbeat_at) VALUES (?, ?, ?)"
                   " ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                   [runner_id, iso(now), iso(now)])


def unregister_runner(db: sqlite_utils.Database, runner_id: str) -> None:
    """Forget a runner that stopped (or died): its runs, if any are left running, become orphans."""
    with transaction(db):
        db.execute("DELETE FROM runners WHERE id = ?", [runner_id])


def runners(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every registered runner: id (``host:pid:random``), started_at, heartbeat_at (UTC ISO)."""
    return _rows(db.execute("SELECT * FROM runners ORDER BY started_at"))


def claim_is_current(db: sqlite_utils.Database, run_id: int, attempt: int, runner_id: str) -> bool:
    """True while run ``run_id`` is running ``attempt`` under runner ``runner_id`` (the fencing token)."""
    return db.execute("SELECT 1 FROM runs WHERE id = ? AND status = 'running' AND attempt = ? AND claimed_by = ?",
                      [run_id, attempt, runner_id]).fetchone() is not None


def finished_runs_without_evidence(db: sqlite_utils.Database) -> list[int]:
    """Ids of runs with a recorded outcome (an attempt closed) but no evidence reference: a runner died
    between recording and writing, or the record could not be written. Oldest first."""
    return [r[0] for r in db.execute(
        "SELECT id FROM runs WHERE evidence_path IS NULL AND status NOT IN ('running', 'cancelled', 'skipped')"
        " AND EXISTS (SELECT 1 FROM run_attempts a WHERE a.run_id = runs.id AND a.outcome IS NOT NULL)"
        " ORDER BY id").fetchall()]


def _running_slots(db: sqlite_utils.Database) -> dict[str, int]:
    """Per queue, how many slots hold running runs: runs claimed in one batch share a slot (``claim_batch``)."""
    return dict(db.execute(
        "SELECT queue, count(DISTINCT coalesce(claim_batch, id)) FROM runs WHERE status = 'running'"
        " GROUP BY queue").fetchall())


def _job_filter(jobs: Iterable[str] | None) -> tuple[str, list[Any]]:
    """SQL restricting runs to the job names ``jobs`` (none: every job), and its parameters."""
    if jobs is None:
        return "", []
    names = sorted(jobs)
    return (f" AND job_name IN ({','.join('?' for _ in names)})" if names else " AND 0"), names


def _next_claimable(db: sqlite_utils.Database, capacity: dict[str, int], now: datetime,
                    only: Iterable[int] | None, jobs: Iterable[str] | None = None) -> dict[str, Any] | None:
    """The run ``claim_next`` would claim now (a read), or None when no queue has room or nothing is due."""
    running = _running_slots(db)
    open_queues = [q for q, limit in capacity.items() if running.get(q, 0) < limit]
    if not open_queues:
        return None
    marks = ",".join("?" for _ in open_queues)
    params: list[Any] = [iso(now), *open_queues]
    restrict, names = _job_filter(jobs)
    params += names
    if only is not None:
        wanted = [int(i) for i in only]
        restrict += f" AND id IN ({','.join('?' for _ in wanted)})" if wanted else " AND 0"
        params += wanted
    return _row(db.execute(
        f"SELECT * FROM runs WHERE status = 'queued' AND available_at <= ? AND queue IN ({marks}){restrict}"
        " ORDER BY priority DESC, scheduled_at ASC, id ASC LIMIT 1",
        params,
    ))


def claim_next(db: sqlite_utils.Database, capacity: dict[str, int], now: datetime,
               worker: str = "runner", only: Iterable[int] | None = None,
               jobs: Iterable[str] | None = None) -> dict[str, Any] | None:
    """Claim the next due run: highest priority first, then oldest scheduled time, then lowest id.

    ``capacity`` maps queue -> concurrency limit (slots); a queue with as many slots holding running runs
    as its limit is skipped. The run is marked as held by runner ``worker``. With ``only``, just those run
    ids are eligible; with ``jobs``, just runs of those job names (a runner claims only the jobs of its
    configuration: it could not run another's). When a read finds nothing to claim (every queue full, nothing due) it returns None
    without taking the write lock. Otherwise the claim is one ``BEGIN IMMEDIATE`` transaction that looks
    again (inside an open transaction it joins it and looks once): the run moves queued -> running, its
    attempt row is opened and a history row written. Returns the claimed run row, or None.
    """
    claimed = claim_batch(db, capacity, now, worker=worker, only=only, jobs=jobs)
    return claimed[0] if claimed else None


def claim_batch(db: sqlite_utils.Database, capacity: dict[str, int], now: datetime, worker: str = "runner",
                only: Iterable[int] | None = None, max_runs: int = 1,
                admit: Callable[[list[dict[str, Any]]], int] | None = None,
                jobs: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Claim the next due run (as ``claim_next``) and, with ``max_runs`` > 1, the runs that follow it in the
    same queue in the same order (priority, then scheduled time, then id), as one batch held by one slot
    of that queue: they are to run one after another, so the queue's concurrency still counts one slot.

    ``admit(candidates)`` says how many of the candidates (the first run, then up to ``max_runs`` - 1 of
    its followers, in order) to claim: at least 1 (the runner admits short runs only, so that a batch
    delays a higher-priority arrival by a bounded time). Every claimed run moves queued -> running with its
    attempt row and history row, in one transaction; a batch of two or more marks each run with the
    batch's first run id (``claim_batch`` column). Returns the claimed rows in order (empty: nothing due).
    """
    if only is not None:
        only = list(only)
    if jobs is not None:
        jobs = list(jobs)
    if not db.conn.in_transaction and _next_claimable(db, capacity, now, only, jobs) is None:
        return []       # the common idle poll: no write transaction
    with transaction(db):
        first = _next_claimable(db, capacity, now, only, jobs)
        if first is None:
            return []
        rows = [first]
        if max_runs > 1 and only is None:
            restrict, names = _job_filter(jobs)
            rows += _rows(db.execute(
                f"SELECT * FROM runs WHERE status = 'queued' AND available_at <= ? AND queue = ?{restrict}"
                " AND (priority < ? OR (priority = ? AND (scheduled_at > ? OR (scheduled_at = ? AND id > ?))))"
                " ORDER BY priority DESC, scheduled_at ASC, id ASC LIMIT ?",
                [iso(now), first["queue"], *names, first["priority"], first["priority"], first["scheduled_at"], first["scheduled_at"], first["id"],
                 max_runs - 1]))
            if admit is not None:
                rows = rows[:max(1, min(len(rows), admit(rows)))]
        batch = first["id"] if len(rows) > 1 else None
        at = iso(now)
        db.conn.executemany(
            "UPDATE runs SET status = 'running', started_at = ?, finished_at = NULL, duration_s = NULL,"
            " error = NULL, claimed_by = ?, claim_batch = ? WHERE id = ? AND status = 'queued'",
            [(at, worker, batch, r["id"]) for r in rows])
        db.conn.executemany("INSERT INTO run_attempts (run_id, attempt, started_at) VALUES (?, ?, ?)",
                            [(r["id"], r["attempt"], at) for r in rows])
        db.conn.executemany(
            "INSERT INTO run_history (run_id, from_status, to_status, at, actor, note) VALUES (?, ?, ?, ?, ?, ?)",
            [(r["id"], "queued", "running", at, worker, f"attempt {r['attempt']}") for r in rows])
        for r in rows:
            r.update(status="running", started_at=at, finished_at=None, duration_s=None, error=None,
                     claimed_by=worker, claim_batch=batch)
        return rows


def finish_attempt(
    db: sqlite_utils.Database,
    run_id: int,
    *,
    outcome: str,
    now: datetime,
    duration_s: float,
    error: str | None = None,
    summary: dict[str, Any] | None = None,
    retry_at: datetime | None = None,
    actor: str = "runner",
    claim: tuple[str, int] | None = None,
    dead_note: str = "attempts exhausted",
    finished_at: datetime | None = None,
    started_at: datetime | None = None,
) -> str:
    """Close the running attempt of ``run_id`` with ``outcome`` and move the run on; return its new status.

    ``outcome`` is succeeded, failed, timed_out or interrupted. A non-success outcome goes back to
    ``queued`` (attempt + 1, available from ``retry_at``) when ``retry_at`` is given, else ``dead``.
    An ``interrupted`` attempt (the runner stopped or died under it) is not the job's failure: it is
    re-queued with its retry budget (``max_attempts``) raised by one, as Sidekiq pushes in-progress
    jobs back at shutdown. A ``crashed`` attempt (the worker died from a signal) counts like a failure.
    Every transition is written to the run's history. With ``claim`` (runner id, attempt: the fencing
    token of the claim) the attempt is closed only if that claim is still current, else ClaimLost.
    ``dead_note`` is the history note of a run that ends dead (e.g. ``permanent error: not retried``).
    ``finished_at`` is when the attempt ended (default ``now``, the instant it is recorded, which dates the
    history rows). ``started_at``: when the attempt really started, if later than its claim (a run claimed in
    a batch starts when the one before it ends); it replaces the claim instant on the run and the attempt.
    Raises RunStateError if the run is not running.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    with transaction(db):
        row = _row(db.execute("SELECT status, attempt, claimed_by FROM runs WHERE id = ?", [run_id]))
        if row is None or row["status"] != "running":
            if claim is not None:
                raise ClaimLost(f"run {run_id} is no longer held by this claim")
            raise RunStateError(f"run {run_id} is not running")
        if claim is not None and (row["claimed_by"], row["attempt"]) != tuple(claim):
            raise ClaimLost(f"run {run_id} is no longer held by this claim")
        ended = iso(finished_at or now)
        if started_at is not None:
            began = iso(started_at)
            db.execute("UPDATE run_attempts SET started_at = ? WHERE run_id = ? AND attempt = ?",
                       [began, run_id, row["attempt"]])
            db.execute("UPDATE runs SET started_at = ? WHERE id = ?", [began, run_id])
        db.execute(
            "UPDATE run_attempts SET finished_at = ?, duration_s = ?, outcome = ?, error = ?"
            " WHERE run_id = ? AND attempt = ?",
            [ended, duration_s, outcome, error, run_id, row["attempt"]],
        )
        db.execute(
            "UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, error = ?, summary = ? WHERE id = ?",
            [outcome, ended, duration_s, error, json.dumps(summary) if summary is not None else None, run_id],
        )
        _history(db, run_id, "running", outcome, now, actor, error)
        if outcome == "succeeded":
            return outcome
        if outcome == "interrupted":
            retry_at = retry_at or now
            db.execute("UPDATE runs SET max_attempts = max_attempts + 1 WHERE id = ?", [run_id])
        if retry_at is not None:
            db.execute(
                "UPDATE runs SET status = 'queued', attempt = attempt + 1, available_at = ? WHERE id = ?",
                [iso(retry_at), run_id],
            )
            _history(db, run_id, outcome, "queued", now, actor, f"retry at {iso(retry_at)}")
            return "queued"
        db.execute("UPDATE runs SET status = 'dead' WHERE id = ?", [run_id])
        _history(db, run_id, outcome, "dead", now, actor, dead_note)
        return "dead"


def finish_successes(db: sqlite_utils.Database, items: list[dict[str, Any]], now: datetime,
                     actor: str = "runner") -> set[int]:
    """Close many running first attempts as ``succeeded`` at once (a claim batch's outcomes), inside the open
    transaction: what ``finish_attempt`` does for each, in one statement per table. Each item is ``{"id",
    "claim": (runner id, attempt), "started_at", "finished_at" (UTC datetimes), "duration_s" (seconds),
    "summary"}``. An item whose claim is no longer current (its run was recovered and handed on) is left as
    it is; their ids are returned."""
    if not items:
        return set()
    marks = ",".join("?" for _ in items)
    held = {r[0]: (r[1], r[2], r[3]) for r in db.execute(
        f"SELECT id, status, claimed_by, attempt FROM runs WHERE id IN ({marks})", [i["id"] for i in items])}
    lost = {i["id"] for i in items if held.get(i["id"]) != ("running", *i["claim"])}
    done = [i for i in items if i["id"] not in lost]
    rows = [(iso(i["started_at"]), iso(i["finished_at"]), i["duration_s"],
             json.dumps(i["summary"]) if i["summary"] is not None else None, i["id"], i["claim"][1]) for i in done]
    db.conn.executemany(
        "UPDATE run_attempts SET started_at = ?, finished_at = ?, duration_s = ?, outcome = 'succeeded', error = NULL"
        " WHERE run_id = ? AND attempt = ?", [r[:3] + r[4:] for r in rows])
    db.conn.executemany(
        "UPDATE runs SET status = 'succeeded', started_at = ?, finished_at = ?, duration_s = ?, error = NULL,"
        " summary = ? WHERE id = ?", [r[:5] for r in rows])
    at = iso(now)
    db.conn.executemany(
        "INSERT INTO run_history (run_id, from_status, to_status, at, actor, note) VALUES (?, ?, ?, ?, ?, NULL)",
        [(i["id"], "running", "succeeded", at, actor) for i in done])
    return lost


def precedes_waiting(db: sqlite_utils.Database, run: dict[str, Any], now: datetime) -> bool:
    """True when a run due at ``now`` waits in ``run``'s queue that the claim order (priority, then scheduled
    time, then id) puts before ``run``: a claim batch then starts no more of its runs (a read).

    Reads only the first waiting run in claim order (``ix_runs_claim``'s order) and compares it here: asking
    SQLite for any run before ``run`` (an OR of ranges) made it read every waiting run of the queue, 0.19 ms
    with 2,000 waiting and the store's pages cached, milliseconds when another process had just written."""
    first = db.execute(
        "SELECT priority, scheduled_at, id FROM runs WHERE status = 'queued' AND queue = ? AND available_at <= ?"
        " ORDER BY priority DESC, scheduled_at ASC, id ASC LIMIT 1", [run["queue"], iso(now)]).fetchone()
    if first is None:
        return False
    priority, scheduled_at, run_id = first
    return priority > run["priority"] or (priority == run["priority"]
                                          and (scheduled_at, run_id) < (run["scheduled_at"], run["id"]))


def release_unstarted(db: sqlite_utils.Database, run_id: int, claim: tuple[str, int], now: datetime, note: str,
                      actor: str = "runner") -> None:
    """Hand a claimed run that never started back to the queue, as if it had not been claimed: its opened
    attempt row is removed (no attempt spent, none to count), it is ``queued`` again with the same attempt
    number and due as before, and the history notes why (``note``). Raises ClaimLost, writing nothing, when
    ``claim`` (runner id, attempt) is no longer current."""
    with transaction(db):
        row = _row(db.execute("SELECT status, attempt, claimed_by FROM runs WHERE id = ?", [run_id]))
        if row is None or (row["status"], row["claimed_by"], row["attempt"]) != ("running", *claim):
            raise ClaimLost(f"run {run_id} is no longer held by this claim")
        db.execute("DELETE FROM run_attempts WHERE run_id = ? AND attempt = ? AND outcome IS NULL",
                   [run_id, row["attempt"]])
        db.execute("UPDATE runs SET status = 'queued', started_at = NULL, claimed_by = NULL, claim_batch = NULL"
                   " WHERE id = ?", [run_id])
        _history(db, run_id, "running", "queued", now, actor, note)


def runs_by_id(db: sqlite_utils.Database, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The rows of the runs ``run_ids`` by id (missing ids are absent)."""
    if not run_ids:
        return {}
    rows = _rows(db.execute(f"SELECT * FROM runs WHERE id IN ({','.join('?' for _ in run_ids)})", list(run_ids)))
    return {r["id"]: r for r in rows}


def attempts_by_run(db: sqlite_utils.Database, run_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The attempts of each of the runs ``run_ids``, first first (``run_attempts`` for many runs)."""
    out: dict[int, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
    if run_ids:
        for row in _rows(db.execute(f"SELECT * FROM run_attempts WHERE run_id IN ({','.join('?' for _ in run_ids)})"
                                    " ORDER BY run_id, attempt", list(run_ids))):
            out[row["run_id"]].append(row)
    return out


def set_evidence_many(db: sqlite_utils.Database, refs: list[tuple[int, str, str]]) -> None:
    """``set_evidence`` for many runs: ``refs`` are (run id, path, SHA-256 hex digest)."""
    with transaction(db):
        db.conn.executemany("UPDATE runs SET evidence_path = ?, evidence_sha256 = ? WHERE id = ?",
                            [(path, sha, run_id) for run_id, path, sha in refs])


def set_evidence(db: sqlite_utils.Database, run_id: int, path: str, sha256: str) -> None:
    """Record where a run's evidence file is (relative to the evidence root) and its SHA-256 hex digest."""
    with transaction(db):
        db.execute("UPDATE runs SET evidence_path = ?, evidence_sha256 = ? WHERE id = ?", [path, sha256, run_id])


def clear_evidence(db: sqlite_utils.Database, run_id: int) -> None:
    """Forget run ``run_id``'s evidence reference (its record could not be written): it shows as invalid."""
    with transaction(db):
        db.execute("UPDATE runs SET evidence_path = NULL, evidence_sha256 = NULL WHERE id = ?", [run_id])


def orphaned_runs(db: sqlite_utils.Database, lease_expired_before: datetime) -> list[dict[str, Any]]:
    """Runs left ``running`` by a runner that is gone: unregistered, or silent since before
    ``lease_expired_before`` (UTC). Runs held by a live runner (another window) are not orphans."""
    return _rows(db.execute(
        "SELECT r.* FROM runs r LEFT JOIN runners w ON w.id = r.claimed_by WHERE r.status = 'running'"
        " AND (w.id IS NULL OR w.heartbeat_at < ?) ORDER BY r.id",
        [iso(lease_expired_before)],
    ))


def interrupt_if_orphaned(db: sqlite_utils.Database, run_id: int, lease_expired_before: datetime, now: datetime,
                          error: str) -> bool:
    """In one transaction: if run ``run_id`` is still an orphan (see ``orphaned_runs``), close its attempt as
    ``interrupted`` and re-queue it (``finish_attempt``); True if it was. A run another runner recovered or
    finished meanwhile is left alone (False)."""
    with transaction(db):
        row = db.execute(
            "SELECT 1 FROM runs r LEFT JOIN runners w ON w.id = r.claimed_by WHERE r.id = ? AND r.status = 'running'"
            " AND (w.id IS NULL OR w.heartbeat_at < ?)", [run_id, iso(lease_expired_before)]).fetchone()
        if row is None:
            return False
        finish_attempt(db, run_id, outcome="interrupted", now=now, duration_s=0.0, error=error)
        return True


def retry_now(db: sqlite_utils.Database, run_id: int, actor: str, now: datetime) -> str:
    """Retry run ``run_id`` now; return what was done ('dead' or 'backoff').

    A dead run gets one more attempt (its budget raised by one); a failed run waiting out its backoff
    (queued, attempt > 1, not yet available) is made available now, as Sidekiq's "retry now" does.
    Raises KeyError if unknown, RunStateError for any other state.
    """
    with transaction(db):
        row = _row(db.execute("SELECT status, attempt, available_at FROM runs WHERE id = ?", [run_id]))
        if row is None:
            raise KeyError(run_id)
        if row["status"] == "dead":
            db.execute(
                "UPDATE runs SET status = 'queued', attempt = attempt + 1, max_attempts = attempt + 1,"
                " available_at = ?, error = NULL WHERE id = ? AND status = 'dead'",
                [iso(now), run_id],
            )
            _history(db, run_id, "dead", "queued", now, actor, "retried by operator")
            return "dead"
        if row["status"] == "queued" and row["attempt"] > 1 and row["available_at"] > iso(now):
            db.execute("UPDATE runs SET available_at = ? WHERE id = ?", [iso(now), run_id])
            _history(db, run_id, "queued", "queued", now, actor, "backoff skipped by operator")
            return "backoff"
        raise RunStateError(f"run {run_id} is {row['status']}; only a dead run, or a failed run waiting "
                            "for its retry, can be retried")


def cancel_unconfigured(db: sqlite_utils.Database, jobs: Iterable[str], actor: str, now: datetime) -> dict[str, int]:
    """Cancel every queued run of a job whose name is not in ``jobs`` (the configuration in force: a job removed
    or renamed since the run was queued; no runner of this configuration can run it, and one that claimed it
    would hold its queue's slot for ever). Each gets a history row saying why. Returns ``{job name: runs}``."""
    restrict, names = _job_filter(jobs)
    not_in = restrict.replace(" AND job_name IN", " AND job_name NOT IN").replace(" AND 0", "")
    with transaction(db):
        rows = db.execute(f"SELECT id, job_name FROM runs WHERE status = 'queued'{not_in}", names).fetchall()
        for run_id, job_name in rows:
            db.execute("UPDATE runs SET status = 'cancelled', finished_at = ? WHERE id = ?", [iso(now), run_id])
            _history(db, run_id, "queued", "cancelled", now, actor,
                     f"job {job_name} is not in the configuration in force")
    counts: dict[str, int] = {}
    for _, job_name in rows:
        counts[job_name] = counts.get(job_name, 0) + 1
    return counts


def cancel_queued(db: sqlite_utils.Database, run_id: int, actor: str, now: datetime) -> None:
    """Cancel a queued run. Raises KeyError if unknown, RunStateError if it is not queued."""
    with transaction(db):
        row = _row(db.execute("SELECT status FROM runs WHERE id = ?", [run_id]))
        if row is None:
            raise KeyError(run_id)
        if row["status"] != "queued":
            raise RunStateError(f"run {run_id} is {row['status']}; only a queued run can be cancelled")
        db.execute("UPDATE runs SET status = 'cancelled', finished_at = ? WHERE id = ?", [iso(now), run_id])
        _history(db, run_id, "queued", "cancelled", now, actor, "cancelled by operator")


# ---------------------------------------------------------------------------------------- reads


def get_run(db: sqlite_utils.Database, run_id: int) -> dict[str, Any] | None:
    """The run row with id ``run_id``, or None."""
    return _row(db.execute("SELECT * FROM runs WHERE id = ?", [run_id]))


def recent_runs(db: sqlite_utils.Database, limit: int = 200, include_skipped: bool = False) -> list[dict[str, Any]]:
    """The ``limit`` newest runs (highest id first); active runs are always included."""
    skip = "" if include_skipped else "WHERE status != 'skipped'"
    return _rows(db.execute(
        f"SELECT * FROM (SELECT * FROM runs {skip} ORDER BY id DESC LIMIT ?)"
        " UNION SELECT * FROM runs WHERE status IN ('queued', 'running') ORDER BY id DESC",
        [limit],
    ))


def run_history(db: sqlite_utils.Database, run_id: int) -> list[dict[str, Any]]:
    """Every state change of run ``run_id``, oldest first: dicts of ``id``, ``run_id``, ``from_status`` (None for
    the creation), ``to_status``, ``at`` (UTC ISO), ``actor``, ``note``. A creation as queued that has no row
    of its own (``insert_run``) comes first, read from the run's ``created_at`` and ``created_by`` (``id`` None).
    Empty for a run that does not exist (or was pruned)."""
    rows = _rows(db.execute("SELECT * FROM run_history WHERE run_id = ? ORDER BY id", [run_id]))
    if rows and rows[0]["from_status"] is None:
        return rows
    run = db.execute("SELECT created_at, created_by FROM runs WHERE id = ?", [run_id]).fetchone()
    if run is None:
        return rows
    return [{"id": None, "run_id": run_id, "from_status": None, "to_status": "queued", "at": run[0],
             "actor": run[1], "note": None}, *rows]


def run_attempts(db: sqlite_utils.Database, run_id: int) -> list[dict[str, Any]]:
    """The attempts of run ``run_id``, first first."""
    return _rows(db.execute("SELECT * FROM run_attempts WHERE run_id = ? ORDER BY attempt", [run_id]))


RAN_STATES = ("succeeded", "failed", "timed_out", "interrupted", "dead")
"""States of a run that actually ran (an attempt finished): what a job's last status is. Queued and running runs
have not finished; cancelled, skipped and coalesced ones never ran."""


def last_run_by_job(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """Per job name, its newest run that actually ran (status in RAN_STATES): a cancelled manual run, a skipped
    or coalesced tick, or a run still queued or running does not hide how the job last went."""
    marks = ", ".join("?" for _ in RAN_STATES)
    rows = _rows(db.execute(
        f"SELECT r.* FROM runs r JOIN (SELECT job_name, max(id) AS id FROM runs WHERE status IN ({marks})"
        " GROUP BY job_name) m ON r.id = m.id", list(RAN_STATES)
    ))
    return {r["job_name"]: r for r in rows}


def _by_job(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["job_name"], []).append(r)
    return out


def attempts_by_job(db: sqlite_utils.Database) -> dict[str, list[dict[str, Any]]]:
    """Per job name, its finished attempts oldest first: outcome, duration_s, attempt, finished_at."""
    return _by_job(_rows(db.execute(
        "SELECT r.job_name, a.attempt, a.outcome, a.duration_s, a.finished_at FROM run_attempts a"
        " JOIN runs r ON r.id = a.run_id WHERE a.outcome IS NOT NULL AND a.finished_at IS NOT NULL"
        " ORDER BY a.finished_at, a.id"   # an attempt's outcome and finished_at are set together (finish_attempt)
    )))


def typical_durations(db: sqlite_utils.Database, since: datetime, last: int = 20) -> dict[str, float]:
    """Per job name, the mean duration (seconds) of its ``last`` newest attempts that succeeded or failed and
    finished at or after ``since`` (jobs with none are absent)."""
    return dict(db.execute(
        "SELECT job_name, avg(duration_s) FROM (SELECT r.job_name, a.duration_s, row_number() OVER"
        " (PARTITION BY r.job_name ORDER BY a.finished_at DESC, a.id DESC) AS nth FROM run_attempts a"
        " JOIN runs r ON r.id = a.run_id WHERE a.finished_at >= ? AND a.outcome IN ('succeeded', 'failed')"
        " AND a.duration_s IS NOT NULL) WHERE nth <= ? GROUP BY job_name", [iso(since), last]).fetchall())


def finished_runs_with_evidence(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    """Runs that have an evidence record, newest first."""
    sql = ("SELECT id, job_name, job_type, status, finished_at, evidence_path, evidence_sha256 FROM runs"
           " WHERE evidence_path IS NOT NULL ORDER BY id DESC")
    if limit:
        sql += f" LIMIT {int(limit)}"
    return _rows(db.execute(sql))


def terminal_runs_by_job(db: sqlite_utils.Database) -> dict[str, list[dict[str, Any]]]:
    """Per job, its runs in a final state (succeeded, dead) with their evidence columns."""
    return _by_job(_rows(db.execute(
        "SELECT id, job_name, status, evidence_path, evidence_sha256 FROM runs"
        " WHERE status IN ('succeeded', 'dead') ORDER BY id"
    )))


def runs_waiting(db: sqlite_utils.Database) -> int:
    """How many runs are queued or running."""
    return db.execute("SELECT count(*) FROM runs WHERE status IN ('queued', 'running')").fetchone()[0]


def save_error_detail(db: sqlite_utils.Database, ref: str, run_id: int | None, at: datetime, detail: str) -> None:
    """Keep the full detail (traceback) of a masked error under its reference."""
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO error_details (ref, run_id, at, detail) VALUES (?, ?, ?, ?)",
                   [ref, run_id, iso(at), detail])


def error_detail(db: sqlite_utils.Database, ref: str) -> dict[str, Any] | None:
    """The error detail kept under ``ref``, or None."""
    return _row(db.execute("SELECT * FROM error_details WHERE ref = ?", [ref]))


def ids(rows: Iterable[dict[str, Any]]) -> list[int]:
    """The ``id`` of each row, in order."""
    return [r["id"] for r in rows]


def live_runners(db: sqlite_utils.Database, heartbeat_after: datetime) -> list[str]:
    """Ids of the runners whose heartbeat is newer than ``heartbeat_after`` (they hold leases on the store)."""
    return [r[0] for r in db.execute("SELECT id FROM runners WHERE heartbeat_at >= ? ORDER BY id",
                                     [iso(heartbeat_after)])]
def set_progress(db: sqlite_utils.Database, run_id: int, done: int, total: int | None, at: datetime) -> bool:
    """Record that running run ``run_id`` has done ``done`` of ``total`` items (patients, pages) at ``at``.

    Only a run still ``running`` is updated (a late report of a run already finished changes nothing);
    returns True if the row was updated.
    """
    with transaction(db):
        cur = db.execute(
            "UPDATE runs SET progress_done = ?, progress_total = ?, progress_at = ? WHERE id = ? AND status = 'running'",
            [int(done), None if total is None else int(total), iso(at), run_id])
        return cur.rowcount == 1
