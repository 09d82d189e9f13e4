"""Read queries of the operator console: filtered runs, counts per state, the overview's figures, a job's days.

Reads only; every instant is UTC ISO text, compared as text (the store writes them all in one format).
Each query fetches only the rows a screen shows (a LIMIT, or counts computed in SQL), so a store with
tens of thousands of runs is read in milliseconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

import sqlite_utils

from medjobs_tui.clock import iso
from medjobs_tui.store.runs import _row, _rows


def data_version(db: sqlite_utils.Database) -> int:
    """SQLite's ``PRAGMA data_version`` of this connection: it changes when another connection has committed
    since this connection last asked (never for this connection's own writes). Source: sqlite.org/pragma.html."""
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def find_runs(db: sqlite_utils.Database, *, limit: int = 200, job: str | None = None,
              statuses: Sequence[str] = (), since: datetime | None = None, text: str | None = None,
              ids: Sequence[int] = (), exclude: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The ``limit`` newest runs (highest id first) matching every filter given.

    ``job``: exact job name; ``statuses``: any of them; ``exclude``: none of them; ``since``: scheduled at or
    after (UTC);
    ``text``: case-insensitive substring of the job name, status, trigger, error, creator or the id;
    ``ids``: only these runs. Active runs (queued, running) the filters let through are always included,
    however old and however many, so a run waiting never drops off the list (``--status queued`` too).
    """
    where, params = _filters(job=job, statuses=statuses, since=since, text=text, ids=ids, exclude=exclude)
    sql = f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?"
    rows = _rows(db.execute(sql, [*params, int(limit)]))
    active = [s for s in ("queued", "running") if (not statuses or s in statuses) and s not in exclude]
    if active and not ids and len(rows) == limit:
        have = {r["id"] for r in rows}
        where_a, params_a = _filters(job=job, statuses=active, since=since, text=text, ids=(), exclude=())
        rows += [r for r in _rows(db.execute(f"SELECT * FROM runs {where_a} ORDER BY id DESC", params_a))
                 if r["id"] not in have]
    return rows


def _filters(*, job, statuses, since, text, ids, exclude) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if exclude:
        clauses.append(f"status NOT IN ({','.join('?' for _ in exclude)})")
        params += list(exclude)
    if job:
        clauses.append("job_name = ?")
        params.append(job)
    if statuses:
        clauses.append(f"status IN ({','.join('?' for _ in statuses)})")
        params += list(statuses)
    if since is not None:
        clauses.append("scheduled_at >= ?")
        params.append(iso(since))
    if text:
        like = f"%{text.lower()}%"
        clauses.append("(lower(job_name) LIKE ? OR status LIKE ? OR trigger LIKE ? OR lower(coalesce(error, '')) LIKE ?"
                       " OR lower(created_by) LIKE ? OR CAST(id AS TEXT) = ?)")
        params += [like, like, like, like, like, text]
    if ids:
        clauses.append(f"id IN ({','.join('?' for _ in ids)})")
        params += [int(i) for i in ids]
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def status_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """How many runs are in each state (``{"queued": 3, "dead": 1, ...}``)."""
    return dict(db.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())


def live_runners(db: sqlite_utils.Database, heartbeat_after: datetime) -> list[dict[str, Any]]:
    """Runners whose heartbeat is newer than ``heartbeat_after`` (UTC): id, started_at, heartbeat_at."""
    return _rows(db.execute("SELECT id, started_at, heartbeat_at FROM runners WHERE heartbeat_at >= ? ORDER BY started_at",
                            [iso(heartbeat_after)]))


def attempts_per_minute(db: sqlite_utils.Database, since: datetime) -> list[tuple[str, str, int]]:
    """``(minute, outcome, count)`` of attempts finished since ``since`` (UTC); ``minute`` is ``YYYY-MM-DDTHH:MM``."""
    return [tuple(r) for r in db.execute(
        "SELECT substr(finished_at, 1, 16) AS minute, outcome, count(*) FROM run_attempts"
        " WHERE finished_at >= ? AND outcome IS NOT NULL GROUP BY minute, outcome", [iso(since)]).fetchall()]


def queue_load(db: sqlite_utils.Database) -> dict[str, dict[str, int]]:
    """Per queue, how many runs are queued and running, and how many of its slots the running ones hold (the
    runs of one claim batch hold one slot, as the queue's concurrency counts them):
    ``{"clinical": {"queued": 2, "running": 3, "busy": 1}}``."""
    out: dict[str, dict[str, int]] = {}
    for queue, status, n, slots in db.execute(
            "SELECT queue, status, count(*), count(DISTINCT coalesce(claim_batch, id)) FROM runs"
            " WHERE status IN ('queued', 'running') GROUP BY queue, status").fetchall():
        out.setdefault(queue, {})[status] = n
        if status == "running":
            out[queue]["busy"] = slots
    return out


def staff_alerts_since(db: sqlite_utils.Database, since: datetime) -> int:
    """How many notifications to staff (alerts: dead runs, interactions, critical supply) were written since ``since``."""
    return db.execute("SELECT count(*) FROM notifications WHERE audience = 'staff' AND created_at >= ?",
                      [iso(since)]).fetchone()[0]


def job_attempts_since(db: sqlite_utils.Database, job: str, since: datetime) -> list[dict[str, Any]]:
    """The finished attempts of ``job`` since ``since`` (UTC), oldest first: finished_at, outcome, duration_s."""
    return _rows(db.execute(
        "SELECT a.finished_at, a.outcome, a.duration_s FROM run_attempts a JOIN runs r ON r.id = a.run_id"
        " WHERE r.job_name = ? AND a.finished_at >= ? AND a.outcome IS NOT NULL ORDER BY a.finished_at",
        [job, iso(since)]))


def job_of_run(db: sqlite_utils.Database, run_id: int) -> str | None:
    """The job name of run ``run_id``, or None."""
    row = _row(db.execute("SELECT job_name FROM runs WHERE id = ?", [run_id]))
    return row["job_name"] if row else None
