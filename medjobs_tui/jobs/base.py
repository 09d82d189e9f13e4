"""What a job handler receives (JobContext) and what it must return (a summary dict).

A handler is ``def run(ctx: JobContext) -> dict``. It reads and writes the store through
``ctx.db`` using the query functions of ``medjobs_tui.store``, does its own transactions, writes
notifications to the outbox with an idempotency key (so a retried or recovered run never notifies
twice) and returns a summary: a JSON-serialisable dict of counts and pseudonymous ids only (no names,
dates of birth or free text), whose top-level scalar values are the run's key figures.
A handler raises an exception to fail the run; the engine masks the text before showing it. A failure
that no retry can cure (bad data) raises ``PermanentError``: the run goes straight to ``dead``
without spending its remaining attempts.

Fencing: under the engine, ``ctx.db`` is fenced by the attempt's claim (run id, attempt, runner id).
Every write must be made in ``with ctx.transaction():`` (or the store's ``transaction``), which checks
the claim in the same transaction and raises ``ClaimLost`` (nothing written) once the run has been
recovered and handed on; a write outside a transaction is refused. Files are effects too: write them
under a temporary name and rename them into place inside the transaction (``ctx.transaction()``), so a
stale attempt leaves no file behind either.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, TYPE_CHECKING
from zoneinfo import ZoneInfo


from medjobs_tui.config import JobConfig, Settings
from medjobs_tui.store.db import transaction



class PermanentError(Exception):
    """Raised by a handler when retrying cannot help (bad data, e.g. a record that cannot be read): the
    attempt fails and the run ends ``dead`` at once, its remaining attempts unspent. The message is
    masked like any other (only the class name and an error reference are shown)."""


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
    runner_id: str | None = None
    """With ``run_id`` and ``attempt``, the attempt's fencing token (None outside the engine)."""

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction on ``db`` (``BEGIN IMMEDIATE``) that commits only while this attempt's claim
        is current: raises ``store.ClaimLost``, rolled back, once the run was recovered and handed on."""
        with transaction(self.db) as db:
            yield db

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's IANA time zone."""
        return self.settings.zone

    def option(self, key: str, default: Any) -> Any:
        """A job-specific option from config.yaml ``jobs.<name>.options``, or ``default``."""
        return self.job.options.get(key, default)

    _progress_sent: float = field(default=float("-inf"), init=False, repr=False)
    _started: float = field(default_factory=time.monotonic, init=False, repr=False)

    def progress(self, done: int, total: int | None = None) -> bool:
        """Report that ``done`` of ``total`` items (patients, orders, pages) are processed; the dashboard shows
        a bar and the time left. Written to the run's row at most once per PROGRESS_EVERY_S seconds (and
        always for the last item), so a tight loop may call it on every item. Returns True if written.
        Outside the engine (no ``run_id``) it does nothing."""
        if self.run_id is None:
            return False
        from medjobs_tui.store import runs as store_runs

        elapsed = time.monotonic() - self._started
        last = total is not None and done >= total
        if not last and elapsed - self._progress_sent < PROGRESS_EVERY_S:
            return False
        self._progress_sent = elapsed
        return store_runs.set_progress(self.db, self.run_id, done, total, self.now + timedelta(seconds=elapsed))


PROGRESS_EVERY_S = 1.0
"""At most one progress write per run per this many seconds (the dashboard refreshes each second)."""

Handler = Callable[[JobContext], dict[str, Any]]
