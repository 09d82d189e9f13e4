"""``medjobs selftest``: a validation exercise on a scratch copy of the clinic, its result recorded as evidence.

What it does, in order (Source: issue 9 item 3; VALIDATION.md section 6, Technical Review):

1. **Scratch copy.** The live store is exported (``store.backup.copy_database``, one read snapshot, as a
   backup is made) into a temporary folder (mode 0700), encrypted with the clinic's store key, with its own
   evidence and backups folders there. Its backups rows are pointed at the scratch folder, so nothing run on
   the copy can touch the live clinic's files. The folder is removed at the end, pass or fail.
2. **Exercise.** A Runner over the copy (the real dispatcher, claims, ``engine.pool.WorkerPool`` worker
   processes with hard timeouts, outcome recording with evidence) runs each configured job once with its real
   handler, plus three scratch-only jobs (``engine.selftest_handlers.FORCED_JOBS``) that force one retry
   after a failure, one timeout (``FORCED_TIMEOUT_S``) and one crash (SIGKILL), each succeeding on its
   second attempt. Notifications the jobs queue stay in the copy's outbox: no delivery loop runs there.
3. **Checks.** Each job succeeded; each job's duration is within its configured timeout (performance); each
   forced run shows its failure then success; every run's evidence record matches its SHA-256; the
   exercise's evidence-chain links each name their predecessor and every record names the previous record
   and an audit head in the trail; the copy's audit chain verifies under the audit key with every checkpoint;
   the copy opens only with its key and is not plain SQLite (data encryption); a role without a permission
   is refused and the refusal audited (access control).
4. **Result.** In the LIVE store: one ``selftest_results`` row (migration 97), an evidence record
   ``selftest/YYYY/MM/DD/selftest-<id>.yaml`` (YAML, its SHA-256 stored with the row, the live audit head in
   it; no patient data) and an audit entry ``selftest.run``, in one transaction. Nothing else of the live
   store changes (patients, runs, outbox).

Verdicts (``SelfTestResult``): ``passed`` ("Tests passing") when every check passed; ``performance_ok``
("Performance verified") when every configured job succeeded within its timeout; ``security_ok``
("Security validated") when the encryption, access-control and audit-chain checks passed.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medjobs_tui import __version__
from medjobs_tui.clock import Clock, iso, parse_iso
from medjobs_tui.config import JOB_TYPES, JobConfig, QueueConfig, RetryPolicy, RunnerConfig, Schedule, Settings
from medjobs_tui.config import MonitoringConfig, PathsConfig, ValidationRules
from medjobs_tui.console.signoff import validated_config_sha256
from medjobs_tui.engine import evidence as evidence_mod
from medjobs_tui.engine.pool import WorkerPool
from medjobs_tui.engine.runner import Runner
from medjobs_tui.engine.selftest_handlers import FORCED_JOBS, ROUTE
from medjobs_tui.engine.validation import check_chain
from medjobs_tui.security import audit
from medjobs_tui.security.keys import Keys, key_file_path
from medjobs_tui.store import connect, key_opens, transaction
from medjobs_tui.store import backup as store_backup
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import selftest as store_selftest
from medjobs_tui.store import validation as store_validation
from medjobs_tui.store.db import is_plaintext

if TYPE_CHECKING:
    from medjobs_tui.console.models import Actor
    from medjobs_tui.console.operations import Console

FORCED_TIMEOUT_S = 0.5
"""The forced timeout job's timeout, in seconds: its first attempt is killed after this long."""

FORCED_JOB_TIMEOUT_S = 20.0
"""Timeout of the forced retry and crash jobs (seconds): ample, they return at once."""

EXERCISE_LIMIT_S = 50.0
"""The exercise gives up (a failed check) when its runs are not all done after this many seconds."""

SCRATCH_QUEUE = "selftest"
"""The one queue of the scratch runner: runs copied from the live store (queued or held by the live runner)
are on the live queues, so they neither take the exercise's slots nor are claimed by it."""

SCRATCH_CONCURRENCY = 2
"""Worker processes (and queue slots) of the exercise: the machine's two cores, shared."""

ACTOR = "selftest"
"""The ``created_by`` of the exercise's runs (in the scratch copy only)."""

PROBE_USER = "selftest.probe"
"""The user name of the access-control probe (an auditor asking to trigger a job, in the copy only)."""

GROUPS = ("tests", "performance", "security")
"""What a check backs: "Tests passing" (every check), "Performance verified", "Security validated"."""

SIGN_OFF_ITEMS = {"Tests passing": "tests", "Performance verified": "performance", "Security validated": "security"}
"""The Technical Review's items (VALIDATION.md section 6) a passing self-test backs, and the verdict each takes."""


@dataclass(frozen=True)
class SelfTestCheck:
    """One check of a self-test: ``name`` (``job:backup``, ``timing:backup``, ``forced:retry``, ``evidence:hashes``,
    ``evidence:chain``, ``audit:chain``, ``security:encryption``, ``security:access``...), its ``group`` (one of
    GROUPS), whether it ``passed`` and ``detail`` in plain words (no patient data)."""

    name: str
    group: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class SelfTestResult:
    """A recorded self-test: ``id`` of its ``selftest_results`` row, ``started_at``/``finished_at`` (aware UTC),
    ``duration_s`` (wall seconds), the three verdicts, ``app_version``, ``config_sha256`` (of the jobs
    configuration), the ``checks``, ``durations`` (job -> {status, duration_s, timeout_s, within_timeout}),
    the ``actor`` and its evidence record (``evidence_path`` relative to the evidence root, ``evidence_sha256``)."""

    id: int
    started_at: datetime
    finished_at: datetime
    duration_s: float
    passed: bool
    performance_ok: bool
    security_ok: bool
    app_version: str
    config_sha256: str
    checks: tuple[SelfTestCheck, ...]
    durations: dict[str, dict[str, Any]] = field(default_factory=dict)
    actor: str = ""
    evidence_path: str | None = None
    evidence_sha256: str | None = None

    @property
    def failed(self) -> list[SelfTestCheck]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.passed]

    def verdict(self, group: str) -> bool:
        """The verdict backing ``group``: ``tests`` -> passed, ``performance`` -> performance_ok,
        ``security`` -> security_ok."""
        return {"tests": self.passed, "performance": self.performance_ok, "security": self.security_ok}[group]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "SelfTestResult":
        """From a decoded ``store.selftest`` row."""
        return cls(
            id=row["id"], started_at=parse_iso(row["started_at"]), finished_at=parse_iso(row["finished_at"]),
            duration_s=row["duration_s"], passed=row["passed"], performance_ok=row["performance_ok"],
            security_ok=row["security_ok"], app_version=row["app_version"], config_sha256=row["config_sha256"],
            checks=tuple(SelfTestCheck(c["name"], c["group"], bool(c["passed"]), c["detail"]) for c in row["checks"]),
            durations=row["durations"], actor=row["actor"], evidence_path=row["evidence_path"],
            evidence_sha256=row["evidence_sha256"])


@dataclass
class Exercise:
    """What the exercise on the scratch copy produced (internal): the copy's settings, the run id of each job,
    each run row and its attempt rows after the runs, the chain seq before the runs, and any problem that
    stopped it (``stopped``: plain words)."""

    settings: Settings
    run_ids: dict[str, int] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    chain_seq_before: int = 0
    stopped: str | None = None


# ---------------------------------------------------------------------------------------- scratch copy


def scratch_settings(settings: Settings, keys_path: Path, root: Path) -> Settings:
    """The configuration of the scratch copy under folder ``root``: the store, backups and evidence there
    (absolute paths), the live key file (``keys_path``), no metrics textfile, one queue (SCRATCH_QUEUE), every
    configured job routed to it, and the three forced jobs added. Raises ValueError if the clinic already
    has a job named like a forced one."""
    clash = sorted(set(FORCED_JOBS) & set(settings.jobs))
    if clash:
        raise ValueError(f"the clinic has a job named {clash[0]!r}, a name the self-test reserves")
    jobs: dict[str, JobConfig] = {name: job.model_copy(update={"queue": SCRATCH_QUEUE})
                                  for name, job in settings.jobs.items()}
    for name, (what, _) in FORCED_JOBS.items():
        jobs[name] = JobConfig(
            priority="low", job_type="analytics_rollup", schedule=Schedule(type="interval", value=86400),
            retry_policy=RetryPolicy(max_attempts=2, delay=0), queue=SCRATCH_QUEUE,
            timeout=FORCED_TIMEOUT_S if what == "timeout" else FORCED_JOB_TIMEOUT_S,
            validation_rules=ValidationRules(critical_path=False, evidence_required=True),
            monitoring_config=MonitoringConfig(metrics_enabled=True, alerts_enabled=False))
    return settings.model_copy(update={
        "jobs": jobs,
        "runner": RunnerConfig(poll_interval=0.05, retention_days=settings.runner.retention_days,
                               queues={SCRATCH_QUEUE: QueueConfig(concurrency=SCRATCH_CONCURRENCY)}),
        "paths": PathsConfig(database=str(root / "data" / "medjobs.db"), backups=str(root / "backups"),
                             evidence=str(root / "evidence"), metrics_textfile=None),
        "security": settings.security.model_copy(update={"key_file": str(keys_path)}),
    })


def make_scratch(settings: Settings, keys: Keys, root: Path) -> Settings:
    """Copy the live store into ``root`` (see the module docstring, step 1); return the copy's settings.
    Raises StoreError / OSError when the copy cannot be made."""
    scratch = scratch_settings(settings, key_file_path(settings), root)
    scratch.evidence_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch.backups_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    store_backup.copy_database(settings.database_path, keys.store, scratch.database_path, keys.store)
    db = connect(scratch.database_path, keys.store)
    try:
        with transaction(db):
            store_selftest.repoint_scratch_paths(db, scratch.backups_dir)
    finally:
        db.close()
    return scratch


def run_exercise(settings: Settings, keys: Keys, clock: Clock, root: Path) -> Exercise:
    """Make the scratch copy under ``root`` and run every configured job and the forced ones on it, through
    the real runner and worker pool, to completion (or EXERCISE_LIMIT_S). Returns the Exercise."""
    scratch = make_scratch(settings, keys, root)
    ex = Exercise(settings=scratch)
    pool = WorkerPool(scratch, handler_overrides={t: ROUTE for t in JOB_TYPES}, size=SCRATCH_CONCURRENCY)
    runner = Runner(scratch, clock=clock, executor=pool, keys=keys)
    try:
        last = store_validation.last_link(runner.db)
        ex.chain_seq_before = last["seq"] if last else 0
        for name in scratch.jobs:
            ex.run_ids[name] = runner.enqueue(name, ACTOR, trigger="manual")
        try:
            runner.drain(timeout=EXERCISE_LIMIT_S, only=set(ex.run_ids.values()))
        except TimeoutError:
            ex.stopped = f"runs still in progress after {EXERCISE_LIMIT_S:g} s"
        for name, run_id in ex.run_ids.items():
            ex.runs[name] = store_runs.get_run(runner.db, run_id)
            ex.attempts[name] = store_runs.run_attempts(runner.db, run_id)
    finally:
        runner.stop()
    return ex


# ---------------------------------------------------------------------------------------- checks


def _job_checks(ex: Exercise, live: Settings) -> tuple[list[SelfTestCheck], dict[str, dict[str, Any]]]:
    checks, timing, durations = [], [], {}
    for name, job in live.jobs.items():
        run = ex.runs.get(name) or {}
        status, took = run.get("status"), run.get("duration_s")
        ok = status == "succeeded"
        within = ok and took is not None and took <= job.timeout
        durations[name] = {"status": status, "duration_s": took, "timeout_s": job.timeout, "within_timeout": within}
        checks.append(SelfTestCheck(
            f"job:{name}", "tests", ok,
            f"ran once with its real handler: succeeded at attempt {run.get('attempt')}" if ok
            else f"did not succeed: {status or 'not run'}" + (f" ({run['error']})" if run.get("error") else "")))
        timing.append(SelfTestCheck(
            f"timing:{name}", "performance", within,
            f"{took:.3f} s of its {job.timeout:g} s timeout" if ok and took is not None
            else "no successful run to time"))
    return checks + timing, durations


FORCED_OUTCOME = {"retry": "failed", "timeout": "timed_out", "crash": "crashed"}
"""What the first attempt of each forced job must have come to."""


def _forced_checks(ex: Exercise) -> list[SelfTestCheck]:
    out = []
    for name, (what, _) in FORCED_JOBS.items():
        run = ex.runs.get(name) or {}
        outcomes = [a["outcome"] for a in ex.attempts.get(name, [])]
        want = [FORCED_OUTCOME[what], "succeeded"]
        ok = outcomes == want and run.get("status") == "succeeded"
        words = {"retry": "a failed attempt retried by the retry policy",
                 "timeout": f"a hung attempt killed at its {FORCED_TIMEOUT_S:g} s timeout, then retried",
                 "crash": "a worker killed by SIGKILL recorded as crashed, then retried"}[what]
        out.append(SelfTestCheck(f"forced:{what}", "tests", ok,
                                 f"{words}: attempts {' -> '.join(outcomes) or 'none'}" if ok else
                                 f"expected attempts {' -> '.join(want)}, got {' -> '.join(outcomes) or 'none'}"
                                 f" (run {run.get('status') or 'not run'})"))
    return out


def _evidence_checks(ex: Exercise, db) -> list[SelfTestCheck]:
    evidence_dir = ex.settings.evidence_dir
    ids = {r["id"]: name for name, r in ex.runs.items() if r}
    bad = [name for name, r in ex.runs.items()
           if not r or not evidence_mod.is_valid(evidence_dir, r.get("evidence_path"), r.get("evidence_sha256"))]
    hashes = SelfTestCheck("evidence:hashes", "tests", not bad and bool(ids),
                           f"{len(ids)} run evidence record(s), each matching its stored SHA-256" if not bad else
                           f"record missing or not matching its SHA-256: {', '.join(bad)}")
    links = [link for link in store_validation.chain_links(db) if link["seq"] > ex.chain_seq_before]
    before = [link for link in store_validation.chain_links(db) if link["seq"] <= ex.chain_seq_before]
    problems = []
    prev = before[-1]["sha256"] if before else None
    for link in links:
        if link["prev_sha256"] != prev:
            problems.append(f"link {link['seq']} does not name its predecessor")
        prev = link["sha256"]
        if link["run_id"] not in ids:
            problems.append(f"link {link['seq']} is not of an exercise run")
    linked = {link["run_id"] for link in links}
    if set(ids) - linked:
        problems.append(f"{len(set(ids) - linked)} run(s) without a chain link")
    found = check_chain(db, evidence_dir)
    problems += [f"{ids[r]}: {why}" for r, why in sorted(found.run_problems.items()) if r in ids]
    chain = SelfTestCheck("evidence:chain", "tests", not problems and bool(links),
                          f"{len(links)} new link(s), each naming the previous record's SHA-256 and an audit head "
                          "in the trail" if not problems else "; ".join(problems[:3]))
    return [hashes, chain]


def _security_checks(ex: Exercise, keys: Keys, clock: Clock) -> list[SelfTestCheck]:
    from medjobs_tui.console.errors import PermissionDenied
    from medjobs_tui.console.models import Actor
    from medjobs_tui.console.operations import Console

    path = ex.settings.database_path
    wrong = secrets.token_bytes(32)
    opens, refuses, cipher = key_opens(path, keys.store), not key_opens(path, wrong), not is_plaintext(path)
    encryption = SelfTestCheck(
        "security:encryption", "security", opens and refuses and cipher,
        "the copy is SQLCipher ciphertext that opens with the store key and refuses another key"
        if opens and refuses and cipher else
        "; ".join(w for w, bad in (("it does not open with its key", not opens),
                                   ("another key opens it", not refuses),
                                   ("it is plain SQLite", not cipher)) if bad))
    scratch = Console(ex.settings, clock=clock, keys=keys)
    try:
        probe = Actor(PROBE_USER, "auditor")
        try:
            scratch.authorise(probe, "job.trigger", "job:selftest")
            refused = False
        except PermissionDenied:
            refused = True
        logged = [e for e in audit.entries(scratch.db, actor=PROBE_USER, action="job.trigger", limit=5)
                  if e["outcome"] == "denied"]
        verdict = audit.verify(scratch.db, keys.audit,
                               audit.find_checkpoints(ex.settings.backups_dir, ex.settings.evidence_dir))
    finally:
        scratch.close()
    access = SelfTestCheck("security:access", "security", refused and bool(logged),
                           "an auditor asking to trigger a job was refused and the refusal audited"
                           if refused and logged else
                           ("the refusal was not audited" if refused else "an auditor was allowed to trigger a job"))
    chain = SelfTestCheck("audit:chain", "security", verdict.ok,
                          f"the copy's {verdict.line()}" if verdict.ok else verdict.line())
    return [encryption, access, chain]


def verify_exercise(ex: Exercise, live: Settings, keys: Keys, clock: Clock) -> tuple[list[SelfTestCheck],
                                                                                      dict[str, dict[str, Any]]]:
    """Every check of the module docstring on the finished exercise; returns (checks, durations)."""
    checks: list[SelfTestCheck] = [SelfTestCheck(
        "exercise", "tests", ex.stopped is None,
        f"{len(ex.run_ids)} runs ({len(live.jobs)} configured jobs, {len(FORCED_JOBS)} forced) on an encrypted "
        "scratch copy, through the runner and its worker pool" if ex.stopped is None else ex.stopped)]
    jobs, durations = _job_checks(ex, live)
    checks += jobs + _forced_checks(ex)
    db = connect(ex.settings.database_path, keys.store)
    try:
        checks += _evidence_checks(ex, db)
    finally:
        db.close()
    checks += _security_checks(ex, keys, clock)
    return checks, durations


# ---------------------------------------------------------------------------------------- run and record


def run_selftest(console: Console, actor: Actor, *, scratch_root: Path | None = None) -> SelfTestResult:
    """Run the self-test for ``actor`` (role already checked by the caller) and record it in the live store;
    return the recorded result. A problem that stops the exercise (the copy cannot be made, the pool broke)
    is a failed check, never an exception; only recording the result can raise (store errors, OSError).
    ``scratch_root``: the folder the temporary one is made in (default: the system's temporary folder)."""
    settings, keys, clock = console.settings, console.keys, console.clock
    started, t0 = clock.now(), time.monotonic()
    durations: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="medjobs-selftest-", dir=scratch_root) as tmp:
        try:
            ex = run_exercise(settings, keys, clock, Path(tmp))
            checks, durations = verify_exercise(ex, settings, keys, clock)
        except Exception as exc:  # noqa: BLE001 - the self-test reports what stopped it as a failed check
            checks = [SelfTestCheck("exercise", "tests", False, f"the exercise stopped: {type(exc).__name__}"
                                    + (f": {exc}" if isinstance(exc, ValueError) else ""))]
    elapsed = time.monotonic() - t0
    finished = max(clock.now(), started + timedelta(seconds=elapsed))
    passed = bool(checks) and all(c.passed for c in checks)
    timing = [c for c in checks if c.group == "performance"]
    performance_ok = len(timing) == len(settings.jobs) and all(c.passed for c in timing)
    security = {c.name: c.passed for c in checks if c.group == "security"}
    security_ok = set(security) == {"security:encryption", "security:access", "audit:chain"} and all(security.values())
    return record_result(console, actor, started=started, finished=finished, duration_s=elapsed, checks=checks,
                         durations=durations, passed=passed, performance_ok=performance_ok, security_ok=security_ok)


def evidence_relpath(result_id: int, started: datetime) -> str:
    """``selftest/YYYY/MM/DD/selftest-<id>.yaml`` under the evidence root, dated by the start (UTC)."""
    return f"selftest/{started:%Y/%m/%d}/selftest-{result_id}.yaml"


def record_result(console: Console, actor: Actor, *, started: datetime, finished: datetime, duration_s: float,
                  checks: list[SelfTestCheck], durations: dict[str, dict[str, Any]], passed: bool,
                  performance_ok: bool, security_ok: bool) -> SelfTestResult:
    """Record a self-test in the live store: its row, its evidence record and the audit entry ``selftest.run``
    (outcome ok when it passed, else error), in one transaction. Returns the recorded result."""
    settings, db = console.settings, console.db
    config_sha = validated_config_sha256(settings)
    with transaction(db):
        result_id = store_selftest.insert_result(
            db, started_at=iso(started), finished_at=iso(finished), duration_s=duration_s, passed=passed,
            performance_ok=performance_ok, security_ok=security_ok, app_version=__version__,
            config_sha256=config_sha, checks=[c.as_dict() for c in checks], durations=durations,
            actor=actor.username)
        relpath = evidence_relpath(result_id, started)
        record = {
            "evidence_version": 1, "kind": "selftest", "medjobs_version": __version__,
            "selftest": {"id": result_id, "started_at": iso(started), "finished_at": iso(finished),
                         "duration_s": round(duration_s, 3), "actor": actor.username, "passed": passed,
                         "config_sha256": config_sha},
            "verdicts": {"tests_passing": passed, "performance_verified": performance_ok,
                         "security_validated": security_ok},
            "checks": [c.as_dict() for c in checks],
            "jobs": durations,
            "audit_head": audit.head(db),
        }
        sha = evidence_mod.write_record(settings.evidence_dir, relpath, record)
        store_selftest.set_result_evidence(db, result_id, relpath, sha)
        audit.record(db, key=console.keys.audit, actor=actor.username, role=actor.role, action="selftest.run",
                     target=f"selftest:{result_id}", outcome="ok" if passed else "error", at=finished,
                     detail={"passed": passed, "performance_ok": performance_ok, "security_ok": security_ok,
                             "failed": [c.name for c in checks if not c.passed][:20], "sha256": sha})
    return latest(console) or SelfTestResult(  # the row just written
        result_id, started, finished, duration_s, passed, performance_ok, security_ok, __version__, config_sha,
        tuple(checks), durations, actor.username, relpath, sha)


def latest(console: Console) -> SelfTestResult | None:
    """The newest recorded self-test, or None."""
    row = store_selftest.latest_result(console.db)
    return SelfTestResult.from_row(row) if row else None


def evidence_intact(console: Console, result: SelfTestResult) -> bool:
    """True when the result's evidence record exists and still matches its stored SHA-256."""
    return evidence_mod.is_valid(console.settings.evidence_dir, result.evidence_path, result.evidence_sha256)


def standing(console: Console, now: datetime, review_days: int) -> dict[str, tuple[bool, str]]:
    """What the latest self-test backs at ``now``: for ``tests``, ``performance`` and ``security``, (holds,
    why in words). It holds only when the latest self-test's verdict is a pass, it ran within the last
    ``review_days`` days, against the validated configuration in force, and its evidence record is intact."""
    result = latest(console)
    if result is None:
        return {g: (False, "no self-test recorded (`medjobs selftest`)") for g in GROUPS}
    when = result.finished_at.astimezone(console.settings.zone).isoformat(timespec="seconds")
    problems = []
    if now - result.finished_at > timedelta(days=review_days):
        problems.append(f"the latest self-test ({when}) is older than the {review_days}-day review period")
    if result.config_sha256 != validated_config_sha256(console.settings):
        problems.append("the validated configuration changed since the latest self-test")
    if not evidence_intact(console, result):
        problems.append("the latest self-test's evidence record is missing or altered")
    out = {}
    for group in GROUPS:
        failed = [c.name for c in result.failed if group == "tests" or c.group == group]
        if problems:
            out[group] = (False, "; ".join(problems))
        elif not result.verdict(group):
            out[group] = (False, f"self-test {result.id} ({when}) failed: {', '.join(failed[:5]) or 'checks missing'}")
        else:
            n = len([c for c in result.checks if group == "tests" or c.group == group])
            out[group] = (True, f"self-test {result.id} ({when}) passed {n} check(s)"
                          + (", every job within its timeout" if group == "performance" else ""))
    return out
