"""backup of the demo clinic: a consistent copy that opens, passes integrity_check and matches its manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from medjobs_tui.jobs.backup import BackupVerificationError, verify_backup
from medjobs_tui.store.clinical import list_backups
from medjobs_tui.store.db import open_keyed
from tests.conftest import TEST_KEYS


def _files(clinic):
    summary = clinic.run("backup", run_id=42)
    path = clinic.settings.backups_dir / summary["file"]
    return summary, path, json.loads(path.with_suffix(".manifest.json").read_text())


def test_backup_file_opens_and_integrity_is_ok(clinic):
    summary, path, _ = _files(clinic)
    assert path.name == "medjobs-20261129T125500Z-run42.db"
    conn = open_keyed(f"{path.resolve().as_uri()}?mode=ro", TEST_KEYS.backup, uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM patients").fetchone()[0] == 50
    finally:
        conn.close()
    assert summary["verified"] is True and summary["integrity"] == "ok"


def test_manifest_counts_match_the_copy_and_the_live_store(clinic):
    _, path, manifest = _files(clinic)
    groups = manifest["row_counts"]
    assert set(groups) >= {"users", "medications", "schedules", "analytics"}
    assert set(groups["medications"]) == {"patients", "medication_requests", "dispenses", "supply_counts"}
    assert set(groups["schedules"]) == {"dose_log", "notifications", "jobs", "runs"}
    assert groups["users"] == {"users": 4}
    assert all(t.startswith("analytics_") for t in groups["analytics"]) and len(groups["analytics"]) == 4
    conn = open_keyed(path, TEST_KEYS.backup)
    try:
        for group in groups.values():
            for table, n in group.items():
                assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == n
                if table not in ("backups", "audit_log"):  # the backup itself adds one of each
                    assert clinic.scalar(f'SELECT count(*) FROM "{table}"') == n
    finally:
        conn.close()


def test_manifest_sha256_and_size_match_the_file(clinic):
    summary, path, manifest = _files(clinic)
    data = path.read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() == summary["sha256"]
    assert manifest["size_bytes"] == len(data) == summary["size_bytes"]
    assert manifest["created_at"] == "2026-11-29T12:55:00+00:00" and manifest["encrypted"] is True


def test_backup_is_recorded_as_verified(clinic):
    summary, path, _ = _files(clinic)
    rows = list_backups(clinic.db)
    assert len(rows) == 1 and rows[0]["id"] == summary["backup_id"]
    assert rows[0]["verified"] == 1 and rows[0]["integrity"] == "ok" and rows[0]["run_id"] == 42
    assert Path(rows[0]["path"]) == path


def test_a_copy_that_differs_from_its_manifest_fails_verification(clinic):
    _, path, manifest = _files(clinic)
    wrong_counts = json.loads(json.dumps(manifest))
    wrong_counts["row_counts"]["medications"]["patients"] += 1
    with pytest.raises(BackupVerificationError, match="row counts"):
        verify_backup(path, wrong_counts, TEST_KEYS.backup)
    with path.open("r+b") as fh:                 # flip one byte: the hash no longer matches
        fh.seek(200)
        b = fh.read(1)
        fh.seek(200)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(BackupVerificationError, match="SHA-256"):
        verify_backup(path, manifest, TEST_KEYS.backup)


def test_two_backups_at_the_same_instant_do_not_overwrite_each_other(clinic):
    first = clinic.run("backup")
    second = clinic.run("backup")
    assert first["file"] != second["file"]
    assert len(list(clinic.settings.backups_dir.glob("*.db"))) == 2


def test_backup_is_one_self_contained_file(clinic):
    summary = clinic.run("backup", run_id=43)
    names = sorted(p.name for p in clinic.settings.backups_dir.iterdir())
    assert summary["file"] in names
    assert not [n for n in names if n.endswith(("-wal", "-shm"))]
