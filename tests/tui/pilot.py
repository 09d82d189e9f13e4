"""Helpers of the Pilot tests: wait for the app (bounded by a deadline, never a fixed sleep) and read its tables."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable

from medjobs_tui.tui.app import MedJobsApp


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.02)


async def settle(pilot, refreshes: int = 1) -> None:
    """Wait for the app to have painted ``refreshes`` more snapshots, and for the screen to update."""
    app = pilot.app
    target = app.refresh_count + refreshes
    await wait_until(pilot, lambda: app.refresh_count >= target, what=f"refresh #{target}")
    await pilot.pause()


async def first_paint(pilot) -> None:
    """Wait until the app has painted its first snapshot (however slow or fast it came)."""
    app = pilot.app
    await wait_until(pilot, lambda: app.refresh_count >= 1, what="the first refresh")
    await pilot.pause()


def cell(app: MedJobsApp, tab: str, key: str, column: str) -> str:
    """The plain text of one cell of tab ``tab``'s table."""
    value = app.table(tab).get_cell(key, column)
    return getattr(value, "plain", str(value))


def select(app: MedJobsApp, tab: str, key: str) -> None:
    """Put tab ``tab``'s cursor on row ``key``."""
    table = app.table(tab)
    table.move_cursor(row=table.get_row_index(key))


def notices(app: MedJobsApp) -> list[str]:
    """The texts of the notifications currently shown."""
    return [str(n.message) for n in app._notifications]


async def ready_for_snapshot(pilot) -> None:
    """``run_before`` of the SVG snapshots: wait for the first painted refresh; no blinking cursors."""
    from textual.widgets import Input

    await first_paint(pilot)
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


@contextmanager
def fixed_log(book, lines=(("INFO", "medjobs_tui.engine.runner", "run 7 of backup claimed"),
                           ("WARNING", "medjobs_tui.engine.runner", "heartbeat failed: OperationalError"),
                           ("ERROR", "medjobs_tui.engine.runner", "could not record the outcome of run 7: "
                                                                   "OperationalError"))):
    """The logbook holding just ``lines`` (level, source, message) at the fixed instant, for a stable picture."""
    from datetime import datetime, timezone

    from medjobs_tui.console.models import LogLine

    saved = list(book._lines), book._seq
    book._lines.clear()
    at = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)
    for seq, (level, source, message) in enumerate(lines, start=1):
        book._lines.append(LogLine(seq, at, level, source, message))
    book._seq = len(lines)
    try:
        yield book
    finally:
        book._lines.clear()
        book._lines.extend(saved[0])
        book._seq = saved[1]


_CHARACTERS = {"minus": "-", "full_stop": ".", "space": " "}


def key_names(text: str) -> list[str]:
    """The key names a terminal sends for ``text``, as ``pilot.press`` and ``burst`` take them."""
    return [{ch: name for name, ch in _CHARACTERS.items()}.get(ch, ch) for ch in text]


async def type_in(pilot, text: str) -> None:
    """Type ``text`` as a person would: one key press per character (``pilot.press`` waits after each)."""
    await pilot.press(*key_names(text))


async def burst(pilot, *keys: str) -> None:
    """Send ``keys`` as one burst, as a fast typist, a paste or a password manager's auto-type does under
    load: all queued before the app handles the first (``pilot.press`` waits for the app to go idle between
    keys, which hides the race of a focus move against the keys typed after it)."""
    from textual import events

    app = pilot.app
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else _CHARACTERS.get(key))
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
