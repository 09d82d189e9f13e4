"""Backup: an encrypted, consistent copy of the live store, a manifest beside it, and verification by opening it.

Rules and their sources:
- The copy is SQLCipher's ``sqlcipher_export`` of the live store into a new file encrypted with the
  clinic's backup key (``Keys.backup``; the key file is outside data/ and outside the backups), streamed
  page by page, inside one read transaction (one WAL snapshot) in which the live store's row counts are
  read too. Source: zetetic.net/sqlcipher/sqlcipher-api; DOMAIN.md "Backups"; 45 CFR 164.308(a)(7)(ii)(A).
- It is written under a temporary name (``.<name>.tmp``) and renamed to
  ``<backups_dir>/medjobs-<UTC stamp>-run<id>.db`` (``-manual`` outside the engine) only when verified and
  recorded (in the run's fenced transaction),
  with ``<same name>.manifest.json`` beside it: the live store's row counts grouped {users, medications,
  schedules, analytics, other}, size_bytes, sha256 (hex) of the file, created_at (UTC), schema version,
  ``encrypted: true``. No patient data in the manifest. The recovery copy of the keys (encrypted to the
  recovery key) is copied into the backups folder too, so the backups can be opened after losing data/.
- A backup counts only once verified. When it is made: the copy is opened read-only with the backup key,
  ``PRAGMA cipher_integrity_check`` must find nothing (every page's HMAC-SHA512 matches: each page is
  exactly what SQLCipher wrote under the backup key, so a changed, torn or cut-off page fails) and every
  table's row count must equal the live store's counts from the export's snapshot (nothing lost); the
  SHA-256 for the manifest and those counts are read on a second thread meanwhile, the file hashed once
  (the manifest is not then checked against itself). ``PRAGMA integrity_check`` (b-tree structure, every index
  entry against its row) is not run on a copy just made: ``sqlcipher_export`` writes the copy through
  SQLite's own INSERT and CREATE INDEX (every b-tree and index built afresh from the rows, in one
  statement), a source page SQLite cannot read stops the export with an error, and with every page's MAC
  matching nothing can have changed the copy since; it would cost more than the export itself (issue 10:
  backup >= 0.7x ``sqlcipher_export``). ``verify_backup`` (``medjobs backup verify`` and before every
  restore) runs the whole check: size and SHA-256 against the manifest,
  cipher_integrity_check, integrity_check, row counts. A failed verification records a backups row with
  verified 0 and the reason, and raises. Source: DOMAIN.md "Backups" (as ``restic check --read-data``
  does); zetetic.net/sqlcipher/sqlcipher-api (cipher_integrity_check, sqlcipher_export);
  sqlite.org/pragma.html (integrity_check, quick_check).
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.security import audit
from medjobs_tui.security.keys import load_keys, write_recovery_copy
from medjobs_tui.store import StoreError
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


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest beside backup file ``path``. Raises BackupVerificationError when missing or not JSON."""
    manifest_path = path.with_suffix(".manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupVerificationError(f"{path.name}: no manifest {manifest_path.name} beside it") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise BackupVerificationError(f"{manifest_path.name}: not a readable manifest") from None
    if not isinstance(manifest, dict) or not {"sha256", "size_bytes", "row_counts"} <= set(manifest):
        raise BackupVerificationError(f"{manifest_path.name}: not a MedJobs backup manifest")
    return manifest


def verify_backup(path: Path, manifest: dict[str, Any], backup_key: bytes) -> str:
    """Check the file's size and SHA-256 against the manifest, then open it read-only with ``backup_key``:
    cipher_integrity_check and integrity_check must be clean and every table's row count must equal the
    manifest's. Returns 'ok'; raises BackupVerificationError naming the first failure."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BackupVerificationError(f"{path.name}: the backup file is missing") from None
    if size != manifest["size_bytes"]:
        raise BackupVerificationError(f"{path.name}: size differs from the manifest (changed after it was made)")
    if sha256_of(path) != manifest["sha256"]:
        raise BackupVerificationError(f"{path.name}: SHA-256 differs from the manifest (changed after it was made)")
    try:
        integrity, actual = store_backup.inspect_copy(path, backup_key)
    except StoreError as exc:
        raise BackupVerificationError(f"{path.name}: {exc}") from None
    if integrity != "ok":
        raise BackupVerificationError(f"{path.name}: integrity check failed: {integrity[:200]}")
    expected = {t: n for group in manifest["row_counts"].values() for t, n in group.items()}
    if actual != expected:
        diff = sorted(t for t in set(actual) | set(expected) if actual.get(t) != expected.get(t))
        raise BackupVerificationError(f"{path.name}: row counts differ from the live store in {', '.join(diff)}")
    return integrity


def _hash_and_count(path: Path, backup_key: bytes) -> tuple[str, dict[str, int], str | None]:
    """(SHA-256 of the file, its row counts, a problem reading them or None): the side thread's share of
    ``check_new_copy``."""
    digest = sha256_of(path)
    counts, problem = store_backup.copy_row_counts(path, backup_key)
    return digest, counts, problem


def check_new_copy(path: Path, counts: dict[str, int], backup_key: bytes) -> tuple[str, BackupVerificationError | None]:
    """The check of a copy ``store.backup.copy_database`` has just made (see the module notes): opened
    read-only with ``backup_key``, every page's HMAC clean (cipher_integrity_check) and every table's row
    count equal to ``counts`` (the live store's, from the export's snapshot); the file's SHA-256 and the
    counts come from a second thread while this one checks the pages (hashlib and SQLite let go of the GIL).
    Returns (SHA-256 hex, None) or (SHA-256 hex, BackupVerificationError naming the first failure); raises
    BackupVerificationError when the backup key does not open the copy."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-check") as pool:
        side = pool.submit(_hash_and_count, path, backup_key)
        try:
            integrity, _ = store_backup.inspect_copy(path, backup_key, structure=False, counts=False)
        except StoreError as exc:
            side.exception()   # wait for the side thread; it fails the same way
            raise BackupVerificationError(f"{path.name}: {exc}") from None
        try:
            digest, actual, problem = side.result()
        except StoreError as exc:
            raise BackupVerificationError(f"{path.name}: {exc}") from None
    if integrity != "ok" or problem:
        found = "; ".join(p for p in (integrity if integrity != "ok" else "", problem or "") if p)
        return digest, BackupVerificationError(f"{path.name}: integrity check failed: {found[:200]}")
    if actual != counts:
        diff = sorted(t for t in set(actual) | set(counts) if actual.get(t) != counts.get(t))
        return digest, BackupVerificationError(
            f"{path.name}: row counts differ from the live store in {', '.join(diff)}")
    return digest, None


def _target(backups_dir: Path, ctx: JobContext) -> Path:
    stamp = ctx.now.strftime("%Y%m%dT%H%M%SZ")
    suffix = f"run{ctx.run_id}" if ctx.run_id is not None else "manual"
    path = backups_dir / f"medjobs-{stamp}-{suffix}.db"
    n = 2
    while path.exists() or path.with_suffix(".manifest.json").exists():
        path = backups_dir / f"medjobs-{stamp}-{suffix}-{n}.db"
        n += 1
    return path


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def run(ctx: JobContext) -> dict[str, Any]:
    """Copy, describe and verify the live store; record a backups row; return key figures.

    Summary: backup_id, file (name only), tables, rows_total, size_bytes, sha256, verified (True), integrity.
    Raises BackupVerificationError if verification fails (after recording the unverified backup),
    KeyFileError when the keys cannot be loaded, and driver/OS errors if the copy cannot be made.

    Exactly one backup per run: the copy and its manifest are written under temporary names and renamed
    into place in the same (fenced) transaction that records the backups row, so an attempt whose claim
    was lost leaves nothing behind; a run whose backup was already recorded (its outcome was lost) returns
    that backup instead of making another.
    """
    settings = ctx.settings
    keys = load_keys(settings)
    source_path = Path(settings.database_path)
    if not source_path.exists():
        raise FileNotFoundError("backup: the live store does not exist")
    backups_dir = Path(settings.backups_dir)
    backups_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if ctx.run_id is not None:
        done = store.backup_of_run(ctx.db, ctx.run_id)
        if done is not None and done["verified"]:
            return _summary(done["id"], Path(done["path"]), json.loads(Path(done["manifest_path"]).read_text()))
        for stale in backups_dir.glob(f".*-run{ctx.run_id}*.tmp"):   # left by an attempt that was killed
            stale.unlink(missing_ok=True)
        recorded = store.backup_paths_of_run(ctx.db, ctx.run_id)
        for name in (f"medjobs-*-run{ctx.run_id}.*", f"medjobs-*-run{ctx.run_id}-*"):
            for orphan in backups_dir.glob(name):   # renamed by an attempt killed before its transaction committed
                if str(orphan.parent / (orphan.name.split(".", 1)[0] + ".db")) not in recorded:
                    orphan.unlink(missing_ok=True)
    target = _target(backups_dir, ctx)
    manifest_path = target.with_suffix(".manifest.json")
    tmp_copy = target.with_name(f".{target.name}.tmp")
    tmp_manifest = manifest_path.with_name(f".{manifest_path.name}.tmp")
    write_recovery_copy(settings, keys, folder=backups_dir)
    try:
        tmp_copy.unlink(missing_ok=True)
        counts, version, head = store_backup.copy_database(source_path, keys.store, tmp_copy, keys.backup,
                                                            progress=ctx.progress)   # pages copied
        try:
            sha256, failure = check_new_copy(tmp_copy, counts, keys.backup)
        except BackupVerificationError as exc:   # the backup key does not open it
            sha256, failure = sha256_of(tmp_copy), exc
        integrity = "ok" if failure is None else f"failed: {failure}"[:500]
        manifest = {
            "format": 2,
            "file": target.name,
            "created_at": iso(ctx.now),
            "run_id": ctx.run_id,
            "schema_version": version,
            "size_bytes": tmp_copy.stat().st_size,
            "sha256": sha256,
            "encrypted": True,
            "cipher": "SQLCipher 4 (AES-256, HMAC-SHA512 per page) under the clinic's backup key",
            "row_counts": group_counts(counts),
            "audit_head": head,
        }
        _write_private(tmp_manifest, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        with ctx.transaction():
            backup_id = store.record_backup(
                ctx.db, path=str(target), manifest_path=str(manifest_path), size_bytes=manifest["size_bytes"],
                sha256=manifest["sha256"], integrity=integrity, verified=failure is None, run_id=ctx.run_id,
                created_at=iso(ctx.now))
            audit.record(ctx.db, key=keys.audit, actor="runner", role="system", action="backup.create",
                         target=f"backup:{target.name}", outcome="ok" if failure is None else "error", at=ctx.now,
                         detail={"backup_id": backup_id, "verified": failure is None})
            os.replace(tmp_manifest, manifest_path)
            os.replace(tmp_copy, target)
    finally:
        tmp_copy.unlink(missing_ok=True)
        tmp_manifest.unlink(missing_ok=True)
    if failure is not None:
        raise failure
    opts = ctx.job.options
    removed = apply_retention(ctx, int(opts.get("keep_daily", 7)), int(opts.get("keep_weekly", 4)))
    return {**_summary(backup_id, target, manifest), "removed_by_retention": len(removed)}


def retention_plan(rows: list[dict[str, Any]], zone, keep_daily: int, keep_weekly: int) -> list[dict[str, Any]]:
    """The backups rows (kept ones, newest first) that the retention rule removes: every verified backup
    that is not the newest of one of the last ``keep_daily`` days or ``keep_weekly`` ISO weeks (in
    ``zone``) that have a verified backup, and every unverified one older than the newest verified."""
    verified = [r for r in rows if r["verified"]]
    keep: set[int] = set()
    days: list[Any] = []
    weeks: list[Any] = []
    for r in verified:
        local = parse_iso(r["created_at"]).astimezone(zone)
        day, week = local.date(), tuple(local.isocalendar())[:2]
        if day not in days and len(days) < keep_daily:
            days.append(day)
            keep.add(r["id"])
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            keep.add(r["id"])
    newest = parse_iso(verified[0]["created_at"]) if verified else None
    return [r for r in rows if r["id"] not in keep
            and (r["verified"] or (newest is not None and parse_iso(r["created_at"]) < newest))]


def apply_retention(ctx: JobContext, keep_daily: int, keep_weekly: int) -> list[str]:
    """Mark the backups ``retention_plan`` names as removed (one fenced transaction), then delete the files
    of every backup marked removed (so files left by an attempt killed after its commit go too); return the
    names marked now."""
    plan = retention_plan(store_backup.kept_backups(ctx.db), ctx.settings.zone, keep_daily, keep_weekly)
    with ctx.transaction():
        for r in plan:
            store_backup.mark_removed(ctx.db, r["id"], iso(ctx.now))
    for r in store_backup.removed_backups(ctx.db):
        Path(r["path"]).unlink(missing_ok=True)
        Path(r["manifest_path"]).unlink(missing_ok=True)
    return [Path(r["path"]).name for r in plan]


def _summary(backup_id: int, target: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    rows = {t: n for group in manifest["row_counts"].values() for t, n in group.items()}
    return {
        "backup_id": backup_id, "file": target.name, "tables": len(rows), "rows_total": sum(rows.values()),
        "size_bytes": manifest["size_bytes"], "sha256": manifest["sha256"], "verified": True,
        "integrity": "ok",
    }
