"""The runner: APScheduler ticks queue runs, the dispatcher claims them by priority, workers execute them.

The life of one run, top to bottom in this module:

1. ``tick`` (fired by APScheduler's cron or interval trigger) or ``enqueue`` (a user) inserts a
   queued run; a paused job's tick is recorded as ``skipped``; a tick has a dedupe key so it is
   queued once.
2. ``dispatch`` claims due runs, highest priority first, then oldest, within each queue's
   concurrency limit (one ``BEGIN IMMEDIATE`` transaction per claim).
3. ``execute_claimed`` runs the attempt in a worker process killed at the job's timeout
   (``ProcessExecutor``), then records the outcome: succeeded; or failed / timed out, re-queued after
   the retry policy's backoff, or dead when attempts are exhausted.
4. It writes the evidence record and its SHA-256, and an audit entry (and an alert) for a dead run.

``recover`` moves runs left ``running`` by a runner that died to ``interrupted`` and re-queues them.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from medjobs_tui.clock import Clock, SystemClock, iso
from medjobs_tui.config import JobConfig, Settings
from medjobs_tui.engine import evidence
from medjobs_tui.engine.executor import Outcome, ProcessExecutor
from medjobs_tui.engine.retry import next_attempt_at
from medjobs_tui.notify.alerts import alert_run_dead
from medjobs_tui.security import audit
from medjobs_tui.store import ThreadLocalDB
from medjobs_tui.store import runs as store_runs

log = logging.getLogger(__name__)

RUNNER_ACTOR = "runner"
LEASE_SECONDS = 60
"""A runner that has not renewed its heartbeat for this long is taken for dead; its runs are recovered."""
HEARTBEAT_SECONDS = 5.0
"""How often (real seconds) a live runner renews its heartbeat."""
RECOVERY_EVERY_S = LEASE_SECONDS / 2
"""How often (real seconds) a running runner looks for runs of runners that died."""


INTERVAL_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
"""Interval schedules count from this instant, so every runner on a store fires (and dedupes) the same ticks."""


def make_trigger(job: JobConfig, settings: Settings):
    """The APScheduler trigger of ``job``: a crontab in the clinic's zone, or an interval in seconds
    counted from INTERVAL_EPOCH."""
    if job.schedule.type == "cron":
        return CronTrigger.from_crontab(str(job.schedule.value), timezone=settings.zone)
    return IntervalTrigger(seconds=int(job.schedule.value), start_date=INTERVAL_EPOCH, timezone=settings.zone)


def tick_instant(job: JobConfig, now: datetime) -> datetime:
    """The schedule instant a tick firing at ``now`` belongs to: the latest fire time at or before ``now``.

    Cron fire times are whole minutes; interval fire times are INTERVAL_EPOCH + k x interval. APScheduler
    fires at or just after the fire time, so flooring gives every runner the same instant (and dedupe key).
    """
    if job.schedule.type == "cron":
        return now.replace(second=0, microsecond=0)
    every = int(job.schedule.value)
    elapsed = int((now - INTERVAL_EPOCH).total_seconds())
    return INTERVAL_EPOCH + timedelta(seconds=elapsed - elapsed % every)


def next_fire_time(job: JobConfig, settings: Settings, after: datetime) -> datetime | None:
    """The first instant after ``after`` at which ``job``'s schedule fires (aware)."""
    trigger = make_trigger(job, settings)
    return trigger.get_next_fire_time(None, after)


class Runner:
    """The embedded job runner of one clinic (one config, one store).

    ``clock`` supplies every recorded instant (tests inject a FixedClock); ``executor`` runs attempts
    (default: ProcessExecutor). ``start()`` starts the APScheduler clock and the dispatcher thread;
    ``stop()`` stops both and kills running workers, whose runs recovery re-queues on the next start.
    """

    def __init__(self, settings: Settings, clock: Clock | None = None, executor: Any = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.executor = executor or ProcessExecutor(settings)
        self.on_change = on_change
        self.dbs = ThreadLocalDB(settings.database_path)
        self.capacity = {name: q.concurrency for name, q in settings.runner.queues.items()}
        self._pool = ThreadPoolExecutor(max_workers=sum(self.capacity.values()), thread_name_prefix="medjobs-worker")
        self._inflight: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.scheduler: BackgroundScheduler | None = None
        store_runs.sync_jobs(self.db, {name: job.job_type for name, job in settings.jobs.items()})

    @property
    def db(self):
        """This thread's store connection."""
        return self.dbs.get()

    # -------------------------------------------------------------------------- 1. queue runs

    def tick(self, job_name: str, scheduled_at: datetime | None = None) -> int | None:
        """A schedule tick of ``job_name``: queue a run (or record it skipped if the job is paused).

        ``scheduled_at`` defaults to the fire time this tick belongs to (``tick_instant``). Returns the
        run id, or None if this tick was already queued (dedupe key ``<job>@<scheduled_at>``): two runners
        on one store queue each tick once.
        """
        job = self.settings.jobs[job_name]
        now = self.clock.now()
        if scheduled_at is None:
            scheduled_at = tick_instant(job, now)
        paused = job_name in store_runs.paused_jobs(self.db)
        run_id = store_runs.insert_run(
            self.db, job_name=job_name, job_type=job.job_type, queue=job.queue_name,
            priority=job.priority_rank, max_attempts=job.retry_policy.max_attempts, trigger="schedule",
            scheduled_at=scheduled_at, created_by=RUNNER_ACTOR, now=now,
            dedupe_key=f"{job_name}@{iso(scheduled_at)}", status="skipped" if paused else "queued",
            note="job paused" if paused else None,
        )
        self._changed()
        return run_id

    def enqueue(self, job_name: str, actor: str, trigger: str = "manual") -> int:
        """Queue a run of ``job_name`` due now on behalf of ``actor``; return its id. KeyError if unknown."""
        job = self.settings.jobs[job_name]
        now = self.clock.now()
        run_id = store_runs.insert_run(
            self.db, job_name=job_name, job_type=job.job_type, queue=job.queue_name,
            priority=job.priority_rank, max_attempts=job.retry_policy.max_attempts, trigger=trigger,
            scheduled_at=now, created_by=actor, now=now,
        )
        assert run_id is not None  # no dedupe key: always inserted
        self.wake()
        return run_id

    # -------------------------------------------------------------------------- 2. claim

    def dispatch(self, only: set[int] | None = None) -> list[int]:
        """Claim every due run the queues have room for (only the ids in ``only``, if given) and hand each
        to a worker; return their ids."""
        started: list[int] = []
        self._ensure_live()
        while not self._stopping.is_set():
            run = store_runs.claim_next(self.db, self.capacity, self.clock.now(), worker=self.id, only=only)
            if run is None:
                break
            started.append(run["id"])
            with self._lock:
                self._inflight[run["id"]] = self._pool.submit(self.execute_claimed, run)
        if started:
            self._changed()
        return started

    # -------------------------------------------------------------------------- 3-4. execute, record

    def execute_claimed(self, run: dict[str, Any]) -> str:
        """Execute one claimed attempt of ``run`` and record its outcome; return the run's new status."""
        job = self.settings.jobs[run["job_name"]]
        try:
            outcome = self.executor.execute(run, self.clock.now(), job.timeout)
        except Exception as exc:  # noqa: BLE001 - the executor itself broke: the attempt failed
            log.error("executor failed for run %s: %s", run["id"], type(exc).__name__)
            outcome = Outcome("failed", 0.0, error=f"executor error: {type(exc).__name__}")
        if self._stopping.is_set() and outcome.status != "succeeded":
            # killed by stop(): not the job's failure; re-queued now without spending its retry budget
            outcome = Outcome("interrupted", outcome.duration_s, error="runner stopped during the attempt")
        try:
            return self.record_outcome(run, outcome)
        except Exception as exc:  # noqa: BLE001 - a pool thread: say it, never swallow it
            log.error("could not record the outcome of run %s: %s", run["id"], type(exc).__name__)
            return "running"
        finally:
            with self._lock:
                self._inflight.pop(run["id"], None)
            self._changed()
            self.wake()

    def record_outcome(self, run: dict[str, Any], outcome: Outcome) -> str:
        """Apply the retry policy to ``outcome``, move the run on, write evidence; return the new status."""
        db = self.db
        job = self.settings.jobs[run["job_name"]]
        now = self.clock.now()
        retry_at = None
        if outcome.status in ("failed", "timed_out"):
            retry_at = next_attempt_at(job.retry_policy, run["attempt"], run["max_attempts"], now)
        if outcome.detail and outcome.error_ref:
            store_runs.save_error_detail(db, outcome.error_ref, run["id"], now, outcome.detail)
        status = store_runs.finish_attempt(
            db, run["id"], outcome=outcome.status, now=now, duration_s=round(outcome.duration_s, 6),
            error=outcome.error, summary=outcome.summary, retry_at=retry_at,
        )
        self._write_evidence_or_flag(run["id"])
        if status == "dead":
            audit.record(db, actor=RUNNER_ACTOR, role="system", action="run.dead", target=f"run:{run['id']}",
                         outcome="error", at=now, detail={"job": run["job_name"], "attempts": run["attempt"]})
            if job.monitoring_config.alerts_enabled:
                alert_run_dead(db, run_id=run["id"], job_name=run["job_name"], attempt=run["attempt"], now=now)
        return status

    def _write_evidence_or_flag(self, run_id: int) -> None:
        """Write the run's evidence; if that fails, clear the stale record reference so the run shows as
        invalid (validation_status) and say so in the log. The run's outcome stands either way."""
        try:
            self.write_evidence(run_id)
        except Exception as exc:  # noqa: BLE001 - evidence is required: a failure must show, not vanish
            store_runs.clear_evidence(self.db, run_id)
            log.error("evidence of run %s could not be written: %s", run_id, type(exc).__name__)

    def write_evidence(self, run_id: int) -> None:
        """(Re)write the evidence record of run ``run_id`` and store its SHA-256."""
        db = self.db
        run = store_runs.get_run(db, run_id)
        record = evidence.build_record(run, store_runs.run_attempts(db, run_id), self.settings)
        relpath = evidence.evidence_relpath(run)
        sha = evidence.write_record(self.settings.evidence_dir, relpath, record)
        store_runs.set_evidence(db, run_id, relpath, sha)

    # -------------------------------------------------------------------------- recovery

    def recover(self) -> list[int]:
        """Runs left ``running`` by a runner that is gone (stopped, or silent for LEASE_SECONDS): mark each
        attempt interrupted and re-queue it now; an interruption does not spend the run's retry budget.
        Runs held by another live runner (a second window) are left alone. Returns their ids."""
        ids = []
        self._ensure_live()
        expired = self.clock.now() - timedelta(seconds=LEASE_SECONDS)
        for run in store_runs.orphaned_runs(self.db, lease_expired_before=expired):
            with self._lock:
                if run["id"] in self._inflight:
                    continue
            store_runs.finish_attempt(self.db, run["id"], outcome="interrupted", now=self.clock.now(),
                                      duration_s=0.0, error="runner stopped during the attempt")
            self._write_evidence_or_flag(run["id"])
            ids.append(run["id"])
        return ids

    # -------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Recover orphaned runs, start APScheduler (one trigger per job) and the dispatcher thread."""
        self.recover()
        self.scheduler = BackgroundScheduler(timezone=self.settings.zone,
                                             job_defaults={"coalesce": True, "max_instances": 1,
                                                           "misfire_grace_time": 300})
        for name, job in self.settings.jobs.items():
            self.scheduler.add_job(self.tick, make_trigger(job, self.settings), args=[name], id=name, name=name)
        self.scheduler.start()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="medjobs-dispatcher", daemon=True)
        self._dispatcher.start()

    def _dispatch_loop(self) -> None:
        last_recovery = time.monotonic()
        while not self._stopping.is_set():
            try:
                if time.monotonic() - last_recovery >= RECOVERY_EVERY_S:
                    last_recovery = time.monotonic()
                    self.recover()     # another runner may have died holding runs
                self.dispatch()
            except Exception as exc:  # noqa: BLE001 - the loop must survive a locked db or a bad row
                log.error("dispatch failed: %s", type(exc).__name__)
            self._wake.wait(self.settings.runner.poll_interval)
            self._wake.clear()

    def _ensure_live(self) -> None:
        """Register this runner and start renewing its lease (once)."""
        if self._heartbeat is not None:
            return
        store_runs.register_runner(self.db, self.id, self.clock.now())
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name="medjobs-heartbeat", daemon=True)
        self._heartbeat.start()

    def _heartbeat_loop(self) -> None:
        while not self._stopping.wait(HEARTBEAT_SECONDS):
            try:
                store_runs.register_runner(self.db, self.id, self.clock.now())
            except Exception as exc:  # noqa: BLE001 - a busy store delays one heartbeat, not the runner
                log.error("heartbeat failed: %s", type(exc).__name__)

    def wake(self) -> None:
        """Ask the dispatcher to look for due runs now rather than at its next poll."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the clock and the dispatcher, kill running workers and record their attempts as interrupted
        (re-queued, budget kept), then close the runner's own store connections once its threads are done."""
        self._stopping.set()
        self._wake.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)  # a tick is one short insert: let it finish
        if self._dispatcher is not None:
            self._dispatcher.join(timeout)
        if hasattr(self.executor, "kill_all"):
            self.executor.kill_all()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._heartbeat is not None:
            self._heartbeat.join(timeout)
            store_runs.unregister_runner(self.db, self.id)
        self.dbs.close_all()

    def drain(self, timeout: float = 600.0, only: set[int] | None = None) -> None:
        """Dispatch until nothing is due or running (used by ``run --once`` and tests); no background threads.

        With ``only``, just those runs are executed (``trigger --wait``). Raises TimeoutError if work is
        still running after ``timeout`` seconds.
        """
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                self.dispatch(only)
                with self._lock:
                    pending = list(self._inflight.values())
                if not pending:
                    if not self.dispatch(only):
                        return
                    continue
                for fut in pending:
                    fut.result()
            raise TimeoutError(f"runs still in progress after {timeout:g} s")
        finally:
            timer.cancel()

    def next_run_at(self, job_name: str) -> datetime | None:
        """When the scheduler fires ``job_name`` next (None if not started)."""
        if self.scheduler is None:
            return None
        job = self.scheduler.get_job(job_name)
        return job.next_run_time if job else None

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception as exc:  # noqa: BLE001 - a listener must not break the runner
                log.error("on_change listener failed: %s", type(exc).__name__)

