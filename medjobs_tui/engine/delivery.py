"""The runner's delivery loop: a thread that runs ``notify.delivery.deliver_due`` every
``notifications.poll_interval`` seconds, or at once when woken (a run finished and may have queued
notifications), and again straight away while a pass still finds work.

The loop owns its store connection (opened on its thread) and survives any error of a pass (a locked
database, a store error): it logs the error's class and tries again at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time

from medjobs_tui.clock import Clock
from medjobs_tui.config import Settings
from medjobs_tui.notify.delivery import DeliveryReport, Sender, apprise_send, deliver_due
from medjobs_tui.security.keys import load_keys
from medjobs_tui.store import ThreadLocalDB

log = logging.getLogger(__name__)

MIN_WOKEN_GAP_S = 0.05
"""Seconds at least between the starts of an idle pass and a pass it was woken for (runs finishing back to back)."""


class DeliveryLoop:
    """Delivers due notifications in a background thread for one runner.

    ``deliverer`` is the id recorded on claims (the runner's own id); ``send`` the channel sender (tests
    inject one); ``dbs`` the runner's per-thread store connections (default: its own, keyed from the
    clinic's key file). ``start()`` / ``stop()`` / ``wake()``; ``run_pass()`` runs one pass on this thread.
    """

    def __init__(self, settings: Settings, clock: Clock, deliverer: str, send: Sender = apprise_send,
                 dbs: ThreadLocalDB | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.deliverer = deliverer
        self.send = send
        self.dbs = dbs or ThreadLocalDB(settings.database_path, load_keys(settings).store)
        self._own_dbs = dbs is None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._unrecorded: dict[int, dict] = {}   # outcomes known, recording them failed (a locked store)
        self.passes = 0

    def run_pass(self) -> DeliveryReport:
        """One delivery pass now, on this thread; returns its counts."""
        report = deliver_due(self.dbs.get(), self.settings, self.clock, deliverer=self.deliverer, send=self.send,
                             should_stop=self._stopping.is_set, unrecorded=self._unrecorded)
        self.passes += 1
        return report

    def start(self) -> None:
        """Start the delivery thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="medjobs-delivery", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            busy = False
            started = time.monotonic()
            try:
                busy = self.run_pass().worked
            except Exception as exc:  # noqa: BLE001 - the loop must outlive a locked store or a bad row
                log.error("notification delivery failed: %s", type(exc).__name__)
            if busy:
                continue  # more may be due right away (a full batch, a re-send)
            if self._wake.wait(self.settings.notifications.poll_interval):
                # woken (a run finished): runs finishing back to back share one pass
                self._stopping.wait(max(0.0, started + MIN_WOKEN_GAP_S - time.monotonic()))
            self._wake.clear()

    def wake(self) -> None:
        """Ask for a pass now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the send in progress (if any) is recorded; close the loop's own store connections."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._own_dbs:
            self.dbs.close_all()
