"""The store is SQLCipher ciphertext: no key, a wrong key or a plain SQLite file gives one clear line and
changes nothing; files are 0600 in 0700 folders; the store key can be rotated (crash-safe)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.console import Actor, Console, ConsoleError
from medjobs_tui.console.operations import PermissionDenied
from medjobs_tui.security import keys as keys_mod
from medjobs_tui.security.keys import load_keys
from medjobs_tui.store import StoreError, connect
from medjobs_tui.store import runs as store_runs
from tests.conftest import STORE_KEY, TEST_KEYS, write_config

ADMIN = Actor("ada", "admin")


def medjobs(config, *args, env=None):
    return subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def _store_with_a_marker(path):
    db = connect(path, STORE_KEY)
    db.execute("CREATE TABLE IF NOT EXISTS marker (v TEXT)")
    db.execute("INSERT INTO marker VALUES ('Jacinto644 Kris249 1970-05-04')")
    return db


def test_database_and_wal_are_ciphertext(tmp_path):
    path = tmp_path / "data" / "medjobs.db"
    db = _store_with_a_marker(path)
    raw = b"".join(p.read_bytes() for p in path.parent.glob("medjobs.db*"))
    assert (tmp_path / "data" / "medjobs.db-wal").exists()
    assert b"SQLite format 3" not in raw and b"Jacinto644" not in raw and b"CREATE TABLE" not in raw
    db.close()
    with pytest.raises(sqlite3.DatabaseError):  # plain SQLite cannot read it
        sqlite3.connect(path).execute("SELECT * FROM sqlite_master").fetchall()


def test_store_files_and_folders_are_private(tmp_path):
    old = os.umask(0o022)  # even under a permissive umask
    try:
        path = tmp_path / "new" / "data" / "medjobs.db"
        _store_with_a_marker(path).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_a_wrong_key_is_one_line_and_changes_nothing(tmp_path):
    path = tmp_path / "medjobs.db"
    _store_with_a_marker(path).close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="store key does not open") as err:
        connect(path, os.urandom(32))
    assert "\n" not in str(err.value)
    assert path.read_bytes() == before and not (tmp_path / "medjobs.db-wal").exists()


def test_a_plain_sqlite_store_is_refused_untouched(tmp_path):
    path = tmp_path / "medjobs.db"
    plain = sqlite3.connect(path)
    plain.execute("CREATE TABLE schema_version (version INTEGER)")
    plain.commit()
    plain.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="unencrypted SQLite file"):
        connect(path, STORE_KEY)
    assert path.read_bytes() == before


def test_cli_with_a_missing_key_file_says_so_in_one_line(tmp_path):
    config = write_config(tmp_path)
    assert medjobs(config, "demo").returncode == 0
    (tmp_path / "keys" / "medjobs.key").unlink()
    done = medjobs(config, "jobs")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "no key file" in done.stderr


def test_cli_with_a_wrong_key_says_so_in_one_line_and_changes_nothing(tmp_path):
    config = write_config(tmp_path)
    assert medjobs(config, "demo").returncode == 0
    settings = load_settings(config)
    other, _ = keys_mod.new_keys()
    keys_mod.write_key_file(settings, other)
    before = settings.database_path.read_bytes()
    done = medjobs(config, "runs")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "store key does not open" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert settings.database_path.read_bytes() == before


def test_demo_in_a_fresh_folder_creates_keys_and_an_encrypted_store(tmp_path):
    config = write_config(tmp_path, keys=False)
    done = medjobs(config, "demo")
    assert done.returncode == 0, done.stderr
    assert "recovery key" in done.stdout
    settings = load_settings(config)
    assert stat.S_IMODE((tmp_path / "keys" / "medjobs.key").stat().st_mode) == 0o600
    assert not settings.database_path.read_bytes().startswith(b"SQLite format 3")
    for p in settings.database_path.parent.iterdir():
        if p.is_file():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_rotation_rekeys_the_store_and_rewraps_the_recovery_copy(tmp_path):
    from tests.conftest import TEST_RECOVERY_KEY

    settings = load_settings(write_config(tmp_path))
    keys_mod.write_recovery_copy(settings, TEST_KEYS)
    console = Console(settings)
    console.write_demo(ADMIN)
    console.rotate_store_key(ADMIN)
    new = load_keys(settings)
    assert new.store != STORE_KEY and new.audit == TEST_KEYS.audit and new.backup == TEST_KEYS.backup
    assert new.previous_store is None
    with pytest.raises(StoreError, match="store key does not open"):
        connect(settings.database_path, STORE_KEY)
    db = connect(settings.database_path, new.store)
    assert db.execute("SELECT count(*) FROM patients").fetchone()[0] == 50
    assert db.execute("SELECT outcome FROM audit_log WHERE action = 'key.rotate'").fetchall() == [("ok",)]
    assert keys_mod.recover_keys(settings, TEST_RECOVERY_KEY).store == new.store
    assert console.jobs()  # the console goes on with the new key
    console.close()


def test_rotation_is_for_admins_and_not_while_a_runner_holds_a_lease(tmp_path, clock):
    settings = load_settings(write_config(tmp_path))
    console = Console(settings, clock=clock)
    with pytest.raises(PermissionDenied):
        console.rotate_store_key(Actor("olga", "operator"))
    store_runs.register_runner(console.db, "host:1:abc", clock.now())
    with pytest.raises(ConsoleError, match="runner holds a lease"):
        console.rotate_store_key(ADMIN)
    assert load_keys(settings).store == STORE_KEY
    console.close()


def test_an_interrupted_rotation_is_settled_by_the_next_load(tmp_path):
    settings = load_settings(write_config(tmp_path))
    _store_with_a_marker(settings.database_path).close()
    rotating = keys_mod.start_rotation(settings, TEST_KEYS)  # crash here: file has the new key, store the old
    settled = load_keys(settings)
    assert settled.store == rotating.store and settled.previous_store is None
    db = connect(settings.database_path, settled.store)
    assert db.execute("SELECT v FROM marker").fetchone()[0].startswith("Jacinto644")


def test_no_sqlite_utils_plugin_runs_on_the_store_connection(tmp_path, monkeypatch):
    """A package installed beside MedJobs could register a sqlite-utils ``prepare_connection`` hook: it must
    never run on the encrypted store's connection (it would see every row)."""
    import sqlite_utils.db

    from medjobs_tui.store import connect

    def plugin_hook(**_):
        raise AssertionError("a sqlite-utils plugin ran on the store's connection")

    monkeypatch.setattr(sqlite_utils.db, "ensure_plugins_loaded", lambda: None)
    monkeypatch.setattr(sqlite_utils.db.pm.hook, "prepare_connection", plugin_hook)
    db = connect(tmp_path / "s.db", STORE_KEY)
    assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    db.close()
