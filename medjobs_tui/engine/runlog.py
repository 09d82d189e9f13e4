"""The runner's log on disk, so a console in another process can read it (``medjobs log``, the Log view).

Every runner (a headless ``medjobs run`` or an operator's console) appends its log lines to
``<data folder>/logs/runner.log``: mode 0600 in a 0700 folder, rotated at LOG_FILE_BYTES with LOG_FILE_KEEP
older files (``runner.log.1`` …), so it never grows without bound. One line per record, tab-separated:
UTC instant (milliseconds), level, source (``host:pid`` of the writing process), logger, message. Messages
are redacted on the way in (``security.masking.RedactingFilter``) and carry ids, job names and exception
classes only, never stored data; tabs and line breaks are folded, so a line is always one record.
Source: Python ``logging.handlers.RotatingFileHandler``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Callable, Iterator

from medjobs_tui.config import Settings
from medjobs_tui.security.masking import RedactingFilter

LOG_FILE_BYTES = 1 << 20
"""A log file is rotated when it would grow past this many bytes (1 MiB, about 8,000 lines)."""

LOG_FILE_KEEP = 3
"""How many rotated files are kept beside the current one."""

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

SOURCE = f"{socket.gethostname()}:{os.getpid()}"
"""This process, as its lines name it (``host:pid``)."""


@dataclass(frozen=True)
class FileLine:
    """One line of the runner log file: ``at`` aware UTC; ``key`` stable while the line is in the files."""

    key: int
    at: datetime
    level: str
    source: str
    logger: str
    message: str


def log_path(settings: Settings) -> Path:
    """Where the runners of ``settings``' clinic write their log: ``<data folder>/logs/runner.log``."""
    return Path(settings.database_path).parent / "logs" / "runner.log"


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files are 0600 (whatever the umask) in a 0700 folder; a file or folder
    found with wider modes (copied in, made by another tool) is narrowed when opened."""

    def _open(self):
        folder = Path(self.baseFilename).parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", encoding="utf-8")


class _LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = str(record.msg)
        at = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        return "\t".join((at, record.levelname, SOURCE, record.name, " ".join(message.split())))


_INSTALLED: dict[Path, logging.Handler] = {}
_GUARD = threading.Lock()


def install(settings: Settings) -> logging.Handler:
    """Write this process's ``medjobs_tui`` log records (INFO and above, redacted) to ``log_path(settings)``.
    Idempotent per file; returns the handler (``uninstall`` takes it off). Raises OSError if the folder
    cannot be made."""
    path = log_path(settings)
    with _GUARD:
        if path in _INSTALLED:
            return _INSTALLED[path]
        handler = _PrivateRotatingFileHandler(path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_KEEP,
                                              encoding="utf-8", delay=False)
        handler.setLevel(logging.INFO)
        handler.addFilter(RedactingFilter())
        handler.setFormatter(_LineFormatter())
        root = logging.getLogger("medjobs_tui")
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
        _INSTALLED[path] = handler
        return handler


def uninstall(handler: logging.Handler) -> None:
    """Stop writing to ``handler``'s file (and close it)."""
    with _GUARD:
        for path, h in list(_INSTALLED.items()):
            if h is handler:
                del _INSTALLED[path]
    logging.getLogger("medjobs_tui").removeHandler(handler)
    handler.close()


def level_floor(min_level: str) -> int:
    """The numeric level of ``min_level`` (INFO, WARNING…). Raises ValueError naming the levels."""
    floor = logging.getLevelName(str(min_level).upper())
    if not isinstance(floor, int):
        raise ValueError(f"unknown log level {min_level!r}; levels: {', '.join(LEVELS)}")
    return floor


def parse_line(raw: str) -> FileLine | None:
    """One line of the file, or None when it is not one (cut short by a crash, or not ours)."""
    parts = raw.rstrip("\n").split("\t", 4)
    if len(parts) != 5:
        return None
    try:
        at = datetime.fromisoformat(parts[0])
    except ValueError:
        return None
    if at.tzinfo is None or logging.getLevelName(parts[1]) == f"Level {parts[1]}":
        return None
    return FileLine(zlib.crc32(raw.encode("utf-8", "replace")), at, parts[1], parts[2], parts[3], parts[4])


_CACHE: dict[Path, tuple[tuple, list[FileLine]]] = {}


def read_lines(settings: Settings, min_level: str = "INFO", limit: int = 500) -> list[FileLine]:
    """The newest ``limit`` lines at ``min_level`` or above of the current and rotated files, newest first.
    A file that has not changed since the last call (same inode, size and modification time) is not read
    again. No file yet: an empty list. Raises ValueError for an unknown level."""
    floor = level_floor(min_level)
    path = log_path(settings)
    lines: list[FileLine] = []
    for n in range(LOG_FILE_KEEP + 1):
        part = path if n == 0 else path.with_name(f"{path.name}.{n}")
        lines.extend(reversed(_file_lines(part)))
        if len([x for x in lines if logging.getLevelName(x.level) >= floor]) >= limit:
            break
    kept = [x for x in lines if logging.getLevelName(x.level) >= floor]
    kept.sort(key=lambda x: x.at, reverse=True)
    return kept[:limit]


def _file_lines(path: Path) -> list[FileLine]:
    try:
        st = path.stat()
    except FileNotFoundError:
        _CACHE.pop(path, None)
        return []
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        parsed = [p for p in map(parse_line, fh) if p is not None]
    _CACHE[path] = (stamp, parsed)
    return parsed


def follow(settings: Settings, poll_s: float = 0.5, *, sleep: Callable[[float], None] = time.sleep,
           from_start: bool = False) -> Iterator[FileLine]:
    """Yield each line the runners append from now on (``from_start``: from the current file's start too), as
    ``tail -F`` does: a rotated or replaced file is followed from its start. Runs until the caller stops
    iterating (Ctrl+C in ``medjobs log --follow``); ``sleep`` is the wait between looks (tests inject it)."""
    path = log_path(settings)
    inode, offset = None, 0
    try:
        st = path.stat()
        inode, offset = st.st_ino, (0 if from_start else st.st_size)
    except FileNotFoundError:
        pass
    pending = ""
    while True:
        try:
            st = path.stat()
        except FileNotFoundError:
            sleep(poll_s)
            continue
        if st.st_ino != inode or st.st_size < offset:       # rotated or replaced: the new file from its start
            inode, offset, pending = st.st_ino, 0, ""
        if st.st_size > offset:
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read(st.st_size - offset)
            offset += len(chunk)
            pending += chunk.decode("utf-8", "replace")
            *complete, pending = pending.split("\n")
            for raw in complete:
                line = parse_line(raw)
                if line is not None:
                    yield line
            continue
        sleep(poll_s)
