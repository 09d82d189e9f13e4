"""How the dashboard writes values in its cells: clinic-local times, durations, rates and coloured statuses.

Pure functions (no widgets), so the table builders and the tests can use them directly.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text

MISSING = "—"
"""What an empty cell shows (no time, no duration yet)."""

STATUS_STYLES: dict[str, str] = {
    "succeeded": "green",
    "running": "yellow",
    "queued": "dodger_blue1",
    "failed": "red",
    "timed_out": "red",
    "dead": "bold red",
    "interrupted": "magenta",
    "cancelled": "dim",
    "skipped": "dim",
    "pending": "dodger_blue1",
    "sent": "green",
    "valid": "green",
    "no runs": "dim",
}
"""Rich style of each run / notification / validation status; unknown ones are unstyled."""


def local_time(at: datetime | None, zone: tzinfo) -> str:
    """``at`` in the clinic's zone as ``MM-DD HH:MM`` (e.g. ``11-29 07:45``); MISSING for None."""
    if at is None:
        return MISSING
    return at.astimezone(zone).strftime("%m-%d %H:%M")


def duration(seconds: float | None) -> Text:
    """A duration in seconds, right-aligned, two decimals (``0.42 s``); MISSING for None."""
    return Text(MISSING if seconds is None else f"{seconds:.2f} s", justify="right")


def seconds(value: float | None) -> Text:
    """A bare number of seconds for a column already headed "(s)", right-aligned."""
    return Text(MISSING if value is None else f"{value:.2f}", justify="right")


def percent(rate: float | None) -> Text:
    """A rate in 0..1 as a right-aligned percentage (``97.5 %``); MISSING for None."""
    return Text(MISSING if rate is None else f"{rate * 100:.1f} %", justify="right")


def number(value: int) -> Text:
    """An integer, right-aligned."""
    return Text(str(value), justify="right")


def status(value: str | None) -> Text:
    """A status coloured by STATUS_STYLES (``invalid: N`` is red); MISSING for None."""
    if value is None:
        return Text(MISSING, style="dim")
    style = STATUS_STYLES.get(value, "red" if value.startswith("invalid") else "")
    return Text(value, style=style)


def yes_no(flag: bool) -> Text:
    """``yes`` (highlighted) or ``no``."""
    return Text("yes", style="bold yellow") if flag else Text("no")


def check_mark(ok: bool) -> Text:
    """A green ✓ or a red ✗."""
    return Text("✓", style="green") if ok else Text("✗", style="bold red")
