"""The runner's recent log lines, kept in memory for the dashboard's Log view.

A ``logging.Handler`` on the ``medjobs_tui`` logger keeps the last LOG_LINES records of this process
(the embedded runner's and the console's). Log messages carry ids, job names and exception classes
only, never stored data (see security/masking.py), so they may be shown as they are.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime, timezone

from medjobs_tui.console.models import LogLine

LOG_LINES = 2000
"""How many of the newest lines are kept."""

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LogBook(logging.Handler):
    """A bounded, thread-safe buffer of formatted log records, each numbered in order (``seq``)."""

    def __init__(self, capacity: int = LOG_LINES) -> None:
        super().__init__(level=logging.INFO)
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._seq = 0
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break the caller
            message = str(record.msg)
        with self._guard:
            self._seq += 1
            self._lines.append(LogLine(self._seq, datetime.fromtimestamp(record.created, timezone.utc),
                                       record.levelname, record.name, " ".join(message.split())))

    def lines(self, min_level: str = "INFO", limit: int = 500) -> list[LogLine]:
        """The newest ``limit`` lines at ``min_level`` or above, newest first."""
        floor = logging.getLevelName(min_level.upper())
        if not isinstance(floor, int):
            raise ValueError(f"unknown log level {min_level!r}; levels: {', '.join(LEVELS)}")
        with self._guard:
            kept = [line for line in self._lines if logging.getLevelName(line.level) >= floor]
        return kept[::-1][:limit]


_BOOK: LogBook | None = None
_INSTALL = threading.Lock()


def logbook() -> LogBook:
    """This process's LogBook, attached to the ``medjobs_tui`` logger on first use (INFO and above)."""
    global _BOOK
    with _INSTALL:
        if _BOOK is None:
            _BOOK = LogBook()
            root = logging.getLogger("medjobs_tui")
            root.addHandler(_BOOK)
            if root.level == logging.NOTSET or root.level > logging.INFO:
                root.setLevel(logging.INFO)
        return _BOOK
