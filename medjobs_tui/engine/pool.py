"""The worker pool: long-lived worker processes, started once, that run attempts and are killed at the timeout.

Built on pebble's ``ProcessPool`` (chosen over ``concurrent.futures.ProcessPoolExecutor``, which cannot
kill a worker that overruns, and over a process per attempt, which cost 110-144 ms each): pebble kills a
worker whose task passes its timeout and starts a replacement, replaces a worker that died, and
recycles each worker after ``MAX_ATTEMPTS_PER_WORKER`` attempts so a slow leak cannot grow for ever.

Workers come from a ``forkserver`` on Linux (a fork of a small, thread-free server that has imported the
handlers once; no worker re-imports the command's main module, the CLI), elsewhere they are spawned.
Each worker, once started (``_init_worker``):

- opens its own store connection through ``store.connect`` and keeps it for all its attempts;
- watches its runner: a ``pidfd`` on the runner's process (polling where pidfd is missing) makes it exit
  within milliseconds of the runner's death, whoever killed the runner (PDEATHSIG would only reach it
  when the forkserver died);
- ignores Ctrl+C (the runner decides).

An attempt (``_attempt``) fences the connection with its claim (run id, attempt, runner id) for its
duration: every write of the handler is checked against the claim in the same transaction, so an
attempt whose run was recovered and handed on commits nothing.
"""

from __future__ import annotations

import importlib
import io
import itertools
import logging
import multiprocessing
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
import traceback
from concurrent.futures import CancelledError, TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.config import Settings
from medjobs_tui.security.masking import error_reference, mask_exception

log = logging.getLogger(__name__)

MAX_ATTEMPTS_PER_WORKER = 1000
"""A worker is recycled (replaced by a fresh one) after this many attempts. A recycle leaves its slot to
the other workers for 0.1-0.2 s (pebble notices the exit at its 0.1 s status pass, then forks and
initialises a worker); at 200 that cost 12-15% of the no-op throughput (bench/engine.py), at 1,000 it is
amortised, and a real clinic's jobs (a few attempts a minute) still recycle every worker within a day or so."""
RUNNER_WATCH_POLL_S = 0.25
"""Where pidfd is missing, how often (seconds) a worker checks that its runner still exists."""

BATCH_BACKSTOP_S = 5.0
"""Seconds past the sum of a batch's timeouts after which the pool itself kills its worker (a last resort: the
runner kills a worker whose batched attempt overran, ``WorkerPool.execute_batch``)."""
BATCH_WATCH_S = 0.2
"""While a batch runs longer than this, the runner looks at its progress file every this many seconds and kills
the worker once the running attempt is TIMER_GRACE_S past its timeout (its own timer should have ended it)."""
TIMER_GRACE_S = 0.5
PRECEDENCE_CHECK_S = 0.005
"""Between two attempts of a batch, the worker asks the store whether a run that goes first has arrived at most
this often (seconds): a batch delays such a run by at most this, beyond the attempt in progress. Asking before
every attempt cost a tenth of a millisecond a run while triggers arrived (bench/engine_cpu.py)."""
NOT_STARTED = "not started: handed back, its claim batch ended before it"
"""Why a batched run that never started went back to the queue (no attempt spent, none recorded)."""
DETAIL_NOT_KEPT = ("traceback not kept: the worker ended before its batch returned, and its progress record "
                   "(a file on disk) never holds a traceback, which may quote patient data")
"""The admin-only detail of a failed batched attempt known from the batch's progress file."""

_PRELOAD = ["medjobs_tui.jobs", "medjobs_tui.store", "medjobs_tui.security.keys", "medjobs_tui.engine.pool"]


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``status`` succeeded | failed | timed_out | crashed | interrupted (or
    not_started: a run of a claim batch handed back before it began, see ``WorkerPool.execute_batch``), and its
    real duration (seconds). ``error`` is masked text, safe to show; ``detail`` (a traceback, may hold
    patient data) is kept under ``error_ref`` for admins only. An attempt that a worker reported also
    carries when it ended (``finished_at``, UTC: its start instant plus its duration) and the evidence
    record the worker staged for it (``staged``, an ``engine.staging.Staged``, or None). An attempt run in a
    claim batch (``WorkerPool.execute_batch``) also carries its real start (``started_at``, UTC)."""

    status: str
    duration_s: float
    summary: dict[str, Any] | None = None
    error: str | None = None
    detail: str | None = field(default=None, repr=False)
    error_ref: str | None = None
    permanent: bool = False   # the handler raised PermanentError (bad data): dead at once, no retry
    finished_at: datetime | None = None
    staged: Any = field(default=None, repr=False)
    started_at: datetime | None = None   # a batched attempt's real start (UTC), later than its claim


def _context():
    """The multiprocessing context of the workers: on Linux a forkserver whose children skip the parent's
    ``__main__`` (see _WorkerPopen); elsewhere spawn."""
    if sys.platform.startswith("linux"):
        ctx = _WorkerContext()
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


if sys.platform.startswith("linux"):
    from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
    from multiprocessing.context import ForkServerContext, ForkServerProcess, set_spawning_popen

    class _WorkerPopen(popen_forkserver.Popen):
        """The forkserver's Popen, except that the child does not re-import the parent's main module.

        multiprocessing re-runs ``__main__`` in every child (under the ``medjobs`` console script that is the
        whole CLI: 110-144 ms a process); workers need only the handlers, which the server has preloaded.
        ``_launch`` is the standard library's (3.11-3.13) with the two ``init_main_from_*`` entries dropped.
        """

        def _launch(self, process_obj):
            prep_data = spawn.get_preparation_data(process_obj._name)
            prep_data.pop("init_main_from_name", None)
            prep_data.pop("init_main_from_path", None)
            buf = io.BytesIO()
            set_spawning_popen(self)
            try:
                reduction.dump(prep_data, buf)
                reduction.dump(process_obj, buf)
            finally:
                set_spawning_popen(None)
            self.sentinel, w = forkserver.connect_to_new_process(self._fds)
            _parent_w = os.dup(w)
            self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
            with open(w, "wb", closefd=True) as f:
                f.write(buf.getbuffer())
            self.pid = forkserver.read_signed(self.sentinel)

    class _WorkerProcess(ForkServerProcess):
        @staticmethod
        def _Popen(process_obj):
            return _WorkerPopen(process_obj)

    class _WorkerContext(ForkServerContext):
        Process = _WorkerProcess


@contextmanager
def _real_stderr():
    """While a Textual app runs, ``sys.stderr`` is a capture with no file descriptor (fileno -1), and
    multiprocessing cannot start its server or resource tracker with it ("bad value(s) in fds_to_keep").
    Hand it the process's real stderr for the start."""
    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable or sys.__stderr__ is None:
        yield
        return
    saved, sys.stderr = sys.stderr, sys.__stderr__
    try:
        yield
    finally:
        sys.stderr = saved


@contextmanager
def _sigint_ignored():
    """Start helper processes deaf to Ctrl+C (the disposition is inherited): the runner alone handles it,
    and a server still importing at that moment would otherwise print a KeyboardInterrupt traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_worker_server() -> None:
    """Start the forkserver (Linux) now, so no run pays for it and no UI has taken stderr yet. Idempotent."""
    if sys.platform.startswith("linux"):
        from multiprocessing import forkserver

        _context()
        with _real_stderr(), _sigint_ignored():
            forkserver.ensure_running()


# ------------------------------------------------------------------------------------ in the worker

_WORKER: dict[str, Any] = {}
"""The worker process's state: settings, its store connection, handler overrides, the runner's pid."""


def _init_worker(settings: Settings, runner_pid: int, overrides: dict[str, str]) -> None:
    """Worker start-up (pebble's initializer): watch the runner, open the store, resolve nothing yet."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)   # a batched attempt's timer ends the worker (_attempt_batch)
    _watch_runner(runner_pid)
    from medjobs_tui.security.keys import load_keys
    from medjobs_tui.security.masking import install_log_redaction
    from medjobs_tui.store import connect

    install_log_redaction()

    _WORKER.update(settings=settings, overrides=overrides, runner_pid=runner_pid,
                   db=connect(settings.database_path, load_keys(settings).store))


def _watch_runner(runner_pid: int) -> None:
    """Exit this worker at once when process ``runner_pid`` ends (a daemon thread blocked on its pidfd)."""
    def die() -> None:
        os._exit(70)

    try:
        pidfd = os.pidfd_open(runner_pid)
    except ProcessLookupError:
        die()
    except (AttributeError, OSError):
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            while not poller.poll():
                pass
            die()
        while True:
            time.sleep(RUNNER_WATCH_POLL_S)
            try:
                os.kill(runner_pid, 0)
            except ProcessLookupError:
                die()
            except PermissionError:
                pass

    threading.Thread(target=watch, name="medjobs-runner-watch", daemon=True).start()


def _resolve(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _attempt(run: dict[str, Any], now_iso: str, audit_head: dict[str, Any] | None = None) -> tuple:
    """Run one attempt of ``run`` in this worker; return ``('ok', summary, ended)`` or ``('error' | 'permanent',
    masked, detail, ref, ended)`` ('permanent': the handler raised PermanentError). ``ended`` is
    ``(duration_s, finished_at ISO, staged)``: the handler's duration (seconds, rounded as stored), its start
    instant ``now_iso`` plus that duration, and the evidence record staged for the outcome (``engine.staging``;
    None if it could not be written: the runner writes it then).

    The store connection is fenced by the claim (run id, attempt, ``claimed_by``: the runner's id) while
    the handler runs. ``audit_head``: the audit chain's head the evidence record names (read here if None).
    """
    from medjobs_tui.engine import staging
    from medjobs_tui.jobs import JobContext, get_handler
    from medjobs_tui.store import set_fence
    from medjobs_tui.store import runs as store_runs

    started = time.monotonic()
    settings: Settings = _WORKER["settings"]
    db = _WORKER["db"]
    run_id, attempt, runner_id = run["id"], run["attempt"], run.get("claimed_by") or ""
    now = parse_iso(now_iso)
    set_fence(db, lambda d: store_runs.claim_is_current(d, run_id, attempt, runner_id))
    try:
        ref = _WORKER["overrides"].get(run["job_type"])
        handler = _resolve(ref) if ref else get_handler(run["job_type"])
        ctx = JobContext(db=db, settings=settings, job_name=run["job_name"], job=settings.jobs[run["job_name"]],
                         now=now, run_id=run_id, attempt=attempt, runner_id=runner_id)
        result: tuple = ("ok", handler(ctx))
    except Exception as exc:  # noqa: BLE001 - everything is reported to the runner, masked
        from medjobs_tui.jobs import PermanentError

        ref = error_reference()
        kind = "permanent" if isinstance(exc, PermanentError) else "error"
        result = (kind, mask_exception(exc, ref), traceback.format_exc(), ref)
    finally:
        if db.conn.in_transaction:  # a handler that left a transaction open: nothing of it commits
            db.conn.execute("ROLLBACK")
        set_fence(db, None)
    duration = round(time.monotonic() - started, 6)
    finished = now + timedelta(seconds=duration)
    if result[0] == "ok":
        staged = staging.stage(db, settings, run, status="succeeded", error=None, summary=result[1],
                               finished_at=finished, duration_s=duration, audit_head=audit_head)
    else:
        staged = staging.stage(db, settings, run, status="failed", error=result[1], summary=None,
                               finished_at=finished, duration_s=duration, permanent=result[0] == "permanent",
                               audit_head=audit_head)
    return (*result, (duration, finished.isoformat(), staged))


def _attempt_batch(runs: list[dict[str, Any]], now_iso: str, timeouts: list[float], progress: str,
                   budget_s: float) -> list[tuple]:
    """Run the attempts of a claim batch one after another in this worker (``WorkerPool.execute_batch``).

    ``now_iso`` is the batch's start instant (UTC ISO); each attempt starts at that instant plus the time
    the worker has spent since, and runs as ``_attempt`` does, fenced by its own claim, with its row's
    ``started_at`` set to its real start. No attempt after the first starts once the batch has taken more
    than ``budget_s`` seconds (a run took longer than expected), nor once a run that the claim order puts
    before it waits in its queue (one came meanwhile; looked up at most every PRECEDENCE_CHECK_S, and only
    when the store changed): the runs left are handed back unstarted, so that run is claimed next, as it
    would have been had they been claimed alone. Each attempt has its own timeout (``timeouts``, seconds):
    a kernel interval timer (``_arm_timer``) ends this worker the moment the attempt overruns; should a
    handler defeat it, the runner kills the worker (it reads the attempt's start from ``progress``).

    ``progress`` (created here, mode 0600) gets, per attempt, a ``("start", index, monotonic seconds, started_at
    ISO)`` record before it and a ``("done", index, started_at ISO, result)`` record after it, less any traceback
    (it may hold patient data): length-prefixed pickles (``read_progress``). Returns ``[(started_at ISO,
    _attempt's result), ...]`` of the attempts run, in order.
    """
    from medjobs_tui.security import audit
    from medjobs_tui.store import runs as store_runs
    from medjobs_tui.store import views as store_views

    now = parse_iso(now_iso)
    base = time.monotonic()
    done: list[tuple] = []
    db = _WORKER["db"]
    head = audit.head(db)                 # one checkpoint of the audit chain for the batch's records
    seen, looked = store_views.data_version(db), base
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        for index, (run, timeout_s) in enumerate(zip(runs, timeouts)):
            at = time.monotonic()
            start = now + timedelta(seconds=at - base)
            if index:
                if at - base > budget_s:
                    break
                if at - looked >= PRECEDENCE_CHECK_S:
                    looked = at
                    version = store_views.data_version(db)
                    if version != seen:      # the store changed: has a run come that goes before this one?
                        seen = version
                        if store_runs.precedes_waiting(db, run, start):
                            break
            began = iso(start)
            _append(fd, ("start", index, at, began))
            _arm_timer(timeout_s)
            try:
                result = _attempt(dict(run, started_at=began), start.isoformat(), head)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            done.append((began, result))
            _append(fd, ("done", index, began, result if result[0] == "ok" else (*result[:2], None, *result[3:])))
    finally:
        os.close(fd)
    return done


def _arm_timer(timeout_s: float) -> None:
    """End this worker with SIGALRM (its default action, whatever an attempt before left it set to) in
    ``timeout_s`` seconds, a kernel timer: precise to the millisecond, whatever the handler is doing."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    signal.setitimer(signal.ITIMER_REAL, max(float(timeout_s), 0.001))


def _attempt_alone(run: dict[str, Any], now_iso: str, timeout_s: float) -> tuple:
    """``_attempt`` of a run claimed alone, under the same kernel timer as a batched attempt (``_arm_timer``): the
    pool's own timeout, checked every tenth of a second, let attempts of a job with a timeout of a few
    milliseconds run on and succeed, while batched ones were killed."""
    _arm_timer(timeout_s)
    try:
        return _attempt(run, now_iso)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _append(fd: int, record: tuple) -> None:
    data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(fd, struct.pack("<I", len(data)) + data)


def read_progress(path: Path) -> list[tuple]:
    """The records a batch's worker appended to ``path`` (``_attempt_batch``), in order; a record cut short by
    the worker's death is ignored. Empty if the file is missing."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    out, at = [], 0
    while at + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, at)
        if at + 4 + size > len(data):
            break
        out.append(pickle.loads(data[at + 4:at + 4 + size]))
        at += 4 + size
    return out


def _progress_state(records: list[tuple]) -> tuple[list[tuple], tuple | None]:
    """From a batch's progress records: the attempts finished (``(started_at ISO, result)``, in order) and the
    one running, if any (``(index, monotonic start, started_at ISO)``)."""
    done = [(r[2], r[3]) for r in records if r[0] == "done"]
    starts = [r for r in records if r[0] == "start"]
    running = (starts[-1][1], starts[-1][2], starts[-1][3]) if starts and starts[-1][1] >= len(done) else None
    return done, running


def remove_stale_progress(folder: Path) -> int:
    """Remove the progress files in ``folder`` left by runners whose process is gone (named ``<pid>-<n>.progress``);
    return how many. A killed runner's batch leaves its file; the next runner of the clinic removes it."""
    removed = 0
    for path in folder.glob("*.progress"):
        try:
            pid = int(path.name.split("-", 1)[0])
            os.kill(pid, 0)
            continue                       # its runner is alive
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
    return removed


# ------------------------------------------------------------------------------------ in the runner


class WorkerPool:
    """The runner's pool of ``size`` worker processes (pebble ProcessPool), started on first use.

    ``execute(run, now, timeout_s)`` blocks the calling thread until the attempt ends and
    returns its Outcome: succeeded; failed (the handler raised); timed_out (killed by the pool at
    ``timeout_s``, the worker replaced); crashed (the worker died from a signal, e.g. the OOM killer or
    ``kill -9``, or exited without a result); interrupted (``kill_all``: the runner is stopping).
    ``handler_overrides`` maps a job_type to ``"module:function"`` to run instead of the registered
    handler (tests and the bench).
    """

    def __init__(self, settings: Settings, handler_overrides: dict[str, str] | None = None, size: int | None = None,
                 max_attempts_per_worker: int = MAX_ATTEMPTS_PER_WORKER) -> None:
        self.settings = settings
        self.handler_overrides = dict(handler_overrides or {})
        self.size = size or sum(q.concurrency for q in settings.runner.queues.values())
        self.max_attempts_per_worker = max_attempts_per_worker
        self._pool = None
        self._lock = threading.Lock()
        self._futures: set[Any] = set()
        self._stopping = False
        self._progress: Path | None = None
        self._batches = itertools.count(1)
        start_worker_server()

    def start(self) -> None:
        """Start the worker processes now (idempotent); otherwise the first attempt starts them."""
        from pebble import ProcessPool

        with self._lock:
            if self._pool is None:
                with _real_stderr():
                    self._pool = ProcessPool(
                        max_workers=self.size, max_tasks=self.max_attempts_per_worker, initializer=_init_worker,
                        initargs=(self.settings, os.getpid(), self.handler_overrides), context=_context())
                self._pool.active   # starts the pool: the workers start now, not at the first attempt
                self._stopping = False

    def execute(self, run: dict[str, Any], now: datetime, timeout_s: float) -> Outcome:
        """Run one attempt of ``run`` (a claimed runs row) as of ``now``; see the class docstring."""
        started = time.monotonic()
        future = self._schedule(_attempt_alone, (run, now.isoformat(), timeout_s), timeout_s + TIMER_GRACE_S)
        with self._lock:
            self._futures.add(future)
        try:
            result = future.result()
        except FutureTimeout:
            return Outcome("timed_out", time.monotonic() - started, error=f"killed at the timeout of {timeout_s:g} s")
        except CancelledError:
            return Outcome("interrupted", time.monotonic() - started, error="runner stopped during the attempt")
        except Exception as exc:  # noqa: BLE001 - pebble's ProcessExpired and a broken pool
            duration = time.monotonic() - started
            if self._stopping:
                return Outcome("interrupted", duration, error="runner stopped during the attempt")
            if getattr(exc, "exitcode", None) == -signal.SIGALRM:      # its own timer ended the worker
                return Outcome("timed_out", duration, error=f"killed at the timeout of {timeout_s:g} s")
            return Outcome("crashed", duration, error=crash_text(exc))
        finally:
            with self._lock:
                self._futures.discard(future)
        return _outcome(result)

    def execute_batch(self, runs: list[dict[str, Any]], now: datetime, timeouts: list[float],
                      budget_s: float = float("inf")) -> list[Outcome]:
        """Run the attempts of a claim batch (claimed runs rows, in order) one after another in one worker, as
        of ``now``; ``timeouts`` are their timeouts (seconds); no attempt after the first starts once the batch
        has taken ``budget_s`` seconds. Returns one Outcome per run, in order: those the worker finished (each
        with its real ``started_at``); then, if the batch ended early, the attempt it was running (its real
        start too): ``timed_out`` (its timer ended the worker, or the runner killed the worker TIMER_GRACE_S
        past the attempt's timeout), ``crashed`` (the worker died from another signal) or ``interrupted``
        (the runner is stopping); then the runs never started, ``not_started`` (``NOT_STARTED``: handed back
        to the queue with no attempt spent). An attempt that finished before the worker died is known from
        its progress file (``_attempt_batch``) and keeps its outcome, though a failed one loses its traceback
        detail (DETAIL_NOT_KEPT)."""
        progress = self._progress_dir() / f"{os.getpid()}-{next(self._batches)}.progress"
        future = self._schedule(_attempt_batch, (runs, now.isoformat(), list(timeouts), str(progress), budget_s),
                                sum(timeouts) + BATCH_BACKSTOP_S)
        with self._lock:
            self._futures.add(future)
        overran = False
        try:
            while True:
                try:
                    finished = future.result(timeout=BATCH_WATCH_S)
                    done, running, ended = finished, None, None
                    break
                except FutureTimeout:
                    if future.done():
                        raise
                    _, current = _progress_state(read_progress(progress))
                    if current is not None and time.monotonic() > current[1] + timeouts[current[0]] + TIMER_GRACE_S:
                        overran = True
                        future.cancel()    # kills the worker: its attempt defeated its own timer
        except Exception as exc:  # noqa: BLE001 - timeout, cancel, ProcessExpired, a broken pool
            done, running = _progress_state(read_progress(progress))
            # the attempt that was running ends with the batch; one that had not begun goes back unstarted. A
            # batch whose worker died before any attempt began charges its first run (a crash there, again and
            # again, would otherwise hand the same runs back for ever without spending an attempt)
            if running is None and not done:
                running = (0, time.monotonic(), iso(now))
            ended = self._ended_early(exc, overran, timeouts[running[0]], running) if running is not None else None
        finally:
            with self._lock:
                self._futures.discard(future)
            try:
                progress.unlink()
            except OSError:
                pass
        out = [_outcome(result if result[0] == "ok" or result[2] is not None else (*result[:2], DETAIL_NOT_KEPT,
                                                                                      *result[3:]),
                        started_at=parse_iso(began)) for began, result in done]
        if ended is not None:
            out.append(ended)
        out += [Outcome("not_started", 0.0, error=NOT_STARTED) for _ in runs[len(out):]]
        return out

    def _ended_early(self, exc: BaseException, overran: bool, timeout_s: float, running: tuple | None) -> Outcome:
        """The outcome of the batched attempt that was running (``running``: its index, monotonic start and
        started_at ISO, from the progress file; None if it had not begun) when its batch ended with ``exc``."""
        if running is not None:
            duration = max(0.0, time.monotonic() - running[1])
            started = parse_iso(running[2])
            timing = {"started_at": started, "finished_at": started + timedelta(seconds=duration)}
        else:
            duration, timing = 0.0, {}
        if self._stopping or (isinstance(exc, CancelledError) and not overran):
            return Outcome("interrupted", duration, error="runner stopped during the attempt", **timing)
        if overran or isinstance(exc, FutureTimeout) or getattr(exc, "exitcode", None) == -signal.SIGALRM:
            return Outcome("timed_out", duration, error=f"killed at the timeout of {timeout_s:g} s", **timing)
        return Outcome("crashed", duration, error=crash_text(exc), **timing)

    def _progress_dir(self) -> Path:
        """The folder of the batches' progress files, ``batches`` beside the store (mode 0700), made on first use;
        files left there by a runner that was killed are removed then."""
        with self._lock:
            if self._progress is None:
                folder = self.settings.database_path.parent / "batches"
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                remove_stale_progress(folder)
                self._progress = folder
            return self._progress

    def _schedule(self, fn, args: tuple, timeout_s: float):
        """Hand ``fn(*args)`` to the pool; a pool that broke (pebble stops for good when a worker dies while no
        task runs) is replaced once, and the attempt handed to the new one."""
        self.start()
        pool = self._pool
        try:
            return pool.schedule(fn, args=args, timeout=timeout_s)
        except RuntimeError:
            if self._stopping:
                raise
            log.warning("the worker pool broke (a worker died while idle); starting a new one")
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            _stop_quietly(pool)
            self.start()
            return self._pool.schedule(fn, args=args, timeout=timeout_s)

    def attempts_running(self) -> int:
        """How many attempts a worker has started and not finished."""
        with self._lock:
            return sum(1 for f in self._futures if f.running())

    def worker_pids(self) -> list[int]:
        """The process ids of the live workers (tests and the chaos test kill them)."""
        pool = self._pool
        if pool is None:
            return []
        return [p for p, w in list(pool._pool_manager.worker_manager.workers.items()) if w.is_alive()]

    def kill_all(self) -> None:
        """Stop every worker (the runner is stopping): running attempts end as ``interrupted``."""
        with self._lock:
            self._stopping = True
            pool, self._pool = self._pool, None
            futures = list(self._futures)
        for fut in futures:
            fut.cancel()
        if pool is not None:
            _stop_quietly(pool)
        if self._progress is not None:
            for path in self._progress.glob(f"{os.getpid()}-*.progress"):
                path.unlink(missing_ok=True)


def _outcome(result: tuple, started_at: datetime | None = None) -> Outcome:
    """The Outcome of a worker's ``_attempt`` result."""
    duration, finished, staged = result[-1]
    if result[0] == "ok":
        return Outcome("succeeded", duration, summary=result[1], finished_at=parse_iso(finished), staged=staged,
                       started_at=started_at)
    kind, masked, detail, ref, _ = result
    return Outcome("failed", duration, error=masked, detail=detail, error_ref=ref, permanent=kind == "permanent",
                   finished_at=parse_iso(finished), staged=staged, started_at=started_at)


def _stop_quietly(pool) -> None:
    """Stop a pebble pool and its workers, whatever state it is in."""
    try:
        pool.stop()
        pool.join(timeout=5)
    except Exception as exc:  # noqa: BLE001 - stopping on the way out
        log.error("worker pool did not stop cleanly: %s", type(exc).__name__)


def crash_text(exc: BaseException) -> str:
    """Masked text of a worker that died under an attempt: the signal's name when a signal killed it."""
    code = getattr(exc, "exitcode", None)
    if isinstance(code, int) and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker process killed by {name}"
    if isinstance(code, int):
        return f"worker process ended without a result (exit code {code})"
    return f"worker pool error: {type(exc).__name__}"
