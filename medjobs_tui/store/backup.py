"""SQLCipher side of backups: an encrypted copy under the backup key, taken in one read snapshot, and
read-only inspection of a copy.

The copy is made with SQLCipher's ``sqlcipher_export`` into an attached database keyed with the backup
key: page by page through SQLite, never the whole store in memory. The live store's row counts are
read in the same read transaction as the export (one WAL snapshot), so a copy that lost rows does not
match them. Source: zetetic.net/sqlcipher/sqlcipher-api (ATTACH ... KEY, sqlcipher_export,
cipher_integrity_check); sqlite.org/isolation.html (a read transaction sees one snapshot).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from medjobs_tui.store import audit, clinical
from medjobs_tui.store.db import DatabaseError, StoreError, _key_pragma, create_private_file, open_keyed


def _raw_key_literal(key: bytes) -> str:
    _key_pragma(key)  # checks the length
    return f"x'{key.hex()}'"


PROGRESS_EVERY_OPS = 20_000
"""SQLite virtual-machine instructions between two looks at how many pages the copy has written."""


def copy_database(source: Path, key: bytes, target: Path, backup_key: bytes,
                  progress: Callable[[int, int], object] | None = None,
                  ) -> tuple[dict[str, int], int | None, dict[str, object]]:
    """Export the live store at ``source`` (opened with the store ``key``) into the new file ``target``,
    encrypted with ``backup_key``, in journal mode DELETE (one self-contained file, mode 0600).

    Returns (row count per table of the live store, schema version, audit head {id, mac, at}), all read
    in the same snapshot as the export. ``progress(pages_copied, pages_total)`` is called while the export
    runs (from SQLite's progress handler, on this thread: pages copied = the copy's size so far in pages,
    pages in all = the live store's page count) and once at the end with both equal; it must not use
    this connection. Raises StoreError when ``key`` does not open the store, FileExistsError if ``target``
    exists, and the driver's errors / OSError when the copy cannot be made.
    """
    if target.exists():
        raise FileExistsError(f"{target.name} exists")
    create_private_file(target)
    conn = open_keyed(source, key, timeout_s=30)
    try:
        conn.execute(f"ATTACH DATABASE ? AS backup KEY \"{_raw_key_literal(backup_key)}\"", [str(target)])
        conn.execute("PRAGMA backup.journal_mode = DELETE")
        # no sync of its own while it is written: the copy is a temporary file, deleted when the export fails,
        # and made durable once, by the fsync below, before anything records or renames it
        conn.execute("PRAGMA backup.synchronous = OFF")
        conn.execute("BEGIN")
        try:
            counts = clinical.table_row_counts(conn)
            version = clinical.schema_version_of(conn)
            head = audit.head_entry(conn)
            total = int(conn.execute("PRAGMA main.page_count").fetchone()[0])
            if progress is not None:
                page_size = int(conn.execute("PRAGMA main.page_size").fetchone()[0])

                def report() -> int:
                    try:
                        progress(min(total, target.stat().st_size // page_size), total)
                    except Exception:  # noqa: BLE001 - a progress report that fails never stops the copy
                        pass
                    return 0
                conn.set_progress_handler(report, PROGRESS_EVERY_OPS)
            try:
                conn.execute("SELECT sqlcipher_export('backup')")
            finally:
                conn.set_progress_handler(None, 0)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("DETACH DATABASE backup")
    finally:
        conn.close()
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if progress is not None:
        progress(total, total)
    return counts, version, head


def inspect_copy(path: Path, backup_key: bytes, *, structure: bool = True,
                 counts: bool = True) -> tuple[str, dict[str, int]]:
    """Open a copy read-only with ``backup_key``; return (integrity text, row count per table).

    The integrity text is 'ok' only when both ``PRAGMA cipher_integrity_check`` (every page's HMAC) and
    ``PRAGMA integrity_check`` find nothing; otherwise it holds their first findings (a page so damaged
    that reading it fails, as DatabaseError or SQLCipher's out-of-memory, is a finding, never a
    traceback). ``structure=False`` leaves ``integrity_check`` out (for a copy ``copy_database`` has just
    made; see ``jobs.backup``), ``counts=False`` the row counts (then ``{}``). Raises StoreError when the key does not open the copy (or it is not a
    database at all).
    """
    try:
        conn = open_keyed(f"{path.resolve().as_uri()}?mode=ro", backup_key, uri=True)
    except StoreError as exc:
        raise StoreError(str(exc).replace("the store key", "the backup key")) from None
    try:
        problems: list[str] = []
        try:
            problems = [str(r[0]) for r in conn.execute("PRAGMA cipher_integrity_check")][:5]
            integrity = clinical.integrity_check(conn) if structure else "ok"
            rows = clinical.table_row_counts(conn) if counts else {}
        except (DatabaseError, MemoryError) as exc:
            # a damaged page: SQLCipher's HMAC failure surfaces as an error, SQLITE_NOMEM as MemoryError
            return "; ".join(problems + [f"unreadable: {type(exc).__name__}: {exc}"]), {}
        if integrity != "ok":
            problems.append(integrity)
        return ("; ".join(problems) if problems else "ok"), rows
    finally:
        conn.close()


def copy_row_counts(path: Path, backup_key: bytes) -> tuple[dict[str, int], str | None]:
    """Row count per table of a copy opened read-only with ``backup_key``, and None; or ({}, what went wrong)
    when a page cannot be read (DatabaseError, SQLCipher's out-of-memory). Raises StoreError when the key
    does not open the copy. Safe on its own thread (its own connection)."""
    try:
        conn = open_keyed(f"{path.resolve().as_uri()}?mode=ro", backup_key, uri=True)
    except StoreError as exc:
        raise StoreError(str(exc).replace("the store key", "the backup key")) from None
    try:
        return clinical.table_row_counts(conn), None
    except (DatabaseError, MemoryError) as exc:
        return {}, f"unreadable: {type(exc).__name__}: {exc}"
    finally:
        conn.close()


def restore_copy(backup: Path, backup_key: bytes, live: Path, key: bytes, aside: Path) -> None:
    """Replace the live store at ``live`` with the contents of the backup copy ``backup``.

    The copy is exported (``sqlcipher_export``) from the backup, opened read-only with ``backup_key``, into
    a new file beside the live store keyed with the store ``key``; the live store is checkpointed (its WAL
    emptied into it) and renamed to ``aside`` (kept, still encrypted with ``key``), its stale ``-wal`` and
    ``-shm`` files are removed, and the new file is renamed into place. Nothing may hold the live store
    open meanwhile (the caller makes sure no runner does). Raises StoreError if a key does not fit.
    """
    restoring = live.with_name(f".{live.name}.restoring")
    restoring.unlink(missing_ok=True)
    create_private_file(restoring)
    try:
        src = open_keyed(f"{backup.resolve().as_uri()}?mode=ro", backup_key, uri=True)
        try:
            src.execute(f"ATTACH DATABASE ? AS restored KEY \"{_raw_key_literal(key)}\"", [str(restoring)])
            src.execute("SELECT sqlcipher_export('restored')")
            src.execute("DETACH DATABASE restored")
        finally:
            src.close()
        if live.exists():
            conn = open_keyed(live, key)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            os.replace(live, aside)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{live}{suffix}").unlink(missing_ok=True)
        os.replace(restoring, live)
    finally:
        restoring.unlink(missing_ok=True)


def audit_tail(path: Path, key: bytes, from_id: int) -> list[dict]:
    """The audit entries with id >= ``from_id`` of the store file ``path`` (opened read-only with the store
    ``key``), oldest first, as ``store.audit.entries`` returns them. Used after a restore to carry the entries
    written after the backup over from the store kept aside. Raises StoreError when the key does not open
    it or it cannot be read."""
    conn = open_keyed(f"{path.resolve().as_uri()}?mode=ro", key, uri=True)
    try:
        cur = conn.execute("SELECT * FROM audit_log WHERE id >= ? ORDER BY id", [int(from_id)])
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    except (DatabaseError, MemoryError) as exc:
        raise StoreError(f"{path.name}: its audit trail cannot be read ({type(exc).__name__})") from None
    finally:
        conn.close()


def mark_removed(db, backup_id: int, at: str) -> None:
    """Record that the retention rule removed backup ``backup_id``'s files at ``at`` (UTC ISO)."""
    db.execute("UPDATE backups SET removed_at = ? WHERE id = ?", [at, backup_id])


def kept_backups(db) -> list[dict]:
    """Every backups row whose files were not removed, newest first."""
    cur = db.execute("SELECT * FROM backups WHERE removed_at IS NULL ORDER BY created_at DESC, id DESC")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def removed_backups(db) -> list[dict]:
    """Every backups row the retention rule marked removed (their files should be gone)."""
    cur = db.execute("SELECT * FROM backups WHERE removed_at IS NOT NULL ORDER BY id")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def backup_by_file(db, name: str) -> dict | None:
    """The newest backups row whose file is named ``name``, or None."""
    cur = db.execute("SELECT * FROM backups WHERE path LIKE ? ORDER BY id DESC", [f"%{name}"])
    cols = [c[0] for c in cur.description]
    for r in cur.fetchall():
        row = dict(zip(cols, r))
        if Path(row["path"]).name == name:
            return row
    return None
