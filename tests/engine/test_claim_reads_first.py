"""A claim that finds nothing to claim (every queue full, nothing due) takes no write lock: the runner's idle
polls cost a read, not a write transaction (issue 10 item 5)."""

from __future__ import annotations

from datetime import timedelta

from medjobs_tui.store import connect
from medjobs_tui.store import db as store_db
from medjobs_tui.store import runs as store_runs
from tests.conftest import STORE_KEY


def test_a_claim_with_nothing_to_claim_does_not_wait_for_the_write_lock(settings, clock, monkeypatch):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 20)     # a claim that wanted the lock would fail at once
    db = connect(settings.database_path, STORE_KEY)
    locker = connect(settings.database_path, STORE_KEY)
    locker.conn.execute("BEGIN IMMEDIATE")                    # someone else holds the write lock
    try:
        assert store_runs.claim_next(db, {"clinical": 2}, clock.now()) is None       # nothing queued
        assert store_runs.claim_next(db, {}, clock.now()) is None                    # no queue open
        assert store_runs.claim_next(db, {"clinical": 2}, clock.now(), only=[]) is None
    finally:
        locker.conn.execute("ROLLBACK")
    db.close()
    locker.close()
