"""Backup: a consistent copy of the live store, a manifest beside it, and verification by re-opening the copy.

Rules and their sources:
- The copy is taken with SQLite's online backup API (``sqlite3.Connection.backup``) from a separate
  connection to the live file: consistent even while other connections write (WAL mode).
  Source: sqlite.org/backup.html; DOMAIN.md "Backups".
- The copy goes to ``<backups_dir>/medjobs-<UTC stamp>-run<id>.db`` (``-manual`` outside the engine) with
  ``<same name>.manifest.json`` beside it: row counts grouped {users, medications, schedules, analytics,
  other}, size_bytes, sha256 (hex), created_at (UTC), schema version. No patient data in the manifest.
- A backup counts only once verified by restoring it: the copy is re-opened read-only, ``PRAGMA
  integrity_check`` must say 'ok', every table's row count must equal the manifest, and the file's SHA-256
  and size must match. A failed verification records an unverified backups row and raises.
  Source: DOMAIN.md "Backups" (as ``restic check --read-data`` does).
- Encryption of backups (AES-GCM, key kept outside data/ and outside backups) comes in a later issue: for
  now the copy is as (un)encrypted as the live store.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from medjobs_tui.clock import iso
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.store import backup as store_backup
from medjobs_tui.store import clinical as store

MANIFEST_GROUPS: dict[str, tuple[str, ...]] = {
    "users": ("users",),
    "medications": ("patients", "medication_requests", "dispenses", "supply_counts"),
    "schedules": ("dose_log", "notifications", "jobs", "runs"),
}
"""Row-count groups of the manifest; ``analytics`` holds every analytics_* table and ``other`` the rest."""


class BackupVerificationError(RuntimeError):
    """The copy failed verification (integrity, row counts, size or hash); the message names what failed."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def group_counts(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    """Per-table row counts grouped as the manifest shows them (users, medications, schedules, analytics, other)."""
    out: dict[str, dict[str, int]] = {g: {} for g in (*MANIFEST_GROUPS, "analytics", "other")}
    for table, n in sorted(counts.items()):
        group = next((g for g, tables in MANIFEST_GROUPS.items() if table in tables), None)
        if group is None:
            group = "analytics" if table.startswith("analytics_") else "other"
        out[group][table] = n
    return out


def _target(backups_dir: Path, ctx: JobContext) -> Path:
    stamp = ctx.now.strftime("%Y%m%dT%H%M%SZ")
    suffix = f"run{ctx.run_id}" if ctx.run_id is not None else "manual"
    path = backups_dir / f"medjobs-{stamp}-{suffix}.db"
    n = 2
    while path.exists() or path.with_suffix(".manifest.json").exists():
        path = backups_dir / f"medjobs-{stamp}-{suffix}-{n}.db"
        n += 1
    return path


def verify_backup(path: Path, manifest: dict[str, Any]) -> str:
    """Re-open the copy read-only and check integrity, row counts, size and SHA-256 against the manifest.

    Returns the integrity_check text ('ok'); raises BackupVerificationError naming the first failure.
    """
    if path.stat().st_size != manifest["size_bytes"]:
        raise BackupVerificationError(f"{path.name}: size differs from the manifest")
    if sha256_of(path) != manifest["sha256"]:
        raise BackupVerificationError(f"{path.name}: SHA-256 differs from the manifest")
    integrity, actual = store_backup.inspect_copy(path)
    if integrity != "ok":
        raise BackupVerificationError(f"{path.name}: integrity_check failed")
    expected = {t: n for group in manifest["row_counts"].values() for t, n in group.items()}
    if actual != expected:
        diff = sorted(t for t in set(actual) | set(expected) if actual.get(t) != expected.get(t))
        raise BackupVerificationError(f"{path.name}: row counts differ from the manifest in {', '.join(diff)}")
    return integrity


def run(ctx: JobContext) -> dict[str, Any]:
    """Copy, describe and verify the live store; record a backups row; return key figures.

    Summary: backup_id, file (name only), tables, rows_total, size_bytes, sha256, verified (True), integrity.
    Raises BackupVerificationError if verification fails (after recording the unverified backup), and
    sqlite3/OS errors if the copy cannot be made.

    Exactly one backup per run: the copy and its manifest are written under temporary names and renamed
    into place in the same (fenced) transaction that records the backups row, so an attempt whose claim
    was lost leaves nothing behind; a run whose backup was already recorded (its outcome was lost) returns
    that backup instead of making another.
    """
    settings = ctx.settings
    source_path = Path(settings.database_path)
    if not source_path.exists():
        raise FileNotFoundError("backup: the live store does not exist")
    backups_dir = Path(settings.backups_dir)
    backups_dir.mkdir(parents=True, exist_ok=True)
    if ctx.run_id is not None:
        done = store.backup_of_run(ctx.db, ctx.run_id)
        if done is not None and done["verified"]:
            return _summary(done["id"], Path(done["path"]), json.loads(Path(done["manifest_path"]).read_text()))
        for stale in backups_dir.glob(f".*-run{ctx.run_id}*.tmp"):   # left by an attempt that was killed
            stale.unlink(missing_ok=True)
    target = _target(backups_dir, ctx)
    manifest_path = target.with_suffix(".manifest.json")
    tmp_copy = target.with_name(f".{target.name}.tmp")
    tmp_manifest = manifest_path.with_name(f".{manifest_path.name}.tmp")
    try:
        counts, version = store_backup.copy_database(source_path, tmp_copy)
        manifest = {
            "format": 1,
            "file": target.name,
            "created_at": iso(ctx.now),
            "run_id": ctx.run_id,
            "schema_version": version,
            "size_bytes": tmp_copy.stat().st_size,
            "sha256": sha256_of(tmp_copy),
            "encrypted": False,
            "row_counts": group_counts(counts),
        }
        tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        try:
            integrity, failure = verify_backup(tmp_copy, manifest), None
        except BackupVerificationError as exc:
            integrity, failure = "failed", exc
        with ctx.transaction():
            backup_id = store.record_backup(
                ctx.db, path=str(target), manifest_path=str(manifest_path), size_bytes=manifest["size_bytes"],
                sha256=manifest["sha256"], integrity=integrity, verified=failure is None, run_id=ctx.run_id,
                created_at=iso(ctx.now))
            os.replace(tmp_manifest, manifest_path)
            os.replace(tmp_copy, target)
    finally:
        tmp_copy.unlink(missing_ok=True)
        tmp_manifest.unlink(missing_ok=True)
    if failure is not None:
        raise failure
    return _summary(backup_id, target, manifest)


def _summary(backup_id: int, target: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    rows = {t: n for group in manifest["row_counts"].values() for t, n in group.items()}
    return {
        "backup_id": backup_id, "file": target.name, "tables": len(rows), "rows_total": sum(rows.values()),
        "size_bytes": manifest["size_bytes"], "sha256": manifest["sha256"], "verified": True,
        "integrity": "ok",
    }
