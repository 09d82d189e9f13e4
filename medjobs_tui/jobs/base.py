"""What a job handler receives (JobContext) and what it must return (a summary dict).

A handler is ``def run(ctx: JobContext) -> dict``. It reads and writes the store through
``ctx.db`` using the query functions of ``medjobs_tui.store``, does its own transactions, writes
notifications to the outbox with an idempotency key (so a retried or recovered run never notifies
twice) and returns a summary: a JSON-serialisable dict of counts and pseudonymous ids only (no names,
dates of birth or free text), whose top-level scalar values are the run's key figures.
A handler raises an exception to fail the run; the engine masks the text before showing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, TYPE_CHECKING
from zoneinfo import ZoneInfo


from medjobs_tui.config import JobConfig, Settings

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils


@dataclass
class JobContext:
    """Everything a handler may use.

    ``now`` is the run's logical instant (aware UTC) taken from the engine's injected clock: handlers
    never read the wall clock. ``run_id`` is None when a handler is called outside the engine (tests).
    """

    db: sqlite_utils.Database
    settings: Settings
    job_name: str
    job: JobConfig
    now: datetime
    run_id: int | None = None
    attempt: int = 1

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's IANA time zone."""
        return self.settings.zone

    def option(self, key: str, default: Any) -> Any:
        """A job-specific option from config.yaml ``jobs.<name>.options``, or ``default``."""
        return self.job.options.get(key, default)


Handler = Callable[[JobContext], dict[str, Any]]
