"""The runner: APScheduler ticks queue runs, the dispatcher claims them by priority, workers execute them.

The life of one run, top to bottom in this module:

1. ``fire`` (APScheduler's fire times of a job, handed over by ``ticks.TickExecutor``) records each
   fire time through ``engine.ticks`` (keyed by the fire time; DST, coalescing and misfire rules), or
   ``enqueue`` (a user) inserts a queued run. At start, ``ticks.catch_up_all`` handles the fire times
   missed while no runner ran.
2. ``dispatch`` claims due runs, highest priority first, then oldest, within each queue's
   concurrency limit (one ``BEGIN IMMEDIATE`` transaction per claim).
3. ``execute_claimed`` runs the attempt in a long-lived worker process of the pool (``engine.pool``),
   killed at the job's timeout, fenced by its claim. In a started runner the thread that recorded an
   outcome claims the next due run itself (``_execute_chain``), as ``dispatch`` would, with the short runs
   that follow it in its queue as one claim batch (``_admit``: at most BATCH_BUDGET_S of expected work),
   run one after another in one worker (``WorkerPool.execute_batch``).
4. ``engine.outcomes.record_many`` records the outcomes (of one run or a batch) in one transaction:
   succeeded; or failed / timed out / crashed, re-queued after the retry policy's backoff, or dead when
   attempts are exhausted; the
   evidence record and its SHA-256; an audit entry (and an alert) for a dead run. A busy or full store
   is waited out (``engine.storeretry``); meanwhile the runner claims nothing and says so (``status``).

``engine.recovery`` moves runs left ``running`` by a runner that died to ``interrupted`` and re-queues them.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from apscheduler.schedulers.background import BackgroundScheduler

from medjobs_tui.clock import Clock, SystemClock, iso
from medjobs_tui.config import Settings
from medjobs_tui.engine import alerting, evidence, exposition, outcomes, pruning, recovery, ticks, validation
from medjobs_tui.engine.delivery import DeliveryLoop
from medjobs_tui.engine.outcomes import RUNNER_ACTOR
from medjobs_tui.engine.pool import NOT_STARTED, Outcome, WorkerPool
from medjobs_tui.engine.recovery import HEARTBEAT_SECONDS, LEASE_SECONDS, RECOVERY_EVERY_S  # noqa: F401 - re-exported
from medjobs_tui.engine.storeretry import GaveUp, StoreRetry
from medjobs_tui.security import audit
from medjobs_tui.security.keys import Keys, load_keys
from medjobs_tui.store import ThreadLocalDB, is_transient, transaction
from medjobs_tui.store import runs as store_runs

BATCH_MAX_RUNS = 32
"""At most this many runs are claimed in one claim batch (see ``Runner._admit``)."""
BATCH_BUDGET_S = 0.05
"""A claim batch takes runs while their expected durations add up to at most this many seconds: runs of a few
milliseconds (no-op, tiny reminders) share one transaction and one worker hand-off; a real handler's run,
taking longer, is claimed alone. A higher-priority run that arrives meanwhile waits at most about this long more."""
EXPECTED_FROM = timedelta(days=7)
"""At start the runner takes each job's expected duration from its attempts of this recent past (see ``_learn``)."""
NEVER_BATCHED = frozenset({"backup"})
"""Job types never claimed in a batch. A batch's outcomes are recorded together once it ends, so if the runner
dies meanwhile, runs of it that had finished are re-run after recovery: harmless for handlers whose every effect
is a store write keyed for once-only (outbox idempotency keys, one dose-log row per dose instant, upserted
metrics), not for a backup, whose effect is a file."""
MINUTELY_S = 60
"""Seconds between the runner's validation-alert and metrics-textfile passes."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerStatus:
    """What the runner is doing, for the dashboard header and ``medjobs`` output.

    ``state``: ``idle`` (not started), ``running``, ``blocked`` (outcomes cannot be recorded: the store is
    busy or full; nothing new is claimed until they are) or ``stopped``; ``message`` says it in words.
    """

    state: str
    message: str


class Runner:
    """The embedded job runner of one clinic (one config, one store).

    ``clock`` supplies every recorded instant (tests inject a FixedClock); ``executor`` runs attempts
    (default: a WorkerPool). ``start()`` starts the APScheduler clock and the dispatcher thread;
    ``stop()`` stops both and kills running workers, whose runs are re-queued. ``store_retry`` sets how
    a busy or full store is waited out (tests inject a sleep that moves their clock).
    """

    def __init__(self, settings: Settings, clock: Clock | None = None, executor: Any = None,
                 on_change: Callable[[], None] | None = None, store_retry: StoreRetry | None = None,
                 keys: Keys | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.keys = keys or load_keys(settings)  # KeyFileError (one line) before anything starts
        self.dbs = ThreadLocalDB(settings.database_path, self.keys.store)
        self.executor = executor or WorkerPool(settings)
        self.store_retry = store_retry or StoreRetry()
        self._blocked: dict[int, str] = {}     # run id -> why its outcome cannot be recorded yet
        self._started = False
        self.on_change = on_change
        self.capacity = {name: q.concurrency for name, q in settings.runner.queues.items()}
        self._pool = ThreadPoolExecutor(max_workers=sum(self.capacity.values()), thread_name_prefix="medjobs-worker")
        self._inflight: dict[int, Future] = {}
        self._held: dict[int, str] = {}        # run id -> queue, of the runs in flight here
        self._slot: dict[int, int] = {}        # run id -> its claim batch (first run id), for batched runs in flight
        self._expected_s: dict[str, float] = {}  # job name -> expected attempt duration (seconds), see _learn
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None
        self.id = recovery.new_runner_id()
        self.scheduler: BackgroundScheduler | None = None
        self.delivery = DeliveryLoop(settings, self.clock, self.id, dbs=self.dbs)  # notifications out
        store_runs.sync_jobs(self.db, {name: job.job_type for name, job in settings.jobs.items()})

    @property
    def db(self):
        """This thread's store connection."""
        return self.dbs.get()

    # -------------------------------------------------------------------------- 1. queue runs

    def fire(self, job_name: str, fire_times: Sequence[datetime] = ()) -> list[tuple[datetime, int | None, str | None]]:
        """Fire times of ``job_name`` delivered by APScheduler (its scheduled run times, which
        ``ticks.TickExecutor`` appends to the call): record each as a tick (see
        ``engine.ticks.record_fire_times``; a busy store is waited out) and wake the dispatcher. Returns
        (fire time, run id or None if already recorded, status) per row."""
        times = list(fire_times)
        what = f"inserting the tick of {job_name} at {', '.join(iso(t) or '' for t in times)}"
        rows = self.store_retry.call(
            what, lambda: ticks.record_fire_times(self.db, self.settings, job_name, times, self.clock.now(),
                                                  RUNNER_ACTOR),
            should_stop=self._stopping.is_set)
        self.wake()
        self._changed()
        return rows

    def prune(self) -> int:
        """Fold finished runs past ``runner.retention_days`` into daily metrics and remove them (evidence
        files stay; see ``engine.pruning``); return how many. A failure is logged in one line, not raised."""
        try:
            return self.store_retry.call("pruning finished runs", lambda: pruning.prune(
                self.db, self.settings, self.clock.now()), should_stop=self._stopping.is_set)
        except Exception as exc:  # noqa: BLE001 - pruning can wait for its next turn
            log.error("pruning failed: %s", type(exc).__name__)
            return 0

    def tick(self, job_name: str, fire_time: datetime) -> int | None:
        """One fire time of ``job_name``: the run id of its row (queued, coalesced or skipped), or None if
        that fire time was already recorded (dedupe key ``<job>@<fire time UTC>``)."""
        rows = self.fire(job_name, [fire_time])
        return rows[0][1] if rows else None

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
        while not self._stopping.is_set() and not self._blocked:
            if self._every_slot_held():     # nothing can be claimed: spare the store a read
                break
            try:
                run = store_runs.claim_next(self.db, self.capacity, self.clock.now(), worker=self.id, only=only,
                                            jobs=self.settings.jobs)
            except Exception as exc:  # noqa: BLE001 - a busy store: claim again at the next wake or poll
                if not is_transient(exc):
                    raise
                log.warning("claiming failed (%s); claiming again at the next poll", str(exc)[:60])
                break
            if run is None:
                break
            started.append(run["id"])
            with self._lock:
                if self._dispatcher is not None and only is None:   # started: the thread claims on (``_execute_chain``)
                    holder: list[Future] = []
                    holder.append(self._pool.submit(self._execute_chain, run, holder))
                    self._inflight[run["id"]] = holder[0]
                else:
                    self._inflight[run["id"]] = self._pool.submit(self.execute_claimed, run)
                self._held[run["id"]] = run["queue"]
        if started:
            self._changed()
        return started

    def _every_slot_held(self) -> bool:
        """True when this runner's own runs in flight fill every queue to its concurrency: no claim can
        succeed (the store counts at least these as running), so the dispatcher need not ask the store.
        The runs of one claim batch hold one slot."""
        with self._lock:
            held = {(queue, self._slot.get(run_id, run_id)) for run_id, queue in self._held.items()}
        queues = [queue for queue, _ in held]
        return all(queues.count(queue) >= limit for queue, limit in self.capacity.items())

    # -------------------------------------------------------------------------- 3-4. execute, record

    def _claim(self) -> list[dict[str, Any]]:
        """Claim the next due run and, if the executor runs batches, the short runs that follow it in its
        queue as one claim batch (``store.runs.claim_batch``, admitted by ``_admit``)."""
        if not hasattr(self.executor, "execute_batch"):
            run = store_runs.claim_next(self.db, self.capacity, self.clock.now(), worker=self.id,
                                        jobs=self.settings.jobs)
            return [run] if run is not None else []
        return store_runs.claim_batch(self.db, self.capacity, self.clock.now(), worker=self.id,
                                      max_runs=BATCH_MAX_RUNS, admit=self._admit, jobs=self.settings.jobs)

    def _admit(self, candidates: list[dict[str, Any]]) -> int:
        """How many of ``candidates`` (due runs of one queue in claim order) one claim batch takes: while
        the expected durations of its runs add up to at most BATCH_BUDGET_S. A run whose job has not run
        under this runner yet, or runs longer, or is of a type in NEVER_BATCHED, ends the batch (the first run is
        always claimed). So a batch delays a higher-priority run that arrives meanwhile by about BATCH_BUDGET_S
        at most."""
        total = 0.0
        for n, run in enumerate(candidates):
            expected = self._expected_s.get(run["job_name"])
            job = self.settings.jobs.get(run["job_name"])
            if expected is None or total + expected > BATCH_BUDGET_S or job is None or job.job_type in NEVER_BATCHED:
                return n
            total += expected
        return len(candidates)

    def _learn(self, run: dict[str, Any], outcome: Outcome) -> None:
        """Update the expected duration (seconds) of ``run``'s job: an exponentially weighted mean of its
        attempts' durations. An attempt that timed out or crashed makes it unbounded (the job is claimed alone:
        its next attempt may kill its worker again, and a batch's runs after it would go back unstarted each
        time) until an attempt of it ends normally; a run that did not start teaches nothing."""
        name = run["job_name"]
        if outcome.status in ("succeeded", "failed"):
            old = self._expected_s.get(name)
            fresh = old is None or old == float("inf")
            self._expected_s[name] = outcome.duration_s if fresh else 0.8 * old + 0.2 * outcome.duration_s
        elif outcome.status in ("timed_out", "crashed"):
            self._expected_s[name] = float("inf")   # not batched again until an attempt of it ends normally

    def _execute_chain(self, run: dict[str, Any], holder: list[Future]) -> str:
        """Execute ``run``, then, while the runner runs and can record outcomes, claim the next due run
        (``store.runs.claim_batch``: the same order and queue limits as ``dispatch``; short runs that follow
        it in its queue come along as a claim batch) and execute it on this thread, without a round trip
        through the dispatcher. The next runs are claimed in the transaction that records the outcomes (one
        write transaction per batch instead of two per run); when that claim found nothing or the outcomes
        were not recorded, a claim of its own follows. Wakes the dispatcher once the chain ends."""
        status, after = self._execute_runs([run], wake=False, claim_next=True)
        try:
            while True:
                runs, after = after, []
                if not runs:
                    if self._stopping.is_set() or self._blocked:
                        break
                    try:
                        runs = self._claim()
                    except Exception as exc:  # noqa: BLE001 - the dispatcher claims again at its next wake or poll
                        log.warning("claiming failed (%s); claiming again at the next poll", str(exc)[:60])
                        break
                    if not runs:
                        break
                elif self._stopping.is_set():   # claimed as the runner began to stop: hand them back now
                    for claimed in runs:
                        self._release(claimed)
                    break
                with self._lock:
                    for claimed in runs:
                        self._inflight[claimed["id"]] = holder[0]
                        self._held[claimed["id"]] = claimed["queue"]
                        if claimed.get("claim_batch"):
                            self._slot[claimed["id"]] = claimed["claim_batch"]
                self._changed()
                status, after = self._execute_runs(runs, wake=False, claim_next=True)
        finally:
            self.wake()
        return status

    def execute_claimed(self, run: dict[str, Any], wake: bool = True) -> str:
        """Execute one claimed attempt of ``run`` and record its outcome; return the run's new status.

        The run's queue slot is released only when its outcome is recorded: a busy or full store is
        waited out with backoff (one log line per try), and meanwhile the runner claims nothing
        (``status`` says so). Only a stop gives up; the run is then recovered as interrupted. ``wake``: ask
        the dispatcher to look for work afterwards (``_execute_chain`` claims the next run itself).
        """
        return self._execute_runs([run], wake)[0]

    def _execute_runs(self, runs: list[dict[str, Any]], wake: bool,
                      claim_next: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """``execute_claimed`` for one run or a claim batch (its runs in order, executed one after another in
        one worker). The outcomes are recorded in one transaction, each under its own savepoint (a run
        whose claim was lost records nothing; the others do); with ``claim_next`` the same transaction
        claims the next due runs (if the runner is not stopping), returned second (empty if none or the
        outcomes were not recorded). Returns the last run's new status first."""
        now = self.clock.now()
        try:
            if len(runs) == 1:
                job = self.settings.jobs[runs[0]["job_name"]]
                results = [self.executor.execute(runs[0], now, job.timeout)]
            else:
                results = self.executor.execute_batch(
                    runs, now, [self.settings.jobs[r["job_name"]].timeout for r in runs], budget_s=BATCH_BUDGET_S)
        except Exception as exc:  # noqa: BLE001 - the executor itself broke: the attempt failed
            log.error("executor failed for %s: %s", _ids(runs), type(exc).__name__)
            results = [Outcome("failed", 0.0, error=f"executor error: {type(exc).__name__}")]
            results += [Outcome("not_started", 0.0, error=NOT_STARTED) for _ in runs[1:]]   # a batch's others
        if self._stopping.is_set():
            # killed by stop(): not the job's failure; re-queued now without spending its retry budget
            results = [o if o.status in ("succeeded", "not_started")
                       else Outcome("interrupted", o.duration_s, error="runner stopped during the attempt",
                                    started_at=o.started_at, finished_at=o.finished_at)
                       for o in results]
        for run, outcome in zip(runs, results):
            self._learn(run, outcome)
        claimed: list[dict[str, Any]] = []
        statuses: list[str] = []

        def record() -> None:
            claimed.clear()       # a retried transaction claims afresh
            statuses.clear()
            with transaction(self.db):
                statuses.extend(outcomes.record_many(self.db, self.settings, list(zip(runs, results)),
                                                     self.clock.now(), audit_key=self.keys.audit))
                if claim_next and not self._stopping.is_set():
                    claimed.extend(self._claim())
        recorded = False
        try:
            self.store_retry.call(
                f"recording the {_outcomes_of(runs)}", record,
                should_stop=self._stopping.is_set, on_blocked=lambda why: self._block(runs[0]["id"], why))
            recorded = True
        except GaveUp:
            statuses = ["running"]
        except Exception as exc:  # noqa: BLE001 - a pool thread: say it, never swallow it
            log.error("could not record the %s: %s", _outcomes_of(runs), type(exc).__name__)
            statuses = ["running"]
        finally:
            with self._lock:
                for run in runs:
                    self._inflight.pop(run["id"], None)
                    self._held.pop(run["id"], None)
                    self._slot.pop(run["id"], None)
                if self._blocked.pop(runs[0]["id"], None) is not None and not self._blocked:
                    log.warning("outcomes are recorded again; claiming resumes")
            self._changed()
            if wake:
                self.wake()
            self.delivery.wake()  # the runs may have queued notifications
        return statuses[-1], (claimed if recorded else [])

    def _release(self, run: dict[str, Any]) -> None:
        """Hand a claimed run that will not be executed (the runner is stopping) back to the queue now:
        its attempt is closed as interrupted, budget kept. If the store refuses, recovery re-queues it."""
        try:
            outcomes.record(self.db, self.settings, run, Outcome("interrupted", 0.0, error=recovery.INTERRUPTED),
                            self.clock.now(), audit_key=self.keys.audit)
        except Exception as exc:  # noqa: BLE001 - recovery re-queues it once this runner is gone
            log.error("could not hand run %s back to the queue: %s", run["id"], type(exc).__name__)

    def _block(self, run_id: int, why: str) -> None:
        with self._lock:
            first = not self._blocked
            self._blocked[run_id] = why
        if first:
            log.error("cannot record outcomes (%s): claiming no new runs until they are recorded", why)
            self._changed()

    def record_outcome(self, run: dict[str, Any], outcome: Outcome) -> str:
        """Record ``outcome`` of the claimed attempt ``run`` (``engine.outcomes.record``); return the new status."""
        return outcomes.record(self.db, self.settings, run, outcome, self.clock.now(), audit_key=self.keys.audit)

    def write_evidence(self, run_id: int) -> None:
        """(Re)write the evidence record of run ``run_id`` and store its SHA-256 (invalid if it cannot be)."""
        outcomes.write_evidence(self.db, self.settings, run_id)

    def status(self) -> RunnerStatus:
        """What the runner is doing now (see RunnerStatus)."""
        with self._lock:
            blocked = dict(self._blocked)
        if self._stopping.is_set():
            return RunnerStatus("stopped", "runner stopped")
        if blocked:
            why = next(iter(blocked.values()))
            return RunnerStatus("blocked", f"runner blocked: cannot record {len(blocked)} outcome(s) ({why}); "
                                           "claiming no new runs")
        if not self._started:
            return RunnerStatus("idle", "runner not started")
        return RunnerStatus("running", "runner running")

    # -------------------------------------------------------------------------- recovery

    def recover(self) -> list[int]:
        """Runs left ``running`` by a runner that is gone (its process ended, or silent for LEASE_SECONDS):
        close each attempt as interrupted and re-queue it now, without spending its retry budget
        (``engine.recovery``). This runner's own attempts in flight are left alone. Returns their ids."""
        self._ensure_live()
        with self._lock:
            in_flight = set(self._inflight)
        return recovery.recover(self.db, self.settings, self.id, self.clock.now(), in_flight)

    # -------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Recover orphaned runs, cancel queued runs of jobs no longer configured, learn each job's expected
        duration from its recent attempts (claim batches, ``_admit``), rebuild missing evidence, start the
        worker pool, catch up ticks missed while no runner ran (each job's misfire policy), start APScheduler
        (one trigger per job, every fire time handed to ``fire``; pruning now and every
        ``pruning.PRUNE_EVERY_S``) and the dispatcher thread."""
        self.recover()
        self.cancel_unconfigured()
        self._expected_s.update(store_runs.typical_durations(self.db, self.clock.now() - EXPECTED_FROM))
        outcomes.rebuild_missing_evidence(self.db, self.settings)
        evidence.remove_stale_staging(self.settings.evidence_dir, time.time())   # left by workers killed mid-write
        if hasattr(self.executor, "start"):
            self.executor.start()
        self._started = True
        self.evaluate_alerts()  # before the catch-up: ticks missed while no runner ran fire the dead-man's switch
        self.store_retry.call("catching up missed ticks", lambda: ticks.catch_up_all(
            self.db, self.settings, self.clock.now(), RUNNER_ACTOR), should_stop=self._stopping.is_set)
        self.scheduler = BackgroundScheduler(
            timezone=self.settings.zone, executors={"ticks": ticks.TickExecutor()},
            job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 1000})
        for name, job in self.settings.jobs.items():
            self.scheduler.add_job(self.fire, ticks.make_trigger(job, self.settings), args=[name], id=name, name=name,
                                   executor="ticks")
        self.scheduler.add_job(self.minutely, "interval", seconds=MINUTELY_S, id="medjobs.minutely",
                               name="validation alerts and metrics textfile")
        self.prune()
        self.scheduler.add_job(self.prune, "interval", seconds=pruning.PRUNE_EVERY_S, id="_prune",
                               name="pruning finished runs")
        self.scheduler.start()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="medjobs-dispatcher", daemon=True)
        self._dispatcher.start()
        self.delivery.start()

    def cancel_unconfigured(self) -> dict[str, int]:
        """Cancel the queued runs of jobs not in this runner's configuration (removed or renamed since they were
        queued: ``store.runs.cancel_unconfigured``), with an audit entry per job and a warning in the log; this
        runner never claims them anyway. Returns ``{job name: runs cancelled}``."""
        now = self.clock.now()
        with transaction(self.db):
            counts = store_runs.cancel_unconfigured(self.db, self.settings.jobs, RUNNER_ACTOR, now)
            for name, n in counts.items():
                audit.record(self.db, key=self.keys.audit, actor=RUNNER_ACTOR, role="system",
                             action="runs.cancel_unconfigured", target=f"job:{name}", outcome="ok", at=now,
                             detail={"runs": n})
        for name, n in counts.items():
            log.warning("cancelled %d queued run(s) of job %s: it is not in the configuration in force", n, name)
        return counts

    def minutely(self) -> None:
        """Every MINUTELY_S seconds: alert on critical jobs that fail validation (``engine.validation``),
        evaluate the alerts' life cycle (``engine.alerting``: open, bump, resolve) and rewrite the Prometheus
        textfile (``paths.metrics_textfile``) if configured. Errors are logged, never raised."""
        try:
            now = self.clock.now()
            results = validation.evaluate(self.db, self.settings, now)
            validation.raise_alerts(self.db, self.settings, results, now)
            alerting.evaluate(self.db, self.settings, now, results)
            if self.settings.metrics_textfile_path is not None:
                exposition.write_textfile(self.db, self.settings, self.clock.now, self.settings.metrics_textfile_path)
        except Exception as exc:  # noqa: BLE001 - monitoring must never stop the runner
            log.error("validation and metrics pass failed: %s", type(exc).__name__)

    def evaluate_alerts(self) -> None:
        """Evaluate the alerts read from the records (``engine.alerting``: dead-man's switch, error rate, dead
        runs) now; a failure is logged in one line, never raised."""
        try:
            alerting.evaluate(self.db, self.settings, self.clock.now())
        except Exception as exc:  # noqa: BLE001 - monitoring must never stop the runner
            log.error("alert evaluation failed: %s", type(exc).__name__)

    def _dispatch_loop(self) -> None:
        last_recovery = time.monotonic()
        while not self._stopping.is_set():
            try:
                if time.monotonic() - last_recovery >= RECOVERY_EVERY_S:
                    last_recovery = time.monotonic()
                    self.recover()     # another runner may have died holding runs
                self._wake.clear()     # before claiming: a wake during the claims is not lost
                self.dispatch()
            except Exception as exc:  # noqa: BLE001 - the loop must survive a locked db or a bad row
                log.error("dispatch failed: %s", type(exc).__name__)
            self._wake.wait(self.settings.runner.poll_interval)

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
                self.store_retry.call("heartbeat", lambda: store_runs.register_runner(self.db, self.id, self.clock.now()),
                                      should_stop=self._stopping.is_set)
            except GaveUp:
                return
            except Exception as exc:  # noqa: BLE001 - a broken heartbeat must not kill the runner
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
        self.delivery.stop(timeout)
        if self._heartbeat is not None:
            self._heartbeat.join(timeout)
            try:
                store_runs.unregister_runner(self.db, self.id)
            except Exception as exc:  # noqa: BLE001 - its lease then expires instead
                log.error("could not unregister the runner: %s", type(exc).__name__)
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


def _ids(runs: list[dict[str, Any]]) -> str:
    """``run 7``, or ``runs 7, 8, 9`` (a claim batch), for log lines."""
    return f"run {runs[0]['id']}" if len(runs) == 1 else "runs " + ", ".join(str(r["id"]) for r in runs)


def _outcomes_of(runs: list[dict[str, Any]]) -> str:
    """``outcome of run 7``, or ``outcomes of runs 7, 8, 9`` (a claim batch), for log lines."""
    return ("outcome of " if len(runs) == 1 else "outcomes of ") + _ids(runs)
