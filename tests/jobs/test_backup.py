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
    assert groups["users"] == {"users": 0}                 # the demo generator makes no users (`medjobs demo` does)
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
    paths = [Path(r["path"]).name for r in list_backups(clinic.db)]
    assert sorted(paths) == sorted([first["file"], second["file"]])
    # the same day's older one then goes by the retention rule (newest of each day is kept)
    assert second["removed_by_retention"] == 1
    assert [p.name for p in clinic.settings.backups_dir.glob("*.db")] == [second["file"]]


def test_retention_keeps_the_newest_of_each_of_n_days_and_m_weeks(clinic):
    from datetime import timedelta

    from tests.jobs.conftest import NOW

    made = [clinic.run("backup", now=NOW - timedelta(days=d), keep_daily=3, keep_weekly=2)["file"]
            for d in (20, 13, 6, 5, 4, 3, 2, 1, 0)]
    kept = sorted(p.name for p in clinic.settings.backups_dir.glob("*.db"))
    # NOW is Sunday 2026-11-29: days 0-6 back are ISO week 48, days 7-13 week 47. Kept: the 3 newest days
    # (0, 1, 2 back) and the newest of the 2 newest weeks (day 0 for week 48, day 13 for week 47).
    assert made[-1] in kept and made[-2] in kept and made[-3] in kept
    assert made[0] not in kept                      # 20 days back: outside both rules
    assert len(kept) == 4 and made[1] in kept       # 13 days back: the newest backup of the week before
    rows = {Path(r["path"]).name: r for r in list_backups(clinic.db, 50)}
    assert all(rows[n]["removed_at"] for n in made if n not in kept)


def test_a_backup_whose_pages_fail_their_check_is_recorded_failed_not_verified(clinic, monkeypatch):
    """A copy changed between the export and the check (a bit flipped on its way to disk) fails its page MACs:
    the backup is recorded failed, not verified, and the run fails."""
    from medjobs_tui.store import backup as store_backup
    from tests.conftest import flip_a_byte

    real = store_backup.copy_database

    def damaged(*args, **kwargs):
        got = real(*args, **kwargs)
        flip_a_byte(args[2], at=3 * 4096 + 200)
        return got

    monkeypatch.setattr(store_backup, "copy_database", damaged)
    with pytest.raises(BackupVerificationError, match="integrity check failed"):
        clinic.run("backup", run_id=44)
    [row] = list_backups(clinic.db)
    assert row["verified"] == 0 and row["integrity"].startswith("failed")


def test_a_backup_whose_integrity_check_fails_does_not_verify(clinic, monkeypatch):
    """issue 6 item 12: ``backup verify`` (and every restore, which verifies first) fails a backup whose
    integrity_check says anything but ok, even with every page MAC, the hash and the counts right."""
    from medjobs_tui.store import backup as store_backup

    _, path, manifest = _files(clinic)
    assert verify_backup(path, manifest, TEST_KEYS.backup) == "ok"
    monkeypatch.setattr(store_backup.clinical, "integrity_check", lambda conn: "*** in database main ***\nPage 7: btree")
    with pytest.raises(BackupVerificationError, match="integrity check failed"):
        verify_backup(path, manifest, TEST_KEYS.backup)


def test_a_copy_that_lost_rows_is_failed_not_verified(clinic, monkeypatch):
    from medjobs_tui.store import backup as store_backup

    real = store_backup.copy_database

    def lossy(*args, **kwargs):
        counts, version, head = real(*args, **kwargs)
        conn = open_keyed(args[2], TEST_KEYS.backup)
        conn.execute("DELETE FROM dose_log WHERE id IN (SELECT id FROM dose_log LIMIT 3)")
        conn.close()
        return counts, version, head

    monkeypatch.setattr(store_backup, "copy_database", lossy)
    with pytest.raises(BackupVerificationError, match="row counts differ from the live store in dose_log"):
        clinic.run("backup", run_id=45)
    assert list_backups(clinic.db)[0]["verified"] == 0


def test_backup_is_one_self_contained_file(clinic):
    summary = clinic.run("backup", run_id=43)
    names = sorted(p.name for p in clinic.settings.backups_dir.iterdir())
    assert summary["file"] in names
    assert not [n for n in names if n.endswith(("-wal", "-shm"))]
