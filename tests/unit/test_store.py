"""The store: WAL mode, a versioned schema brought up to date by ordered migrations, data kept across them."""

from __future__ import annotations

import sqlite3

import pytest

from medjobs_tui.store import StoreError, connect, schema_version
from medjobs_tui.store import db as store_db
from medjobs_tui.store.schema import MIGRATIONS
from tests.conftest import STORE_KEY


def test_new_store_is_in_wal_mode_at_the_latest_schema_version(tmp_path):
    db = connect(tmp_path / "m.db", STORE_KEY)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert schema_version(db) == max(v for v, _, _ in MIGRATIONS)
    assert [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")] == \
        [m[0] for m in MIGRATIONS]


def test_an_older_store_is_migrated_in_order_and_keeps_its_rows(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS[:1])
    old = connect(path, STORE_KEY)
    old.execute("INSERT INTO jobs (name, job_type, paused) VALUES ('backup', 'backup', 1)")
    assert schema_version(old) == 1
    old.close()
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS)
    db = connect(path, STORE_KEY)
    assert schema_version(db) == max(v for v, _, _ in MIGRATIONS)
    assert db.execute("SELECT paused FROM jobs WHERE name = 'backup'").fetchone() == (1,)
    assert "claimed_by" in {c.name for c in db["runs"].columns}
    connect(path, STORE_KEY).close()  # opening again migrates nothing
    assert db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def test_a_file_that_is_not_sqlite_is_refused_with_its_path(tmp_path):
    bad = tmp_path / "medjobs.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=str(bad)):
        connect(bad, STORE_KEY)
    assert bad.read_bytes().startswith(b"this is not")  # left as it was


def test_schema_change_in_a_failed_migration_is_rolled_back(tmp_path, monkeypatch):
    broken = MIGRATIONS + [(99, "broken", "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;")]
    monkeypatch.setattr(store_db, "MIGRATIONS", broken)
    with pytest.raises((StoreError, store_db.Error)):
        connect(tmp_path / "b.db", STORE_KEY)
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS)
    db = connect(tmp_path / "b.db", STORE_KEY)
    assert not db["half"].exists()
    assert schema_version(db) == max(v for v, _, _ in MIGRATIONS)


def test_another_applications_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "other.db"
    other = store_db.open_keyed(path, STORE_KEY)  # encrypted with the same key, but not MedJobs'
    other.execute("CREATE TABLE patients (name TEXT)")
    other.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="something else"):
        connect(path, STORE_KEY)
    assert path.read_bytes() == before
    assert not (tmp_path / "other.db-wal").exists()


def test_a_store_from_a_newer_medjobs_is_refused(tmp_path):
    db = connect(tmp_path / "n.db", STORE_KEY)
    db.execute("INSERT INTO schema_version VALUES (999, 'from the future', '2030-01-01T00:00:00+00:00')")
    db.close()
    with pytest.raises(StoreError, match="newer MedJobs"):
        connect(tmp_path / "n.db", STORE_KEY)


def test_a_migration_numbered_below_the_highest_is_still_applied(tmp_path, monkeypatch):
    """Parallel branches land migrations out of number order: a gap below the highest is filled."""
    first, second = MIGRATIONS[0], MIGRATIONS[1]
    late = (5, "a late migration", "CREATE TABLE late_table (id INTEGER PRIMARY KEY);")
    high = (9, "a high migration", "CREATE TABLE high_table (id INTEGER PRIMARY KEY);")
    monkeypatch.setattr(store_db, "MIGRATIONS", [first, second, high])
    connect(tmp_path / "g.db", STORE_KEY).close()
    monkeypatch.setattr(store_db, "MIGRATIONS", [first, second, late, high])
    db = connect(tmp_path / "g.db", STORE_KEY)
    assert db["late_table"].exists()
    assert store_db.applied_versions(db) == {1, 2, 5, 9}
