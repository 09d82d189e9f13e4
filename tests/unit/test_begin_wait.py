"""Taking the write lock: a transaction waits for another writer in fine steps, for as long as its connection's busy
timeout, and leaves that timeout as it was."""

from __future__ import annotations

import threading
import time

import pytest

from medjobs_tui.store import connect, transaction
from medjobs_tui.store import db as store_db
from tests.conftest import STORE_KEY


def busy_ms(db) -> int:
    return db.execute("PRAGMA busy_timeout").fetchone()[0]


def hold_lock(path, seconds: float) -> threading.Event:
    """Another connection takes the write lock and releases it after ``seconds``; returns an event set once held."""
    held = threading.Event()

    def run() -> None:
        other = connect(path, STORE_KEY)
        other.conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        other.conn.execute("ROLLBACK")
        other.close()

    threading.Thread(target=run, daemon=True).start()
    assert held.wait(10)
    return held


def test_a_transaction_waits_for_a_writer_that_lets_go_within_the_busy_timeout(tmp_path):
    db = connect(tmp_path / "s.db", STORE_KEY)
    before = busy_ms(db)
    hold_lock(tmp_path / "s.db", 0.2)
    with transaction(db):
        db.execute("CREATE TABLE t (x)")
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0] == 1
    assert busy_ms(db) == before


def test_a_writer_holding_the_lock_past_the_busy_timeout_gives_database_is_locked(tmp_path, monkeypatch):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 100)
    db = connect(tmp_path / "s.db", STORE_KEY)
    hold_lock(tmp_path / "s.db", 2.0)
    started = time.monotonic()
    with pytest.raises(store_db.OperationalError, match="locked"):
        with transaction(db):
            pass
    assert time.monotonic() - started < 1.5          # it gave up at its own timeout, not the holder's release
    assert busy_ms(db) == 100 and not db.conn.in_transaction


def test_the_wait_polls_in_fine_steps_not_sqlites_coarse_ones(tmp_path):
    """SQLite's own handler sleeps 1, 2, 5, 10 ... ms between tries (seven tries in the first 30 ms); the wait
    asks again after 0.1 ms, doubling to 0.5 ms, so against a lock held 30 ms it tries more often."""
    db = connect(tmp_path / "s.db", STORE_KEY)
    tries = []
    db.conn.set_trace_callback(lambda sql: tries.append(sql) if sql == "BEGIN IMMEDIATE" else None)
    hold_lock(tmp_path / "s.db", 0.03)
    with transaction(db):
        pass
    db.conn.set_trace_callback(None)
    assert len(tries) > 25                   # 0.5 ms steps: about 60 tries in 30 ms (2 ms steps: about 18)


def test_writers_of_one_process_take_turns_without_polling_the_store(tmp_path, monkeypatch):
    """Two threads of one process writing the same store: the second waits on the process's mutex and starts
    the moment the first commits, never polling SQLite (no sleep of the polling loop), and sees its write."""
    path = tmp_path / "s.db"
    first, second = connect(path, STORE_KEY), connect(path, STORE_KEY)
    with transaction(first):
        first.execute("CREATE TABLE t (x)")
    sleeps = []
    real_sleep = time.sleep
    monkeypatch.setattr(store_db.time, "sleep", lambda s: (sleeps.append(s), real_sleep(s)))
    inside, release, seen = threading.Event(), threading.Event(), []

    def hold() -> None:
        with transaction(first):
            first.execute("INSERT INTO t VALUES (1)")
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)

    def write() -> None:
        with transaction(second):
            seen.append(second.execute("SELECT count(*) FROM t").fetchone()[0])
            second.execute("INSERT INTO t VALUES (2)")

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(0.2)
    assert writer.is_alive() and seen == []           # waiting for the first writer
    release.set()
    holder.join(10)
    writer.join(10)
    assert seen == [1] and sleeps == []               # it went in after the commit, without a polling step
    assert first.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    assert not first.conn.in_transaction and not second.conn.in_transaction


def test_a_writer_of_this_process_holding_the_store_past_the_busy_timeout_gives_database_is_locked(
        tmp_path, monkeypatch):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "s.db"
    first, second = connect(path, STORE_KEY), connect(path, STORE_KEY)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction(first):
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)
    started = time.monotonic()
    with pytest.raises(store_db.OperationalError, match="locked"):
        with transaction(second):
            pass
    assert time.monotonic() - started < 1.5 and not second.conn.in_transaction
    release.set()
    holder.join(10)
    with transaction(second):                         # the mutex was given back: the store is writable again
        second.execute("CREATE TABLE u (x)")


def test_a_child_forked_while_a_thread_writes_can_write_at_once(tmp_path):
    """A process forked while another thread of its parent holds the writers' mutex gets mutexes of its own."""
    import os

    path = tmp_path / "s.db"
    db = connect(path, STORE_KEY)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction(db):
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)
    store_db._WRITERS_LOCK.acquire()                # as if another thread were opening a connection
    try:
        pid = os.fork()
    finally:
        if pid:
            store_db._WRITERS_LOCK.release()
    if pid == 0:                                   # the child: the holder thread does not exist here
        code = 1
        try:
            code = 0 if store_db._WRITER_OF[id(db.conn)].acquire(timeout=1) else 3
            code = code or (0 if store_db._WRITERS_LOCK.acquire(timeout=1) else 4)
        finally:
            os._exit(code)
    release.set()
    holder.join(10)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
