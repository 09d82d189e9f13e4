"""Self-test results (``medjobs selftest``), and the preparation of a scratch copy of the store.

A row per self-test, append-only: when it ran, whether every check passed, the performance and security
verdicts, the app version and the validated configuration's SHA-256, the checks and per-job durations (JSON,
no patient data) and its evidence record. ``repoint_scratch_paths`` is run on the scratch copy only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlite_utils

from medjobs_tui.store.runs import _row, _rows


def insert_result(db: sqlite_utils.Database, *, started_at: str, finished_at: str, duration_s: float, passed: bool,
                  performance_ok: bool, security_ok: bool, app_version: str, config_sha256: str,
                  checks: list[dict[str, Any]], durations: dict[str, Any], actor: str) -> int:
    """Insert one self-test result (times UTC ISO; ``checks`` and ``durations`` JSON-serialisable); return its id.
    Call inside the transaction that writes its evidence (``set_result_evidence``)."""
    cur = db.execute(
        "INSERT INTO selftest_results (started_at, finished_at, duration_s, passed, performance_ok, security_ok,"
        " app_version, config_sha256, checks, durations, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [started_at, finished_at, round(duration_s, 3), int(passed), int(performance_ok), int(security_ok),
         app_version, config_sha256, json.dumps(checks, sort_keys=True), json.dumps(durations, sort_keys=True), actor])
    return cur.lastrowid


def set_result_evidence(db: sqlite_utils.Database, result_id: int, path: str, sha256: str) -> None:
    """Store the evidence record (path relative to the evidence root, SHA-256 hex) of result ``result_id``."""
    db.execute("UPDATE selftest_results SET evidence_path = ?, evidence_sha256 = ? WHERE id = ?",
               [path, sha256, result_id])


def _decoded(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {**row, "checks": json.loads(row["checks"]), "durations": json.loads(row["durations"]),
            "passed": bool(row["passed"]), "performance_ok": bool(row["performance_ok"]),
            "security_ok": bool(row["security_ok"])}


def latest_result(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest self-test result (``checks``/``durations`` decoded, verdicts as bools), or None."""
    return _decoded(_row(db.execute("SELECT * FROM selftest_results ORDER BY id DESC LIMIT 1")))


def results(db: sqlite_utils.Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` self-test results, newest first (decoded as ``latest_result``)."""
    return [_decoded(r) for r in _rows(db.execute("SELECT * FROM selftest_results ORDER BY id DESC LIMIT ?",
                                                  [limit]))]


def repoint_scratch_paths(db: sqlite_utils.Database, backups_dir: Path) -> int:
    """On a SCRATCH copy only: point every backups row at a file of the same name in ``backups_dir`` (the
    scratch's own folder), so nothing run on the copy (the backup job's retention) can touch the live
    clinic's backup files. Returns how many rows were changed."""
    rows = _rows(db.execute("SELECT id, path, manifest_path FROM backups"))
    for r in rows:
        db.execute("UPDATE backups SET path = ?, manifest_path = ? WHERE id = ?",
                   [str(backups_dir / Path(r["path"]).name), str(backups_dir / Path(r["manifest_path"]).name), r["id"]])
    return len(rows)


def row_counts(db: sqlite_utils.Database, tables: tuple[str, ...]) -> dict[str, int]:
    """Row count of each of ``tables`` (names from the caller's fixed list, never user input)."""
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
