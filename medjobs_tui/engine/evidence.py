"""Evidence records: one YAML file per run under evidence/jobs/<job_type>/YYYY/MM/DD/<run_id>.yaml.

The record holds the run's facts (times in UTC, attempts, outcome, masked error) and the handler's
summary, which carries counts and pseudonyms only. Its SHA-256 is stored with the run, so a record
that is missing or altered afterwards shows as invalid.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from medjobs_tui import __version__
from medjobs_tui.clock import parse_iso
from medjobs_tui.config import PRIORITIES, Settings

EVIDENCE_VERSION = 2
"""Version 1 records named the previous record's SHA-256 (``chain.prev_sha256``); version 2 records leave
that link to the store's evidence chain."""

PRIORITY_NAMES = {rank: name for name, rank in PRIORITIES.items()}
"""Priorities by name in the record (``low``), as on screen, not the stored rank."""


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's safe dumper where PyYAML has it (several times faster), else the pure-Python one."""


def evidence_relpath(run: dict[str, Any]) -> str:
    """``jobs/<job_type>/YYYY/MM/DD/<run_id>.yaml``, dated by the run's scheduled instant (UTC)."""
    at: datetime = parse_iso(run["scheduled_at"])
    return f"jobs/{run['job_type']}/{at:%Y/%m/%d}/{run['id']}.yaml"


def build_record(run: dict[str, Any], attempts: list[dict[str, Any]], settings: Settings,
                 audit_head: dict[str, Any] | None = None, chain: dict[str, Any] | None = None) -> dict[str, Any]:
    """The evidence document of ``run`` (a runs row) with its attempt rows, and the audit chain's head
    (``{"id", "mac"}``) when it was written: a checkpoint that shows a later truncation of the audit log.

    Records of version 2 (these) do not name the record written before them: that link is kept in the
    store's evidence chain (``store.validation``; each link names its predecessor's SHA-256), so a record
    can be written before its outcome's transaction takes the write lock. ``chain``
    (``{"prev_sha256": ...}``) is only for rebuilding a version-1 record in tests."""
    job = settings.jobs.get(run["job_name"])
    summary = json.loads(run["summary"]) if run.get("summary") else None
    return {
        "evidence_version": EVIDENCE_VERSION,
        "medjobs_version": __version__,
        "run": {
            "id": run["id"], "job_name": run["job_name"], "job_type": run["job_type"],
            "queue": run["queue"], "priority": PRIORITY_NAMES.get(run["priority"], run["priority"]), "trigger": run["trigger"],
            "status": run["status"], "attempt": run["attempt"], "max_attempts": run["max_attempts"],
            "scheduled_at": run["scheduled_at"], "started_at": run["started_at"],
            "finished_at": run["finished_at"], "duration_s": run["duration_s"], "error": run["error"],
        },
        "attempts": [
            {k: a[k] for k in ("attempt", "started_at", "finished_at", "duration_s", "outcome", "error")}
            for a in attempts
        ],
        "validation_rules": job.validation_rules.model_dump() if job else None,
        "summary": summary,
        **({"audit_head": audit_head} if audit_head is not None else {}),
        **({"chain": chain} if chain is not None else {}),
    }


def dump_yaml(record: dict[str, Any]) -> str:
    """``record`` as YAML text, byte for byte what ``yaml.dump(record, sort_keys=False, allow_unicode=True)``
    writes. Records of the usual shape (mappings, lists, numbers, short one-line printable-ASCII strings) are
    written directly; anything else goes through PyYAML. PyYAML's representer (pure Python even with libyaml)
    cost about 0.5 ms a record, inside the transaction that records the outcome."""
    try:
        lines: list[str] = []
        _emit_mapping(record, 0, lines)
        return "\n".join(lines) + "\n" if lines else "{}\n"
    except _NotSimple:
        return yaml.dump(record, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)


class _NotSimple(Exception):
    """A value ``dump_yaml`` leaves to PyYAML."""


_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_ ./()=,+-]*")
_QUOTABLE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_MAX_SCALAR = 70        # PyYAML folds longer scalars over lines (width 80): those go through PyYAML
_RESOLVER = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=4096)
def _string(text: str) -> str:
    if text == "":
        return "''"
    if len(text) > _MAX_SCALAR:
        raise _NotSimple
    is_str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"
    if is_str and _PLAIN.fullmatch(text) and not text.endswith(" "):
        return text
    if not is_str and _QUOTABLE.fullmatch(text):
        return "'" + text.replace("'", "''") + "'"
    raise _NotSimple


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        text = repr(value).lower()
        if value != value or value in (float("inf"), float("-inf")):
            raise _NotSimple
        if "." not in text and "e" in text:      # as PyYAML: 1e-06 -> 1.0e-06, read back as a float
            text = text.replace("e", ".0e", 1)
        return text
    if type(value) is str:
        return _string(value)
    if value == {} and type(value) is dict:
        return "{}"
    if value == [] and type(value) is list:
        return "[]"
    raise _NotSimple


def _emit_mapping(mapping: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        if type(key) is not str:
            raise _NotSimple
        head = f"{pad}{_string(key)}:"
        if type(value) is dict and value:
            lines.append(head)
            _emit_mapping(value, indent + 2, lines)
        elif type(value) is list and value:
            lines.append(head)
            _emit_sequence(value, indent, lines)
        else:
            lines.append(f"{head} {_scalar(value)}")


def _emit_sequence(items: list[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if type(item) is dict and item:
            start = len(lines)
            _emit_mapping(item, indent + 2, lines)
            lines[start] = f"{pad}- {lines[start][indent + 2:]}"
        elif type(item) is list and item:
            raise _NotSimple
        else:
            lines.append(f"{pad}- {_scalar(item)}")


_FOLDERS: set[str] = set()
"""Evidence folders known to exist (created by this process), so a record costs no mkdir."""


def write_record(evidence_dir: Path, relpath: str, record: dict[str, Any]) -> str:
    """Write ``record`` as YAML at ``evidence_dir/relpath`` atomically (a temporary name in the same folder,
    then a rename; not fsynced); return its SHA-256 hex digest."""
    tmp, sha = stage_record(evidence_dir, relpath, record)
    os.replace(tmp, record_path(evidence_dir, relpath))
    return sha


def record_path(evidence_dir: Path | str, relpath: str) -> str:
    """``evidence_dir/relpath`` as a string (the per-run hot path joins strings: a ``Path`` costs a parse)."""
    return f"{os.fspath(evidence_dir)}/{relpath}"


def stage_record(evidence_dir: Path | str, relpath: str, record: dict[str, Any]) -> tuple[str, str]:
    """Write ``record`` as YAML under a temporary name of its own next to ``evidence_dir/relpath`` (not fsynced;
    the folder is made if missing) and return ``(temporary path, SHA-256 hex digest)``: renaming it onto
    ``relpath`` (``os.replace``) puts the record in place at once. Each call gets a fresh temporary name, so
    two writers of one run (a stale attempt and its successor) never write into each other's file.
    Raises OSError if the file cannot be written (nothing is left behind)."""
    data = dump_yaml(record).encode("utf-8")
    target = record_path(evidence_dir, relpath)
    folder = target.rpartition("/")[0]
    if folder not in _FOLDERS:
        os.makedirs(folder, exist_ok=True)
        _FOLDERS.add(folder)
    tmp = f"{target}.{secrets.token_hex(4)}.tmp"
    try:
        _write_new(tmp, data)
    except FileNotFoundError:            # its folder was removed meanwhile: make it again
        _FOLDERS.discard(folder)
        os.makedirs(folder, exist_ok=True)
        _write_new(tmp, data)
    return tmp, hashlib.sha256(data).hexdigest()


STALE_STAGING_S = 3600
"""A staged record (``stage_record``) older than this many seconds belongs to a worker that died before its
outcome was recorded: the run's record is written again at start-up (``outcomes.rebuild_missing_evidence``)."""


def remove_stale_staging(evidence_dir: Path, now_ts: float, older_than_s: float = STALE_STAGING_S) -> int:
    """Remove staged records (``<record>.yaml.<8 hex>.tmp`` under ``evidence_dir/jobs``) whose modification
    time is more than ``older_than_s`` seconds before ``now_ts`` (POSIX seconds), left by a worker killed while
    it wrote one; fresher ones may belong to another runner's attempt in flight and stay. Returns how many
    were removed; a file that vanished or cannot be removed meanwhile is skipped."""
    removed = 0
    for tmp in (evidence_dir / "jobs").glob("*/*/*/*/*.yaml.*.tmp"):
        if not _STAGED_NAME.fullmatch(tmp.name):
            continue
        try:
            if tmp.stat().st_mtime < now_ts - older_than_s:
                tmp.unlink()
                removed += 1
        except OSError:
            continue
    return removed


_STAGED_NAME = re.compile(r".+\.yaml\.[0-9a-f]{8}\.tmp")


def _write_new(path: str, data: bytes) -> None:
    """Create ``path`` (it must not exist) holding ``data``; on any error nothing is left behind."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def file_sha256(path: Path) -> str | None:
    """SHA-256 hex digest of the file at ``path``, or None if it does not exist."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def is_valid(evidence_dir: Path, relpath: str | None, sha256: str | None) -> bool:
    """True when the record exists and its bytes still hash to ``sha256``."""
    if not relpath or not sha256:
        return False
    return file_sha256(evidence_dir / relpath) == sha256
