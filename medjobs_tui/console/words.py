"""One way to write a value, for the dashboard and the CLI alike: percentages, priorities, run filters.

Pure functions; the CLI and the dashboard both call them so a figure reads the same everywhere.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from medjobs_tui.config import PRIORITIES

PRIORITY_NAMES = {rank: name for name, rank in PRIORITIES.items()}


def percent(rate: float | None, missing: str = "—") -> str:
    """A rate in 0..1 as ``97.5 %`` (one decimal, a thin space before the sign); ``missing`` for None."""
    return missing if rate is None else f"{rate * 100:.1f} %"


def priority_name(value: int | str) -> str:
    """A priority by name (``critical``, ``high``, ``normal``, ``low``) from its rank or name."""
    if isinstance(value, str) and value in PRIORITIES:
        return value
    return PRIORITY_NAMES.get(int(value), str(value))


def role_text(role: str, review_role: str | None = None) -> str:
    """A signed-in user's role as shown to them: ``operator``, or a reviewer's ``reviewer, technical lead``."""
    return role + (f", {review_role}" if review_role else "")


UTC_INSTANT = re.compile(r"\b(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:\+00:00|Z)")


def local_instants(text: str | None, zone: tzinfo, beside: datetime | None = None) -> str | None:
    """``text`` (a run's history note such as ``retry at 2026-11-29T13:00:05+00:00``) with each UTC instant
    written in the clinic's ``zone`` as everywhere else, the UTC time kept beside it for a reviewer:
    ``retry at 2026-11-29 08:00:05 EST (13:00:05 UTC)``; without the date when it is the clinic-local date
    of ``beside`` (the history entry's own instant, shown next to it): ``retry at 08:00:05 EST (13:00:05 UTC)``.
    None stays None."""
    if not text:
        return text
    day = beside.astimezone(zone).date() if beside is not None else None

    def local(match: re.Match) -> str:
        at = datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}+00:00").astimezone(zone)
        shown = f"{at:%H:%M:%S %Z}" if at.date() == day else f"{at:%Y-%m-%d %H:%M:%S %Z}"
        return f"{shown} ({match.group(2)} UTC)"

    return UTC_INSTANT.sub(local, text)


SINCE = re.compile(r"(?i)^(\d+)\s*(m|min|h|d|w)$")
UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime, zone: tzinfo | None = None) -> datetime:
    """An instant from ``30m``, ``2h``, ``7d``, ``1w`` (that long before ``now``) or an ISO date/time
    (``2026-11-29``, ``2026-11-29T08:00``) read in the clinic's ``zone`` (UTC if None) unless it names its
    own offset. Raises ValueError saying what is allowed."""
    text = text.strip()
    match = SINCE.match(text)
    if match:
        return now - timedelta(seconds=int(match.group(1)) * UNITS[match.group(2).lower()])
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'since' must be like 30m, 2h, 7d, 1w or a date such as 2026-11-29 (got {text!r})") from None
    return at if at.tzinfo else at.replace(tzinfo=zone or now.tzinfo)
