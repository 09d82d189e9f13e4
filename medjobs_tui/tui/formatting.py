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
    "crashed": "red",
    "dead": "bold red",
    "interrupted": "magenta",
    "cancelled": "dim",
    "skipped": "dim",
    "coalesced": "dim",
    "pending": "dodger_blue1",
    "sent": "green",
    "unconfirmed": "magenta",
    "expired": "dim",
    "valid": "green",
    "no runs": "dim",
    "failing": "bold red",
    "stale": "yellow",
    "due": "dodger_blue1",
    "reminded": "yellow",
    "taken": "green",
    "missed": "bold red",
    "refused": "magenta",
}
"""Rich style of each run / notification / validation status; unknown ones are unstyled."""


def local_time(at: datetime | None, zone: tzinfo) -> str:
    """``at`` in the clinic's zone as ``MM-DD HH:MM`` (e.g. ``11-29 07:45``); MISSING for None."""
    if at is None:
        return MISSING
    return at.astimezone(zone).strftime("%m-%d %H:%M")


def local_datetime(at: datetime | None, zone: tzinfo) -> str:
    """``at`` in the clinic's zone in full, with the zone (``2026-11-29 07:45:00 EST``); MISSING for None."""
    if at is None:
        return MISSING
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def duration(seconds: float | None) -> Text:
    """A duration in seconds, right-aligned, two decimals (``0.42 s``); MISSING for None."""
    return Text(MISSING if seconds is None else f"{seconds:.2f} s", justify="right")


def seconds(value: float | None) -> Text:
    """A bare number of seconds for a column whose heading already says "s", right-aligned."""
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


def validation(value: str) -> Text:
    """A job's evidence check: ``valid`` (green), ``INVALID n`` (bold red) for ``invalid: n``, else dim."""
    if value == "valid":
        return Text("valid", style="green")
    if value.startswith("invalid"):
        return Text(f"INVALID {value.partition(':')[2].strip()}".rstrip(), style="bold red")
    return Text(value, style="dim")


def long_text(value: str | None) -> Text:
    """Free text for a table's last column: one line that ends in "…" where the column cuts it; MISSING for None."""
    if not value:
        return Text(MISSING, style="dim")
    return Text(" ".join(value.split()), no_wrap=True, overflow="ellipsis")


def without_patient_prefix(message: str, patient: str | None) -> str:
    """``message`` without its leading ``"P-00047: "`` when that is ``patient`` (a column says it already)."""
    prefix = f"{patient}: "
    return message[len(prefix):] if patient and message.startswith(prefix) else message


def job(name: str, job_type: str) -> Text:
    """A job's name, and its type (dim, in brackets) only when the name does not already say it."""
    out = Text(name)
    if job_type != name:
        out.append(f" ({job_type})", style="dim")
    return out


def yes_no(flag: bool) -> Text:
    """``yes`` (highlighted) or ``no``."""
    return Text("yes", style="bold yellow") if flag else Text("no")


def check_mark(ok: bool) -> Text:
    """A green ✓ or a red ✗."""
    return Text("✓", style="green") if ok else Text("✗", style="bold red")
