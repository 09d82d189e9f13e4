"""How the dashboard writes values in its cells: clinic-local times, durations, rates and coloured statuses.

Pure functions (no widgets), so the table builders and the tests can use them directly.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text

from medjobs_tui.console import words

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
    "inbox_only": "yellow",
    "unconfirmed": "magenta",
    "expired": "dim",
    "valid": "green",
    "no runs": "dim",
    "failing": "bold red",
    "stale": "yellow",
    "due": "dodger_blue1",
    "overdue": "bold dark_orange",
    "before import": "dim",
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
    """A rate in 0..1 as a right-aligned percentage (``97.5 %``, as the CLI writes it); MISSING for None."""
    return Text(words.percent(rate, MISSING), justify="right")


DIMMED = ("skipped", "cancelled", "coalesced")
"""Run states that did not run: their rows are dimmed in the Queue."""


def dim_if(value: Text | str, status: str) -> Text:
    """``value`` dimmed when ``status`` is one of DIMMED (a tick that never ran, a cancelled run)."""
    text = value.copy() if isinstance(value, Text) else Text(value)
    if status in DIMMED:
        text.style = f"{text.style} dim".strip() if isinstance(text.style, str) else "dim"
    return text


BAR_CELLS = 6


def progress(done: int, total: int | None, eta_s: float | None) -> Text:
    """A running run's progress: ``███░░░ 50% ~12 s`` (a bar, the share done, the time left at the pace so
    far), or ``120 done`` when the handler does not know the total."""
    if not total:
        return Text(f"{done} done", style="yellow", justify="right")
    share = max(0.0, min(1.0, done / total))
    filled = round(share * BAR_CELLS)
    out = Text("█" * filled, style="yellow")
    out.append("░" * (BAR_CELLS - filled), style="dim")
    out.append(f" {share * 100:.0f}%")
    if eta_s is not None:
        out.append(f" ~{eta(eta_s)}", style="dim")
    return out


def eta(seconds: float) -> str:
    """Seconds left, as a person says it: ``12 s``, ``3 min``, ``1 h 05``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d}"


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
