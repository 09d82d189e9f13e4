"""The handlers of ``medjobs selftest``, run in the real worker pool on a scratch copy of the clinic.

The self-test's pool maps every job type to ``route``: the configured jobs run their real handlers; the
three jobs the self-test adds to the scratch configuration (``FORCED_JOBS``) misbehave on their first
attempt, each in its own way, and succeed on the second, so one run shows a retry after a failure, one a
timeout (the worker killed at the job's timeout) and one a crash (the worker killed by SIGKILL, as the OOM
killer does). Nothing here touches the live clinic: the pool only ever opens the scratch store.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from medjobs_tui.jobs import JobContext, get_handler

ROUTE = "medjobs_tui.engine.selftest_handlers:route"
"""The ``module:function`` reference the self-test's WorkerPool runs for every job type."""

HANG_S = 30.0
"""How long the forced timeout's first attempt sleeps: far past its fraction-of-a-second timeout."""


def forced_failure(ctx: JobContext) -> dict[str, Any]:
    """Attempt 1 raises (a retryable failure); attempt 2 succeeds."""
    if ctx.attempt < 2:
        raise RuntimeError("self-test: forced failure on the first attempt")
    return {"forced": "retry", "attempt": ctx.attempt}


def forced_timeout(ctx: JobContext) -> dict[str, Any]:
    """Attempt 1 hangs (the pool kills the worker at the job's timeout); attempt 2 succeeds."""
    if ctx.attempt < 2:
        time.sleep(HANG_S)
    return {"forced": "timeout", "attempt": ctx.attempt}


def forced_crash(ctx: JobContext) -> dict[str, Any]:
    """Attempt 1 kills its own worker with SIGKILL (a crash); attempt 2 succeeds."""
    if ctx.attempt < 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"forced": "crash", "attempt": ctx.attempt}


FORCED_JOBS = {
    "selftest_forced_retry": ("retry", forced_failure),
    "selftest_forced_timeout": ("timeout", forced_timeout),
    "selftest_forced_crash": ("crash", forced_crash),
}
"""Scratch-only job name -> (what it forces, its handler)."""


def route(ctx: JobContext) -> dict[str, Any]:
    """A forced job's handler for the three self-test jobs; every other job's real handler (by job type)."""
    forced = FORCED_JOBS.get(ctx.job_name)
    if forced is not None:
        return forced[1](ctx)
    return get_handler(ctx.job.job_type)(ctx)
