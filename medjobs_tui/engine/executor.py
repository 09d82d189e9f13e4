"""Executes one attempt of a run in a worker process, and kills that process at the job's timeout.

A timeout is real: the handler runs in its own process and the process is killed when the timeout
passes, whatever the handler is doing. On Linux the processes come from a ``forkserver`` that has
already imported the handlers (a fork of a small, thread-free server: fast and safe beside the
dashboard's threads); elsewhere they are spawned.
"""

from __future__ import annotations

import importlib
import multiprocessing
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medjobs_tui.clock import parse_iso
from medjobs_tui.config import Settings
from medjobs_tui.security.masking import error_reference, mask_exception

_PRELOAD = ["medjobs_tui.jobs", "medjobs_tui.store", "medjobs_tui.engine.executor"]


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``status`` succeeded | failed | timed_out, and its real duration (seconds)."""

    status: str
    duration_s: float
    summary: dict[str, Any] | None = None
    error: str | None = None          # masked text, safe to show
    detail: str | None = field(default=None, repr=False)  # traceback; may hold patient data: never shown
    error_ref: str | None = None      # the reference in ``error`` under which ``detail`` is kept


def _context():
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


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
    import signal
    import threading

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


def _resolve(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _child_main(conn, settings: Settings, run: dict[str, Any], now_iso: str, handler_ref: str | None) -> None:
    """Worker-process entry: build the JobContext, run the handler, send ('ok', summary) or ('error', ...)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle: it stops or kills us
    _die_with_parent()
    try:
        from medjobs_tui.jobs.base import JobContext
        from medjobs_tui.store import connect

        if handler_ref:
            handler = _resolve(handler_ref)
        else:
            from medjobs_tui.jobs import get_handler

            handler = get_handler(run["job_type"])
        db = connect(settings.database_path)
        ctx = JobContext(
            db=db, settings=settings, job_name=run["job_name"], job=settings.jobs[run["job_name"]],
            now=parse_iso(now_iso), run_id=run["id"], attempt=run["attempt"],
        )
        summary = handler(ctx)
        db.close()
        conn.send(("ok", summary, None, None))
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent, masked
        ref = error_reference()
        conn.send(("error", mask_exception(exc, ref), traceback.format_exc(), ref))
    finally:
        conn.close()


def _die_with_parent() -> None:
    """Linux: ask the kernel to kill this worker when its parent (the forkserver, which ends with the
    runner) dies, so a killed runner leaves no worker writing on behind the run's recovery."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class ProcessExecutor:
    """Runs each attempt in a fresh worker process with a hard timeout.

    ``handler_overrides`` maps a job_type to ``"module:function"`` to run instead of the registered
    handler (tests use it for handlers that fail, hang or are slow).
    """

    def __init__(self, settings: Settings, handler_overrides: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.handler_overrides = dict(handler_overrides or {})
        self._mp = _context()
        self._live: set[Any] = set()
        start_worker_server()

    def execute(self, run: dict[str, Any], now: datetime, timeout_s: float) -> Outcome:
        """Run one attempt of ``run`` (a runs row) as of ``now``; kill it after ``timeout_s`` seconds.

        Never raises for a handler failure: the failure is the Outcome (masked error text).
        """
        parent, child = self._mp.Pipe(duplex=False)
        ref = self.handler_overrides.get(run["job_type"])
        proc = self._mp.Process(
            target=_child_main, args=(child, self.settings, run, now.isoformat(), ref),
            name=f"medjobs-run-{run['id']}", daemon=True,
        )
        started = time.monotonic()
        with _real_stderr():
            proc.start()
        child.close()
        self._live.add(proc)
        try:
            if parent.poll(timeout_s):
                try:
                    kind, payload, detail, ref = parent.recv()
                except EOFError:
                    proc.join(5)
                    return Outcome("failed", time.monotonic() - started,
                                   error=f"worker process ended without a result (exit code {proc.exitcode})")
                duration = time.monotonic() - started
                proc.join(5)
                if kind == "ok":
                    return Outcome("succeeded", duration, summary=payload)
                return Outcome("failed", duration, error=payload, detail=detail, error_ref=ref)
            proc.kill()
            proc.join(5)
            return Outcome("timed_out", time.monotonic() - started,
                           error=f"killed at the timeout of {timeout_s:g} s")
        finally:
            parent.close()
            self._live.discard(proc)
            if proc.is_alive():
                proc.kill()
                proc.join(1)

    def kill_all(self) -> None:
        """Kill every worker process still running (used when the runner stops)."""
        for proc in list(self._live):
            if proc.is_alive():
                proc.kill()
