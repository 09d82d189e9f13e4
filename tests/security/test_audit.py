"""The keyed audit trail: an HMAC-SHA256 chain under the audit key (not in the database). Each kind of tamper
is caught: an edited, deleted, reordered or inserted entry, a chain recomputed as plain SHA-256, a link
whose own MAC fits but whose prev_hash is wrong, and a truncated tail (through a checkpoint)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from datetime import timedelta

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.console import Actor, Console
from medjobs_tui.console.operations import PermissionDenied
from medjobs_tui.engine import outcomes
from medjobs_tui.security import audit
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import transaction
from tests.conftest import FIXED_NOW, TEST_KEYS, write_config

KEY = TEST_KEYS.audit
ADMIN, AUDITOR, OPERATOR = Actor("ada", "admin"), Actor("aud", "auditor"), Actor("olga", "operator")


@pytest.fixture
def console(tmp_path, clock):
    c = Console(load_settings(write_config(tmp_path)), clock=clock)
    for i in range(6):
        audit.record(c.db, key=KEY, actor=f"user{i}", role="operator", action="job.trigger", target=f"job:j{i}",
                     outcome="ok", at=FIXED_NOW + timedelta(minutes=i), detail={"run_id": i})
    yield c
    c.close()


def rows(db):
    return audit.store_audit.entries(db)


def rewrite(db, entries):
    """What someone holding the database file and its store key (but not the audit key) can do: drop the
    append-only triggers and write whatever rows they like."""
    with transaction(db):
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        db.execute("DELETE FROM audit_log")
        for e in entries:
            audit.store_audit.append(db, e)


def test_an_untouched_chain_verifies_with_count_and_head(console):
    v = audit.verify(console.db, KEY)
    assert v.ok and v.count == 6 and v.head_id == 6 and v.head_mac == rows(console.db)[-1]["hash"]
    assert "OK: 6 entries, head 6" in v.line()


def test_update_and_delete_are_refused_by_the_triggers(console):
    with pytest.raises(Exception, match="append-only"):
        console.db.execute("UPDATE audit_log SET actor = 'x' WHERE id = 2")
    with pytest.raises(Exception, match="append-only"):
        console.db.execute("DELETE FROM audit_log WHERE id = 6")


def test_an_edited_entry_is_caught(console):
    entries = rows(console.db)
    entries[2]["outcome"] = "denied"
    rewrite(console.db, entries)
    v = audit.verify(console.db, KEY)
    assert not v.ok and v.bad_id == 3 and "MAC does not fit" in v.problem


def test_a_deleted_entry_is_caught(console):
    entries = rows(console.db)
    del entries[3]
    rewrite(console.db, entries)
    v = audit.verify(console.db, KEY)
    assert not v.ok and v.bad_id == 4 and "missing" in v.problem


def test_a_deleted_entry_with_ids_renumbered_is_caught(console):
    entries = rows(console.db)
    del entries[3]
    for i, e in enumerate(entries, start=1):
        e["id"] = i
    rewrite(console.db, entries)
    v = audit.verify(console.db, KEY)
    assert not v.ok and v.bad_id == 4 and "prev_hash" in v.problem


def test_reordered_entries_are_caught(console):
    entries = rows(console.db)
    entries[1], entries[2] = entries[2], entries[1]
    entries[1]["id"], entries[2]["id"] = 2, 3
    rewrite(console.db, entries)
    v = audit.verify(console.db, KEY)
    assert not v.ok and v.bad_id == 2


def test_an_inserted_entry_is_caught(console):
    entries = rows(console.db)
    forged = dict(entries[2], actor="mallory", action="data.replace")
    entries.insert(3, forged)
    for i, e in enumerate(entries, start=1):
        e["id"] = i
    rewrite(console.db, entries)
    v = audit.verify(console.db, KEY)
    assert not v.ok and v.bad_id == 4


def test_an_entry_appended_without_the_key_is_caught(console):
    last = rows(console.db)[-1]
    forged = dict(last, id=7, actor="mallory", prev_hash=last["hash"], hash=hashlib.sha256(b"guess").hexdigest())
    audit.store_audit.append(console.db, forged)
    v = audit.verify(console.db, KEY)
    assert not v.ok and v.bad_id == 7 and "MAC" in v.problem


def test_a_chain_recomputed_as_plain_sha256_is_caught(console):
    """The pre-HMAC chain layout: anyone with the file could recompute it after an edit. Not any more."""
    prev, entries = audit.GENESIS, rows(console.db)
    entries[0]["actor"] = "mallory"
    for e in entries:
        body = json.dumps([prev, e["at"], e["actor"], e["role"], e["action"], e["target"], e["outcome"],
                           e["detail"]], separators=(",", ":"))
        e["prev_hash"], e["hash"] = prev, hashlib.sha256(body.encode()).hexdigest()
        prev = e["hash"]
    rewrite(console.db, entries)
    v = audit.verify(console.db, KEY)
    assert not v.ok and v.bad_id == 1 and "MAC does not fit" in v.problem


def test_a_link_whose_own_mac_fits_but_whose_prev_hash_is_wrong_is_caught(console):
    entries = rows(console.db)
    e = entries[4]
    e["prev_hash"] = entries[2]["hash"]          # points past entry 4
    e["hash"] = audit._mac(KEY, e["id"], e["prev_hash"], e)  # its own MAC is right for what it says
    rewrite(console.db, entries)
    v = audit.verify(console.db, KEY)
    assert not v.ok and v.bad_id == 5 and "prev_hash" in v.problem


def test_another_key_verifies_nothing(console):
    v = audit.verify(console.db, os.urandom(32))
    assert not v.ok and v.bad_id == 1


def test_a_truncated_tail_is_caught_by_a_checkpoint(console):
    checkpoint = {**audit.head(console.db), "source": "backup manifest x"}
    assert checkpoint["id"] == 6
    rewrite(console.db, rows(console.db)[:4])   # a valid, shorter chain
    assert audit.verify(console.db, KEY).ok     # without a checkpoint nobody could tell
    v = audit.verify(console.db, KEY, [checkpoint])
    assert not v.ok and v.bad_id == 5 and "cut off the end" in v.problem and "backup manifest x" in v.problem


def test_backup_manifests_and_evidence_records_carry_the_head(console, clock):
    settings = console.settings
    # a backup (through the handler) writes the head into its manifest
    from medjobs_tui.jobs import get_handler
    from medjobs_tui.jobs.base import JobContext

    ctx = JobContext(db=console.db, settings=settings, job_name="backup", job=settings.jobs["backup"],
                     now=FIXED_NOW, run_id=None)
    get_handler("backup")(ctx)
    # an evidence record written for a run carries it too
    run_id = store_runs.insert_run(console.db, job_name="backup", job_type="backup", queue="maintenance",
                                   priority=1, max_attempts=1, trigger="manual", scheduled_at=FIXED_NOW,
                                   created_by="t", now=FIXED_NOW)
    with transaction(console.db):
        outcomes.write_evidence(console.db, settings, run_id)
    found = audit.find_checkpoints(settings.backups_dir, settings.evidence_dir)
    sources = sorted(c["source"].split()[0] for c in found)
    assert sources == ["backup", "evidence"]
    assert all(c["id"] >= 6 for c in found)
    v = console.audit_verify(ADMIN)
    assert v.ok and v.checkpoints == 2
    rewrite(console.db, rows(console.db)[:5])
    v = console.audit_verify(AUDITOR)
    assert not v.ok and "cut off the end" in v.problem


def test_backups_are_audited(console):
    from medjobs_tui.jobs import get_handler
    from medjobs_tui.jobs.base import JobContext

    s = console.settings
    get_handler("backup")(JobContext(db=console.db, settings=s, job_name="backup", job=s.jobs["backup"],
                                     now=FIXED_NOW, run_id=None))
    assert [(e["action"], e["outcome"]) for e in audit.entries(console.db, action="backup.")] == \
        [("backup.create", "ok")]


def test_verify_and_list_are_for_admins_and_auditors_and_audited(console):
    with pytest.raises(PermissionDenied):
        console.audit_verify(OPERATOR)
    with pytest.raises(PermissionDenied):
        console.audit_list(OPERATOR)
    listed = console.audit_list(AUDITOR, who="user2")
    assert [e["target"] for e in listed] == ["job:j2"]
    assert [e["id"] for e in console.audit_list(ADMIN, action="job.", limit=3)] == [6, 5, 4]
    assert [e["id"] for e in console.audit_list(ADMIN, since=FIXED_NOW + timedelta(minutes=4),
                                                action="job.trigger")] == [6, 5]
    actions = [(e["action"], e["actor"], e["outcome"]) for e in rows(console.db)[6:]]
    assert actions[:2] == [("audit.verify", "olga", "denied"), ("audit.list", "olga", "denied")]
    assert ("audit.list", "aud", "ok") in actions


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


def _cli(config, *args):
    return subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "--user", "ada",
                           *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MEDJOBS_PASSWORD_FILE": str(Path(config).parent / "password.txt")})


def test_cli_audit_verify_prints_ok_then_the_first_bad_entry(console, tmp_path):
    config = tmp_path / "config.yaml"
    _signed_in_admin(console, tmp_path)
    done = _cli(config, "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert "audit trail OK: 7 entries, head 7" in done.stdout              # the six, and ada's sign-in
    entries = rows(console.db)
    entries[1]["detail"] = json.dumps({"run_id": 99})
    rewrite(console.db, entries)
    done = _cli(config, "audit", "verify")
    assert done.returncode == 1 and "BROKEN at entry 2" in done.stderr and "Traceback" not in done.stderr
    listed = _cli(config, "audit", "list", "--actor", "user3")
    assert "job:j3" in listed.stdout and "job:j4" not in listed.stdout
