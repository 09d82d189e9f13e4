"""A full screen about one thing (a run, a job) that keeps itself fresh, as the tabs do.

Thread discipline (DESIGN.md): ``fetch`` runs in a thread worker under the app's console lock and never
touches a widget; it posts the result, ``show`` paints it on the event loop, and only then is the next
fetch armed (``set_timer``), so fetches never pile up. Reached by enter, left by escape.
"""

from __future__ import annotations

import logging
from typing import Any

from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer

from medjobs_tui.console import ConsoleError

log = logging.getLogger(__name__)


class Fetched(Message):
    """A LiveScreen's fetch returned ``data`` (or failed with ``error``, a text safe to show)."""

    def __init__(self, data: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.data = data
        self.error = error


class LiveScreen(Screen[None]):
    """Base of the story screens: subclasses implement ``fetch`` (worker thread) and ``show`` (event loop)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="screen.back")]

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__()
        self.interval = interval
        self.data: Any = None
        self.loaded = 0
        """How many fetches have been shown (tests wait on it)."""
        self._timer: Timer | None = None
        self._fetching = False

    def on_mount(self) -> None:
        self.refetch()

    def refetch(self) -> None:
        """Fetch now (or right after the fetch in progress)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._fetching:
            return
        self._fetching = True
        self.run_worker(self._fetch_thread, thread=True, group="screen", name=type(self).__name__, exit_on_error=False)

    def _fetch_thread(self) -> None:
        app = self.app
        with app.console_lock:
            if getattr(app, "_stopping", False):
                return
            try:
                message = Fetched(self.fetch())
            except ConsoleError as exc:
                message = Fetched(error=str(exc))
            except Exception as exc:  # noqa: BLE001 - shown, not raised
                log.error("%s fetch failed: %s", type(self).__name__, type(exc).__name__)
                message = Fetched(error=f"{type(exc).__name__}: unexpected error")
        self.post_message(message)

    @on(Fetched)
    def _fetched(self, message: Fetched) -> None:
        self._fetching = False
        if message.error is not None:
            self.app.toast(message.error, severity="error")
            if self.data is None:
                self.dismiss()
                return
        else:
            self.data = message.data
            self.show(message.data)
            self.loaded += 1
            self.refresh_bindings()
        if self.is_attached:
            self._timer = self.set_timer(self.interval, self.refetch)

    def fetch(self) -> Any:  # pragma: no cover - abstract
        """Read what the screen shows (worker thread; console calls only)."""
        raise NotImplementedError

    def show(self, data: Any) -> None:  # pragma: no cover - abstract
        """Paint ``data`` (event loop)."""
        raise NotImplementedError
