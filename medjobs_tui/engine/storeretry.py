"""Waiting out a busy or full store: retry a store call with backoff on ``database is locked`` / ``disk full``.

The engine's own writes that must not be lost (recording an outcome, inserting a tick, heartbeating)
go through ``StoreRetry.call``: a transient store error (``store.is_transient``) is logged as one line
and the call is tried again after a backoff that doubles from ``first_delay_s`` up to ``max_delay_s``;
any other error is raised at once. Tests inject ``sleep`` (advancing their clock) and short delays.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from medjobs_tui.store import is_transient

log = logging.getLogger(__name__)
T = TypeVar("T")


class GaveUp(Exception):
    """The store stayed busy until the caller stopped waiting (``should_stop``); the message says what."""


@dataclass
class StoreRetry:
    """Retry settings: first backoff and cap (seconds), and the ``sleep`` used between tries."""

    first_delay_s: float = 0.05
    max_delay_s: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def call(self, what: str, fn: Callable[[], T], *, should_stop: Callable[[], bool] = lambda: False,
             on_blocked: Callable[[str], None] | None = None) -> T:
        """``fn()``, retried while it raises a transient store error; ``what`` names it in the log line
        (``recording the outcome of run 12``). ``on_blocked(reason)`` is called on each failure.
        Raises GaveUp once ``should_stop()`` is true after a failure; other errors propagate unchanged."""
        delay, tries = self.first_delay_s, 0
        while True:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified just below
                if not is_transient(exc):
                    raise
                reason = str(exc).split("\n")[0][:60]   # SQLite's own words: "database is locked"
                tries += 1
                if on_blocked is not None:
                    on_blocked(reason)
                if should_stop():
                    log.error("%s failed (%s); giving up: the runner is stopping", what, reason)
                    raise GaveUp(f"{what}: {reason}") from None
                log.warning("%s failed (%s); try %d again in %.2f s", what, reason, tries + 1, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.max_delay_s)
