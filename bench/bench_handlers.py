"""Handlers and Huey tasks the engine bench runs (imported by worker processes; not part of the project)."""

from __future__ import annotations

import os
import time


def noop(ctx):
    """A no-op run: its summary is the wall-clock instant (epoch seconds) the handler started."""
    return {"t": time.time()}


def make_huey():
    """SqliteHuey on the file named by BENCH_HUEY_DB, with a no-op task that returns when it started."""
    from huey import SqliteHuey

    huey = SqliteHuey("bench", filename=os.environ["BENCH_HUEY_DB"], fsync=False)   # its fastest: synchronous=OFF

    @huey.task()
    def noop_task():
        return time.time()

    return huey, noop_task


if os.environ.get("BENCH_HUEY_DB"):
    huey, noop_task = make_huey()
