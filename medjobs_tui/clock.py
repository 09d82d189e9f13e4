"""The injected clock: every piece of MedJobs takes "now" from a Clock, so tests can travel in time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` returning an aware UTC datetime."""

    def now(self) -> datetime:  # pragma: no cover - protocol
        ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that stands still until moved; thread-safe. For tests and reproducible runs."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime (UTC)")
        self._at = at.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The clock's instant (UTC)."""
        with self._lock:
            return self._at

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds``; return the new instant."""
        with self._lock:
            self._at += timedelta(seconds=seconds)
            return self._at

    def set(self, at: datetime) -> None:
        """Jump to the aware instant ``at``."""
        with self._lock:
            self._at = at.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """UTC ISO 8601 text of an aware datetime, to the second (``2026-11-29T14:00:00+00:00``)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetime: MedJobs stores aware UTC instants only")
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    """Inverse of ``iso``: an aware UTC datetime from stored text (None stays None)."""
    if text is None:
        return None
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)
