"""Validation status per job, from its ``validation_rules`` and the system's own records.

- ``critical_path``: every scheduled tick of the review window (the last ``WINDOW_S`` seconds, and only
  ticks older than the job's timeout, which have had their chance) has a run that succeeded within the
  timeout counted from the fire time. A tick with no run row (missed: no runner fired it), a run that
  failed, went dead, was coalesced or skipped while paused (said as such), or finished after ``fire time +
  timeout`` (late) makes the job ``failing``. A tick skipped as the repeated hour of a DST change is not a miss.
  A run of the job that no tick made (a manual trigger) and that went dead in the window makes it
  ``failing`` too, until its work is done: an operator's retry of it succeeds (one that waits or was
  cancelled does not do it), or a later manual run of the job succeeds. A critical job's work that never
  got done is a failure whoever asked for it.
- ``evidence_required``: every finished run has an evidence record whose SHA-256 matches the stored one,
  the record is the current link of the evidence chain and names an audit head whose MAC is the audit
  log's MAC for that entry, and the chain's links (in the store) each name their predecessor's SHA-256.
- a job off the critical path: its latest finished run is ``dead`` (retries spent, or bad data): the job is not
  doing its work until an operator's retry or a later run succeeds.
- a job whose latest finished run succeeded but could not assess some orders (its summary's ``orders_failed``:
  the supply monitor and the refill check go on past an order whose data they cannot work out) is ``failing``
  until a later run assesses every order: a patient's supply left unwatched is the job not doing its work, and
  of the statuses there are (``valid``, ``failing``, ``stale``) only ``failing`` does not pass it for fine
  (the alert ``orders_unassessed`` tells staff the same).
- ``stale``: no run of the job finished within two schedule periods.

Status: ``failing`` if any reason above fails, else ``stale``, else ``valid`` (``is_valid``). The
``timestamp`` is the instant of the evaluation (UTC). Source of the shape: VALIDATION.md ``job_metrics``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from medjobs_tui.clock import parse_iso
from medjobs_tui.config import JobConfig, Settings
from medjobs_tui.engine import ticks
from medjobs_tui.engine.evidence import file_sha256
from medjobs_tui.notify.alerts import queue_alert
from medjobs_tui.store import validation as store_validation
from medjobs_tui.store.ticks import PAUSED_REASON, SCHEDULED_TRIGGERS, tick_key

WINDOW_S = 24 * 3600
"""The review window of the critical-path check, in seconds: ticks of the last day are checked."""

MAX_TICKS = 2000
"""At most this many expected fire times are checked per job and evaluation (a 1-minute job has 1440 a day)."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class JobValidation:
    """The validation status of one job at ``timestamp`` (UTC).

    ``status`` is ``valid``, ``failing`` or ``stale``; ``reasons`` says why in short plain words (no patient
    data), empty when valid. ``ticks_checked``/``ticks_ok`` count the critical-path ticks of the window;
    ``runs_checked``/``evidence_ok`` the finished runs whose evidence was checked.
    """

    job_name: str
    status: str
    timestamp: datetime
    reasons: tuple[str, ...] = ()
    critical_path: bool = False
    evidence_required: bool = True
    ticks_checked: int = 0
    ticks_ok: int = 0
    runs_checked: int = 0
    evidence_ok: int = 0
    last_run_at: datetime | None = None

    @property
    def is_valid(self) -> bool:
        """True only for ``valid``."""
        return self.status == "valid"

    def as_status(self) -> dict[str, Any]:
        """``{"is_valid": bool, "timestamp": ISO 8601}``: VALIDATION.md's ``validation_status``."""
        return {"is_valid": self.is_valid, "timestamp": self.timestamp.isoformat()}


@dataclass
class ChainCheck:
    """The evidence chain checked once: per run, the problem with its current record (absent when fine),
    and problems of the chain itself (a link that does not name its predecessor)."""

    run_problems: dict[int, str] = field(default_factory=dict)
    chain_problems: list[str] = field(default_factory=list)


def schedule_period(job: JobConfig, settings: Settings, now: datetime) -> timedelta:
    """The job's schedule period: the interval, or the gap between its next two cron fire times."""
    if job.schedule.type == "interval":
        return timedelta(seconds=int(job.schedule.value))
    first = ticks.next_fire_time(job, settings, now)
    second = ticks.next_fire_time(job, settings, first + timedelta(microseconds=1)) if first else None
    if first is None or second is None:
        return timedelta(days=1)
    return second - first


def check_chain(db: Any, evidence_dir: Path) -> ChainCheck:
    """Check every link of the evidence chain (each names its predecessor's SHA-256) and every run's current
    record (file hash against its link, and its ``audit_head`` against the audit trail; a version-1 record
    also names the previous record, ``chain.prev_sha256``, which must match its link). Records written
    before the chain existed (version 1 without ``chain``) are checked for their hash only."""
    result = ChainCheck()
    links = store_validation.chain_links(db)
    prev_sha = None
    current: dict[int, dict[str, Any]] = {}
    for i, link in enumerate(links):
        if i and link["prev_sha256"] != prev_sha:
            result.chain_problems.append(f"evidence chain broken at link {link['seq']} (run {link['run_id']})")
        prev_sha = link["sha256"]
        current[link["run_id"]] = link
    for run_id, link in current.items():
        path = evidence_dir / link["path"]
        if file_sha256(path) != link["sha256"]:
            result.run_problems[run_id] = "record missing or altered"
            continue
        try:
            doc = yaml.load(path.read_bytes(), Loader=_LOADER)
        except yaml.YAMLError:
            result.run_problems[run_id] = "record unreadable"
            continue
        if not isinstance(doc, dict):
            result.run_problems[run_id] = "record unreadable"
            continue
        chain = doc.get("chain")      # version 1 records name the previous record themselves
        if chain is not None and chain.get("prev_sha256") != link["prev_sha256"]:
            result.run_problems[run_id] = "record does not name the previous record"
            continue
        head = doc.get("audit_head")
        versioned = chain is not None or (isinstance(doc.get("evidence_version"), int) and doc["evidence_version"] >= 2)
        if versioned and (not isinstance(head, dict)
                                  or (head.get("id") and store_validation.audit_mac(db, head["id"]) != head.get("mac"))):
            result.run_problems[run_id] = "record's audit head is not in the audit trail"
    return result


def _critical_reasons(db: Any, job_name: str, job: JobConfig, settings: Settings, now: datetime,
                      runs: list[dict[str, Any]]) -> tuple[list[str], int, int]:
    dead = store_validation.unmended_dead_runs(db, job_name, now - timedelta(seconds=WINDOW_S), SCHEDULED_TRIGGERS)
    reasons, checked, ok = _tick_reasons(db, job_name, job, settings, now, runs)
    if dead:
        reasons.append(f"{len(dead)} manual run(s) dead")
    return reasons, checked, ok


def _tick_reasons(db: Any, job_name: str, job: JobConfig, settings: Settings, now: datetime,
                  runs: list[dict[str, Any]]) -> tuple[list[str], int, int]:
    first = store_validation.first_run_at(db, job_name)
    if first is None:
        return [], 0, 0
    timeout = timedelta(seconds=job.timeout)
    start = max(now - timedelta(seconds=WINDOW_S), parse_iso(first) - timedelta(microseconds=1))
    until = now - timeout
    if until <= start:
        return [], 0, 0
    expected = ticks.fire_times(ticks.make_trigger(job, settings), start, until, limit=MAX_TICKS)
    by_key = {r["dedupe_key"]: r for r in runs if r["trigger"] in SCHEDULED_TRIGGERS and r["dedupe_key"]}
    missed = failed = late = paused = 0
    ok = 0
    for t in expected:
        run = by_key.get(tick_key(job_name, t))
        if run is None:
            if not ticks.is_repeated_hour(t, settings.zone):
                missed += 1
            else:
                ok += 1
            continue
        if run["status"] == "skipped" and (run["error"] or "").startswith("repeated hour"):
            ok += 1
        elif run["status"] == "succeeded":
            if parse_iso(run["finished_at"]) <= t + timeout:
                ok += 1
            else:
                late += 1
        elif run["status"] == "skipped" and run["error"] == PAUSED_REASON:
            paused += 1
        elif run["status"] in ("skipped", "coalesced"):
            missed += 1
        elif run["status"] in ("dead", "cancelled", "failed", "timed_out", "interrupted"):
            failed += 1
        else:  # still queued or running past fire time + timeout
            late += 1
    reasons = []
    if missed:
        reasons.append(f"{missed} scheduled tick(s) missed")
    if paused:
        reasons.append(f"{paused} scheduled tick(s) skipped while the job was paused")
    if failed:
        reasons.append(f"{failed} critical run(s) failed")
    if late:
        reasons.append(f"{late} critical run(s) late (not done within the {job.timeout:g} s timeout)")
    return reasons, len(expected), ok


def _orders_failed(run: dict[str, Any] | None) -> int:
    """How many orders a succeeded run reports it could not assess (its summary's ``orders_failed``: the supply
    monitor and refill check go on past an order whose data they cannot work out), 0 for any other run."""
    if run is None or run["status"] != "succeeded" or not run.get("summary"):
        return 0
    try:
        n = json.loads(run["summary"]).get("orders_failed", 0)
    except (ValueError, AttributeError):
        return 0
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0


def evaluate(db: Any, settings: Settings, now: datetime, chain: ChainCheck | None = None) -> list[JobValidation]:
    """The validation status of every configured job at ``now`` (aware), in config order."""
    chain = chain if chain is not None else check_chain(db, settings.evidence_dir)
    results = []
    for name, job in settings.jobs.items():
        rules = job.validation_rules
        reasons: list[str] = []
        runs = store_validation.job_runs(db, name)
        n_ticks = ok_ticks = 0
        if rules.critical_path:
            crit, n_ticks, ok_ticks = _critical_reasons(db, name, job, settings, now, runs)
            reasons += crit
        finished = [r for r in runs if r["finished_at"] and r["status"] not in ("skipped", "cancelled", "coalesced")]
        latest = max(finished, key=lambda r: (r["finished_at"], r["id"]), default=None)
        if not rules.critical_path and latest is not None and latest["status"] == "dead":
            reasons.append(f"latest run dead (run {latest['id']})")     # a critical job's are counted above
        unassessed = _orders_failed(latest)
        if unassessed:
            reasons.append(f"latest run {latest['id']} could not assess {unassessed} order(s)")  # type: ignore[index]
        ev_ok = 0
        if rules.evidence_required:
            bad: dict[str, int] = {}
            for r in finished:
                if not r["evidence_path"] or not r["evidence_sha256"]:
                    problem = "record missing"
                elif file_sha256(settings.evidence_dir / r["evidence_path"]) != r["evidence_sha256"]:
                    problem = "record missing or altered"
                else:
                    problem = chain.run_problems.get(r["id"])
                if problem:
                    bad[problem] = bad.get(problem, 0) + 1
                else:
                    ev_ok += 1
            reasons += [f"evidence: {n} run(s) {what}" for what, n in sorted(bad.items())]
            if chain.chain_problems:
                reasons.append(chain.chain_problems[0])
        last = store_validation.last_finished_at(db, name)
        last_at = parse_iso(last) if last else None
        stale = last_at is None or now - last_at > 2 * schedule_period(job, settings, now)
        status = "failing" if reasons else ("stale" if stale else "valid")
        if status == "stale":
            reasons = ["no run yet" if last_at is None else "no run within two schedule periods"]
        results.append(JobValidation(
            job_name=name, status=status, timestamp=now, reasons=tuple(reasons), critical_path=rules.critical_path,
            evidence_required=rules.evidence_required, ticks_checked=n_ticks, ticks_ok=ok_ticks,
            runs_checked=len(finished) if rules.evidence_required else 0, evidence_ok=ev_ok, last_run_at=last_at,
        ))
    return results


def raise_alerts(db: Any, settings: Settings, results: list[JobValidation], now: datetime) -> list[str]:
    """Queue a staff alert for each critical-path job that is failing (once per job and UTC day, through
    ``notify.alerts.queue_alert``) when its monitoring has alerts enabled; return the jobs alerted anew."""
    alerted = []
    for v in results:
        job = settings.jobs.get(v.job_name)
        if job is None or not v.critical_path or v.status != "failing" or not job.monitoring_config.alerts_enabled:
            continue
        if queue_alert(db, code="critical_job_failing", scope=f"{v.job_name}@{now:%Y-%m-%d}",
                       area=f"failing checks of job {v.job_name}", count=len(v.reasons), now=now):
            alerted.append(v.job_name)
    return alerted
