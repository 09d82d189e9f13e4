"""SQLite side of backups: a consistent copy through the online backup API, and read-only inspection of a copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from medjobs_tui.store import clinical


def copy_database(source: Path, target: Path) -> tuple[dict[str, int], int]:
    """Copy the live store at ``source`` to a new file ``target`` with ``sqlite3.Connection.backup``.

    Consistent while other connections write (WAL). The copy is switched to ``journal_mode=DELETE`` so it
    is one self-contained file. Returns (row count per table, schema version) of the copy.
    Source: sqlite.org/backup.html. Raises sqlite3.Error / OSError when the copy cannot be made.
    """
    src = sqlite3.connect(str(source), timeout=30)
    try:
        dest = sqlite3.connect(str(target))
        try:
            src.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")
            return clinical.table_row_counts(dest), clinical.schema_version_of(dest)
        finally:
            dest.close()
    finally:
        src.close()


def inspect_copy(path: Path) -> tuple[str, dict[str, int]]:
    """Open a copy read-only; return (``PRAGMA integrity_check`` text, row count per table)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return clinical.integrity_check(conn), clinical.table_row_counts(conn)
    finally:
        conn.close()
