"""The Backups tab: every backup kept, and whether its file is still the one that was verified.

Kept in its own module so the tab list in ``tables.py`` changes by one line. Rows come from
``Snapshot.backups`` (``console.BackupRow``), filled only for the roles that may list backups
(``backup.list``: operator, admin, auditor); others see the empty hint. Per backup: when it was made in
clinic time and in UTC, the file, its size, whether it passed verification when it was made (the copy
opened with the backup key, every page MAC clean: cipher_integrity_check) and whether its row counts
matched the live store's, and its state now: the file's SHA-256 re-checked against the one recorded
(a flipped byte reads ``NOT intact`` and ``changed since it was made`` in words, red as well; a deleted
file ``NOT intact`` and ``missing``). Nothing here names a patient.
"""

from __future__ import annotations

from datetime import timezone, tzinfo

from rich.text import Text

from medjobs_tui.console.models import BackupRow, Snapshot
from medjobs_tui.tui import formatting as fmt

BACKUPS_TAB = "backups"
KEY = "b"

COLUMNS = (
    ("made", "made", 11, False, "when the backup was made, clinic time"),
    ("now", "file now", 10, False, "now: its SHA-256 is still the one recorded (intact), or NOT intact"),
    ("verified", "verified", 8, False, "when made: opened with the backup key, integrity checks clean"),
    ("rows", "rows", 6, False, "when made: every table's row count equal to the live store's, read in the "
                               "same snapshot (match), or not"),
    ("size", "size", 7, False, "the file's size"),
    ("file", "file", 20, False, "the backup file in the backups folder (its manifest lies beside it)"),
    ("utc", "UTC", 12, False, "when the backup was made, UTC"),
    ("problem", "problem", 12, True, "why it is not to be trusted: changed or missing since it was made, "
                                      "or what failed verification"),
)
"""(key, heading, width, fill, help) of each column: whether the file is still intact comes right after when it was
made, so no width hides it (at 80 columns a tampered backup never reads only "verified yes")."""

EMPTY = ("No backups kept yet — the backup job makes one; "
         "`medjobs backup list` and `medjobs backup verify FILE` check them.")

_STATE_PROBLEM = {"changed": "changed since it was made (its SHA-256 differs from the one recorded)",
                  "missing": "missing from the backups folder"}


def size_text(n: int | None) -> str:
    """A byte count in at most 7 characters: ``812 B``, ``44.0 KiB``, ``1.0 MiB`` (from 1000 of a unit the
    next one), ``1.2 GiB``."""
    if n is None:
        return fmt.MISSING
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1000 or unit == "TiB":
            break
        value /= 1024
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


def _row_counts(b: BackupRow) -> Text:
    if b.verified:
        return Text("match", style="green")
    if "row counts differ" in (b.integrity or ""):
        return Text("DIFFER", style="bold red")
    return Text(fmt.MISSING, style="yellow")          # verification failed before the counts were compared


def rows(snap: Snapshot, zone: tzinfo) -> list:
    """One row per backup kept, newest first, keyed by backup id; none when ``snap.backups`` is None."""
    out = []
    for b in snap.backups or []:
        state = b.state
        problems = [] if b.verified else [f"verification failed: {b.integrity}"]
        if state in _STATE_PROBLEM:
            problems.append(_STATE_PROBLEM[state])
        out.append((str(b.id), (
            fmt.local_time(b.created_at, zone),
            Text("intact", style="green") if state == "intact" else Text("NOT intact", style="bold red"),
            Text("yes", style="green") if b.verified else Text("FAILED", style="bold red"),
            _row_counts(b), size_text(b.size_bytes), b.file,
            b.created_at.astimezone(timezone.utc).strftime("%m-%d %H:%MZ"),
            fmt.long_text("; ".join(problems) or None),
        )))
    return out
