"""Evidence records: one YAML file per run under evidence/jobs/<job_type>/YYYY/MM/DD/<run_id>.yaml.

The record holds the run's facts (times in UTC, attempts, outcome, masked error) and the handler's
summary, which carries counts and pseudonyms only. Its SHA-256 is stored with the run, so a record
that is missing or altered afterwards shows as invalid.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from medjobs_tui import __version__
from medjobs_tui.clock import parse_iso
from medjobs_tui.config import PRIORITIES, Settings

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
    ``chain`` (``{"prev_sha256": <hex or None>}``) names the SHA-256 of the record written before this one,
    so the records form a chain (``engine.validation`` checks it)."""
    job = settings.jobs.get(run["job_name"])
    summary = json.loads(run["summary"]) if run.get("summary") else None
    return {
        "evidence_version": 1,
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


def write_record(evidence_dir: Path, relpath: str, record: dict[str, Any]) -> str:
    """Write ``record`` as YAML at ``evidence_dir/relpath`` atomically; return its SHA-256 hex digest."""
    data = yaml.dump(record, Dumper=_DUMPER, sort_keys=False, allow_unicode=True).encode("utf-8")
    target = evidence_dir / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return hashlib.sha256(data).hexdigest()


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
