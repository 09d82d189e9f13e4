"""Staging an attempt's evidence record before its outcome is recorded, outside the write lock.

The worker that ran the attempt (or, for outcomes no worker reports, the runner) builds the record the run
will have once ``store.runs.finish_attempt`` has closed the attempt (``row_after``: the same rules, in
Python) and writes it under a temporary name of its own (``engine.evidence.stage_record``). The outcome's
transaction (``engine.outcomes.record``) then checks, after the fence check, that the staged record is
exactly the record of the run as the transaction has it (``place``): only then is it renamed into place
and linked into the evidence chain; otherwise the transaction writes the record itself. A staged file that
is not placed (its claim was lost, its guess was wrong) is removed (``discard``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medjobs_tui.clock import iso
from medjobs_tui.config import Settings
from medjobs_tui.engine import evidence
from medjobs_tui.security import audit
from medjobs_tui.store import runs as store_runs

log = logging.getLogger(__name__)

RETRIED_OUTCOMES = ("failed", "timed_out", "crashed")
"""Outcomes that spend an attempt and are retried by the job's retry policy (then dead)."""


@dataclass
class Staged:
    """An evidence record written under a temporary name (``tmp``, next to ``relpath`` under the evidence
    root) before its outcome's transaction; ``record`` is the document, ``sha256`` the file's hex digest."""

    record: dict[str, Any]
    relpath: str
    tmp: str
    sha256: str
    placed: bool = False


def requeued(run: dict[str, Any], status: str, permanent: bool = False) -> bool:
    """Whether an attempt of ``run`` (the row as claimed) that ended ``status`` puts the run back in the queue:
    an interrupted one always; a failed, timed-out or crashed one while attempts are left (not a permanent
    error); a success never (as ``engine.retry.next_attempt_at``: None once ``attempt >= max_attempts``)."""
    if status == "interrupted":
        return True
    return status in RETRIED_OUTCOMES and not permanent and run["attempt"] < run["max_attempts"]


def row_after(run: dict[str, Any], *, status: str, error: str | None, summary: Any, finished_at: datetime,
              duration_s: float, again: bool) -> dict[str, Any]:
    """The runs row of ``run`` (as claimed) once ``store.runs.finish_attempt`` has closed its attempt with
    ``status`` at ``finished_at`` (``again``: re-queued, see ``requeued``)."""
    row = dict(run, finished_at=iso(finished_at), duration_s=duration_s, error=error,
               summary=json.dumps(summary) if summary is not None else None)
    if status == "interrupted":
        row["max_attempts"] = run["max_attempts"] + 1
    if status != "succeeded":
        if again:
            status = "queued"
            row["attempt"] = run["attempt"] + 1
        else:
            status = "dead"
    row["status"] = status
    return row


def stage(db, settings: Settings, run: dict[str, Any], *, status: str, error: str | None, summary: Any,
          finished_at: datetime, duration_s: float, permanent: bool = False,
          audit_head: dict[str, Any] | None = None) -> Staged | None:
    """Write the evidence record the attempt of ``run`` (the row as claimed) will give it once its outcome
    (``status``, masked ``error``, handler ``summary``, ``finished_at`` UTC, ``duration_s`` seconds, rounded
    as stored) is recorded, under a temporary name; reads ``db`` only (no transaction). ``audit_head``: the
    audit chain's head to name, if the caller has read it (a claim batch reads it once); else read here.
    Returns None when it cannot be written (the outcome's transaction then writes the record itself)."""
    try:
        this = {"attempt": run["attempt"], "started_at": run["started_at"], "finished_at": iso(finished_at),
                "duration_s": duration_s, "outcome": status, "error": error}
        if run["attempt"] == 1:
            attempts = [this]
        else:
            attempts = [dict(a, **this) if a["attempt"] == run["attempt"] else a
                        for a in store_runs.run_attempts(db, run["id"])]
        row = row_after(run, status=status, error=error, summary=summary, finished_at=finished_at,
                        duration_s=duration_s, again=requeued(run, status, permanent))
        record = evidence.build_record(row, attempts, settings, audit_head=audit_head or audit.head(db))
        relpath = evidence.evidence_relpath(run)
        tmp, sha = evidence.stage_record(settings.evidence_dir, relpath, record)
    except Exception as exc:  # noqa: BLE001 - the transaction writes (or clears) the record itself
        log.debug("evidence of run %s not staged: %s", run.get("id"), type(exc).__name__)
        return None
    return Staged(record, relpath, tmp, sha)


def place(db, settings: Settings, run_id: int, staged: Staged) -> dict[str, Any] | None:
    """Inside the outcome's transaction: if ``staged`` is exactly the record of run ``run_id`` as the
    transaction has it, rename it into place and return the run row (the caller links it); else None."""
    run = store_runs.get_run(db, run_id)
    return run if place_as(settings, run, store_runs.run_attempts(db, run_id), staged) else None


def place_as(settings: Settings, run: dict[str, Any], attempts: list[dict[str, Any]], staged: Staged,
             root: str | None = None) -> bool:
    """``place`` given the run row and its attempt rows as the transaction has them: True if ``staged`` is
    exactly their record and was renamed into place. ``root``: the evidence folder as a string, if the caller
    places many (else read from ``settings``)."""
    expected = evidence.build_record(run, attempts, settings, audit_head=staged.record.get("audit_head"))
    if expected != staged.record or evidence.evidence_relpath(run) != staged.relpath:
        return False
    try:
        os.replace(staged.tmp, evidence.record_path(root if root is not None else settings.evidence_dir,
                                                       staged.relpath))
    except OSError:
        return False
    staged.placed = True
    return True


def discard(staged: Staged | None) -> None:
    """Remove ``staged``'s temporary file unless it was placed."""
    if staged is None or staged.placed:
        return
    try:
        os.unlink(staged.tmp)
    except OSError:
        pass
