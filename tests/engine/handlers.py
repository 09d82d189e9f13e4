"""Handlers for engine tests, run in real worker processes through ProcessExecutor overrides."""

import time
from pathlib import Path


def ok(ctx):
    return {"job": ctx.job_name, "attempt": ctx.attempt}


def fail(ctx):
    raise RuntimeError("Jane Doe's chart is broken")  # text that must never reach the screen


def hang(ctx):
    time.sleep(60)
    return {"never": True}


def fail_until_third(ctx):
    if ctx.attempt < 3:
        raise RuntimeError("transient")
    return {"attempt": ctx.attempt}


def record_order(ctx):
    """Append this job's name to order.txt beside the clinic's config (the claim order)."""
    with (Path(ctx.settings.base_dir) / "order.txt").open("a") as fh:
        fh.write(ctx.job_name + "\n")
    return {"ok": 1}
