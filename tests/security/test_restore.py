"""Backups you can restore: a changed backup file is caught by `backup verify`, by restore and by the backups
list; restore round-trips the data, keeps the old store aside, is admin-only, audited and refused while a
runner holds a lease."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.console import Actor, Console, ConsoleError
from medjobs_tui.console.operations import PermissionDenied
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.security import audit
from medjobs_tui.store import runs as store_runs
from tests.conftest import FIXED_NOW, flip_a_byte, write_config

ADMIN, OPERATOR = Actor("ada", "admin"), Actor("olga", "operator")


@pytest.fixture
def console(tmp_path, clock):
    c = Console(load_settings(write_config(tmp_path)), clock=clock)
    c.write_demo(ADMIN)
    yield c
    c.close()


def backup(console) -> Path:
    s = console.settings
    summary = get_handler("backup")(JobContext(db=console.db, settings=s, job_name="backup",
                                               job=s.jobs["backup"], now=FIXED_NOW, run_id=None))
    return s.backups_dir / summary["file"]


def count(console, table="dose_log") -> int:
    return console.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_backup_and_its_keys_copy_are_encrypted_and_private(console):
    path = backup(console)
    assert not path.read_bytes().startswith(b"SQLite format 3")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.with_suffix(".manifest.json").stat().st_mode & 0o777) == "0o600"
    assert (console.settings.backups_dir / "medjobs.recovery.json").exists()
    assert not list(console.settings.backups_dir.glob("*.tmp"))


def test_verify_a_good_backup_then_a_changed_one(console):
    path = backup(console)
    manifest = console.verify_backup_file(ADMIN, path)
    assert manifest["encrypted"] is True
    assert [b.intact for b in console.backups()] == [True]
    flip_a_byte(path)
    with pytest.raises(ConsoleError, match="SHA-256 differs"):
        console.verify_backup_file(ADMIN, path)
    assert [b.intact for b in console.backups()] == [False]      # the backups view notices too
    assert [(e["action"], e["outcome"]) for e in audit.entries(console.db, action="backup.verify")] == \
        [("backup.verify", "error"), ("backup.verify", "ok")]


@pytest.mark.parametrize("where", ["second page", "byte 50000", "last page"])
def test_a_copy_changed_with_a_matching_manifest_is_still_caught_by_its_page_macs(console, where):
    """Someone who rewrites the manifest's hash too: SQLCipher's per-page HMAC fails on reading that page,
    wherever it is (a damaged data page once surfaced as a MemoryError traceback from the row counts)."""
    import json

    from medjobs_tui.jobs.backup import sha256_of

    path = backup(console)
    size = path.stat().st_size
    flip_a_byte(path, {"second page": 4096 + 100, "byte 50000": min(50_000, size - 200),
                       "last page": size - 100}[where])
    mpath = path.with_suffix(".manifest.json")
    manifest = json.loads(mpath.read_text())
    manifest["sha256"] = sha256_of(path)
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(ConsoleError, match="NOT verified"):
        console.verify_backup_file(ADMIN, path)


def test_restore_round_trip_keeps_the_old_store_aside(console):
    path = backup(console)
    before = count(console)
    console.db.execute("DELETE FROM dose_log WHERE id IN (SELECT id FROM dose_log LIMIT 10)")
    assert count(console) == before - 10
    aside = console.restore(ADMIN, path).kept_as
    assert count(console) == before
    assert aside.exists() and aside.name.startswith("medjobs.db.before-restore-")
    restores = audit.entries(console.db, action="store.restore")
    assert [e["outcome"] for e in restores] == ["ok", "ok"] and "backup_head" in restores[0]["detail"]
    assert "replacing this store" in restores[1]["detail"]     # written before, carried over from the old store
    v = console.audit_verify(ADMIN)
    assert v.ok, v.line()                      # checkpoints of the replaced chain do not count against it


def test_restore_refuses_a_changed_backup_and_changes_nothing(console):
    path = backup(console)
    flip_a_byte(path)
    live = console.settings.database_path
    with pytest.raises(ConsoleError, match="not restored.*SHA-256"):
        console.restore(ADMIN, path)
    assert not list(live.parent.glob("*.before-restore-*"))
    assert audit.entries(console.db, action="store.restore")[0]["outcome"] == "error"


def test_restore_is_admin_only_and_refused_while_a_runner_holds_a_lease(console, clock):
    path = backup(console)
    with pytest.raises(PermissionDenied):
        console.restore(OPERATOR, path)
    store_runs.register_runner(console.db, "host:1:abc", clock.now())
    with pytest.raises(ConsoleError, match="runner holds a lease"):
        console.restore(ADMIN, path)


def test_restore_removes_stale_wal_and_shm(console):
    path = backup(console)
    live = console.settings.database_path
    console.close()
    Path(f"{live}-shm").write_bytes(b"stale")
    console.restore(ADMIN, path)
    assert count(console, "patients") == 50


def _signed_in_admin(console, folder):
    """User ada (admin) in the store, added without an audit entry, and a password file for the CLI."""
    from medjobs_tui.security.passwords import HashParams, hash_password
    from medjobs_tui.store import transaction as write
    from medjobs_tui.store import users as store_users
    from tests.conftest import PASSWORD, password_file

    with write(console.db):
        store_users.insert(console.db, username="ada", role="admin", now=FIXED_NOW,
                           password_hash=hash_password(PASSWORD, HashParams(8, 1, 1)))
    return password_file(folder)


def _cli(config, *args, stdin=""):
    return subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "--user", "ada",
                           *args], capture_output=True, text=True, timeout=120, input=stdin,
                          env={**os.environ, "MEDJOBS_PASSWORD_FILE": str(Path(config).parent / "password.txt")})


def test_cli_backup_verify_and_restore(console, tmp_path):
    _signed_in_admin(console, tmp_path)
    path = backup(console)
    config = tmp_path / "config.yaml"
    done = _cli(config, "backup", "verify", str(path))
    assert done.returncode == 0 and "verified" in done.stdout, done.stderr
    flip_a_byte(path)
    bad = _cli(config, "backup", "verify", str(path))
    assert bad.returncode == 1 and "SHA-256" in bad.stderr and "Traceback" not in bad.stderr
    assert "NO (changed)" in _cli(config, "backup", "list").stdout
    refused = _cli(config, "restore", str(path), "--yes")
    assert refused.returncode == 1 and "not restored" in refused.stderr
    flip_a_byte(path)  # back as it was
    no = _cli(config, "restore", str(path), stdin="n\n")
    assert no.returncode != 0 and not list(console.settings.database_path.parent.glob("*.before-restore-*"))
    console.close()
    yes = _cli(config, "restore", str(path), "--yes")
    assert yes.returncode == 0 and "restored" in yes.stdout, yes.stderr
    assert "audit entries written after the backup carried over" in " ".join(yes.stdout.split())


def _after_backup(console) -> list[dict]:
    """Audit entries written after a backup: a pause, a resume and an audit listing by the admin."""
    console.pause(ADMIN, "backup")
    console.resume(ADMIN, "backup")
    console.audit_list(ADMIN, limit=5)
    return audit.store_audit.entries(console.db)


def test_restore_keeps_the_audit_entries_written_after_the_backup(console):
    """The restored store's data is the backup's, but its audit trail is not cut back to the backup's head:
    the entries written since are carried over (same ids and MACs), then the restore itself follows."""
    path = backup(console)
    head = json.loads(path.with_suffix(".manifest.json").read_text())["audit_head"]   # the backup's own head
    before = _after_backup(console)
    later = [(e["id"], e["action"], e["hash"]) for e in before if e["id"] > head["id"]]
    assert [a for _, a, _ in later] == ["backup.create", "job.pause", "job.resume", "audit.list"]
    done = console.restore(ADMIN, path)
    assert done.audit_problem is None and done.audit_carried == done.audit_after_backup == len(later) + 1
    after = audit.store_audit.entries(console.db)
    assert [(e["id"], e["action"], e["hash"]) for e in after[:len(before)]] == \
        [(e["id"], e["action"], e["hash"]) for e in before]
    assert [(e["action"], json.loads(e["detail"]).get("phase")) for e in after[len(before):]] == \
        [("store.restore", "replacing this store"), ("store.restore", None)]
    assert json.loads(after[-1]["detail"])["audit_carried_over"] == len(later) + 1
    backup(console)                               # a checkpoint of the restored chain, past the old one
    v = console.audit_verify(ADMIN)
    assert v.ok and v.count == len(after) + 1 and v.checkpoints == 2, v.line()


def test_restore_reports_a_changed_audit_tail_in_the_store_kept_aside(console):
    """Someone edited an entry written after the backup (dropping the append-only trigger): the entries
    before it are carried over, it and the later ones are not, and the restore says so in the audit trail."""
    from medjobs_tui.store import transaction as write

    path = backup(console)
    head = json.loads(path.with_suffix(".manifest.json").read_text())["audit_head"]   # the backup's own head
    _after_backup(console)
    edited = head["id"] + 3                          # the job.resume entry
    with write(console.db):
        console.db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        console.db.execute("UPDATE audit_log SET outcome = 'denied' WHERE id = ?", [edited])
    done = console.restore(ADMIN, path)
    assert done.audit_carried == 2 and done.audit_after_backup == 5
    assert done.audit_problem == f"entry {edited}'s MAC does not fit its content (changed, or written without the audit key)"
    entries = audit.store_audit.entries(console.db)
    assert [e["action"] for e in entries[head["id"]:]] == [
        "backup.create", "job.pause", "audit.carry_over", "store.restore"]
    flagged = entries[-2]
    assert flagged["outcome"] == "error" and json.loads(flagged["detail"])["left_out"] == 3
    assert console.audit_verify(ADMIN).ok          # the new chain itself is sound; the break is recorded in it


def test_a_restore_whose_store_kept_aside_forked_from_the_backup_carries_nothing_over(console):
    """The entry at the backup's head differs in the store kept aside (not the same history): nothing of
    it continues the restored chain."""
    from medjobs_tui.store import transaction as write

    path = backup(console)
    head = json.loads(path.with_suffix(".manifest.json").read_text())["audit_head"]   # the backup's own head
    _after_backup(console)
    with write(console.db):
        console.db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        console.db.execute("UPDATE audit_log SET hash = ? WHERE id = ?", ["f" * 64, head["id"]])
    done = console.restore(ADMIN, path)
    assert done.audit_carried == 0 and "differs from this chain's head" in done.audit_problem
    assert [e["action"] for e in audit.store_audit.entries(console.db)[head["id"]:]] == [
        "audit.carry_over", "store.restore"]
