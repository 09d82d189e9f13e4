"""Opening the store: SQLCipher 4 with a raw 256-bit key, WAL mode, foreign keys, busy timeout, migrations.

The whole database file, its WAL and every backup are ciphertext (SQLCipher 4: AES-256 pages with an
HMAC-SHA512 per page). The key is raw (``PRAGMA key = "x'<64 hex>'"``), so opening a connection costs no
key derivation. Source: zetetic.net/sqlcipher/sqlcipher-api (PRAGMA key, raw key data); 45 CFR
164.312(a)(2)(iv). Only this package imports the SQLite bindings (import-linter contract).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import sqlcipher3
import sqlite_utils
from sqlcipher3 import dbapi2 as _driver

from medjobs_tui.store.schema import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000
KEY_BYTES = 32
PLAIN_HEADER = b"SQLite format 3\x00"

# The driver's exceptions, for the rest of store/ (they are not the stdlib sqlite3 classes).
Error = _driver.Error
DatabaseError = _driver.DatabaseError
OperationalError = _driver.OperationalError
IntegrityError = _driver.IntegrityError
InterfaceError = _driver.InterfaceError
DataError = _driver.DataError


class StoreError(Exception):
    """The store cannot be opened or migrated; the message names the file and the problem."""


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _key_pragma(key: bytes) -> str:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise StoreError(f"the store key must be {KEY_BYTES} bytes (got {type(key).__name__})")
    return f"PRAGMA key = \"x'{key.hex()}'\""


def is_plaintext(path: str | Path) -> bool:
    """True when ``path`` is an unencrypted SQLite file (its first 16 bytes are SQLite's header)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == PLAIN_HEADER
    except OSError:
        return False


def open_keyed(path: str | Path, key: bytes, *, timeout_s: float | None = None, uri: bool = False):
    """A raw SQLCipher connection to ``path`` keyed with ``key`` (32 bytes), busy timeout set (``timeout_s``,
    default BUSY_TIMEOUT_MS as it is when called), autocommit.

    Raises StoreError (one line, nothing changed) when the key does not open the file: a wrong key, a
    plain SQLite file (refused: see README "Store"), or not a database at all.
    """
    pragma = _key_pragma(key)
    if timeout_s is None:
        timeout_s = BUSY_TIMEOUT_MS / 1000
    conn = sqlcipher3.connect(str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False,
                              uri=uri)
    try:
        # SQLCipher logs a failed page HMAC to stderr (it would cut into the dashboard); the error is ours to tell
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(pragma)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        _BUSY_MS[id(conn)] = int(timeout_s * 1000)
        _WRITER_OF[id(conn)] = _writer_mutex(path)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except _driver.DatabaseError:
        conn.close()
        if is_plaintext(path):
            raise StoreError(f"{path}: an unencrypted SQLite file; MedJobs opens only encrypted stores and "
                             "leaves it untouched (a demo store from an older MedJobs: `make clean-demo`)") from None
        raise StoreError(f"{path}: the store key does not open this file (wrong key file, or not a MedJobs "
                         "store); nothing was changed") from None
    return conn


def create_private_file(path: Path) -> None:
    """Create an empty file with mode 0600 (and missing folders with 0700) unless it exists; SQLite then
    gives its -wal and -shm files the same mode."""
    missing = []
    p = path.parent
    while not p.exists():
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)
        except FileExistsError:
            pass
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def connect(path: str | Path, key: bytes) -> sqlite_utils.Database:
    """Open (creating if needed) the encrypted store at ``path`` with the raw store ``key`` (32 bytes) and
    bring its schema up to date.

    Returns a sqlite_utils.Database over a SQLCipher connection in WAL mode with foreign keys on and a
    busy timeout of BUSY_TIMEOUT_MS. The connection is in autocommit mode (``isolation_level=None``):
    write in ``transaction(db)`` blocks. A new file is created with mode 0600. Raises StoreError,
    changing nothing, if the key does not open the file (wrong key, plain SQLite, not a database), if it
    is another application's database, or was written by a newer MedJobs.
    """
    path = Path(path)
    _key_pragma(key)
    create_private_file(path)
    conn = open_keyed(path, key)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_version" not in tables:
            conn.close()
            raise StoreError(f"{path}: a SQLite database of something else (no schema_version table); "
                             "MedJobs leaves it untouched")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        # no third-party sqlite-utils plugin runs on the ePHI store's connection (nor an entry-point scan per process)
        db = sqlite_utils.Database(conn, execute_plugins=False)
        latest, found = max(v for v, _, _ in MIGRATIONS), schema_version(db)
        if found > latest:
            conn.close()
            raise StoreError(f"{path}: written by a newer MedJobs (schema {found}; this one knows "
                             f"up to {latest}); upgrade MedJobs")
        migrate(db)
    except _driver.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path}: not a usable MedJobs database ({exc})") from None
    return db


def rekey(path: str | Path, old_key: bytes, new_key: bytes) -> None:
    """Re-encrypt the store at ``path`` from ``old_key`` to ``new_key`` (SQLCipher ``PRAGMA rekey``: every
    page rewritten in one transaction; the WAL is checkpointed first). Raises StoreError if ``old_key``
    does not open it."""
    new_pragma = _key_pragma(new_key).replace("PRAGMA key", "PRAGMA rekey")
    conn = open_keyed(path, old_key)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute(new_pragma)
    finally:
        conn.close()


def key_opens(path: str | Path, key: bytes) -> bool:
    """True when ``key`` opens the store at ``path`` (a read of its schema succeeds)."""
    try:
        open_keyed(path, key).close()
        return True
    except StoreError:
        return False


class ClaimLost(Exception):
    """A fenced connection's claim is no longer current (its run was recovered and handed on): the write
    was refused and rolled back. Raised by ``transaction`` on a connection with a fence."""


_FENCES: dict[int, Callable[[sqlite_utils.Database], bool]] = {}
"""id(connection) -> the check of its claim (see ``set_fence``)."""


@contextmanager
def transaction(db: sqlite_utils.Database, immediate: bool = True) -> Iterator[sqlite_utils.Database]:
    """One write transaction (``BEGIN IMMEDIATE`` by default): commit on success, roll back on error.

    Inside an open transaction it joins it (the outer block commits or rolls back), so one store call can
    compose others into a single transaction. On a fenced connection (``set_fence``) the claim is checked
    right after ``BEGIN IMMEDIATE``, while this transaction holds the write lock until it commits: a stale
    claim rolls back and raises ClaimLost, so nothing of it lands. Writers of one store in one process take
    turns on a mutex before they ask SQLite for its lock (``_writer_mutex``).
    """
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    mutex = None
    if immediate:
        mutex = _begin_immediate(conn)
    else:
        conn.execute("BEGIN")
    try:
        fence = _FENCES.get(id(conn))
        if fence is not None and not fence(db):
            raise ClaimLost("this attempt's claim is no longer current: its writes were refused")
        yield db
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        finally:
            if mutex is not None:
                mutex.release()
        raise
    else:
        try:
            conn.execute("COMMIT")
        finally:
            if mutex is not None:
                mutex.release()


_BUSY_MS: dict[int, int] = {}
"""id(connection) -> its busy timeout (milliseconds), as set when it was opened."""
BEGIN_WAIT_FIRST_S, BEGIN_WAIT_MAX_S = 0.0001, 0.0005
"""Seconds between tries for the write lock held by another process: 0.1 ms, doubling to 0.5 ms (2 ms gave
2,469-2,480 no-op runs/s against 2,771-2,922 in alternate runs of ``bench/engine.py --folder`` on a tmpfs)."""

_WRITER_OF: dict[int, threading.RLock] = {}
"""id(connection) -> the mutex of its store's writers in this process (``_writer_mutex``)."""
_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_mutex(path: str | Path) -> threading.RLock:
    """The one mutex of this process's writers of the store at ``path`` (by its real path).

    SQLite has one write lock per store and lets a waiter only poll for it (``_begin_immediate``): of two
    threads of one process that both write (the runner's claim chains, the dashboard), the waiting one slept
    up to a polling step past the moment the other committed. Taking turns on a mutex first, it starts the
    moment the other's transaction ends; only writers in other processes are polled for. Reentrant: a thread
    that opens a transaction on a second connection inside its first waits on SQLite, as before."""
    key = os.path.realpath(os.fspath(path))
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.RLock())


def _fresh_writer_mutexes() -> None:
    """In a child made by ``fork``: the parent's mutexes may be held by threads the child does not have; each is
    replaced by a new one (still one per store), and so is the lock of their table."""
    global _WRITERS_LOCK
    _WRITERS_LOCK = threading.Lock()
    fresh: dict[int, threading.RLock] = {}
    for table in (_WRITERS, _WRITER_OF):
        for key, old in list(table.items()):
            table[key] = fresh.setdefault(id(old), threading.RLock())


os.register_at_fork(after_in_child=_fresh_writer_mutexes)


def _begin_immediate(conn) -> threading.RLock | None:
    """``BEGIN IMMEDIATE``, waiting for another writer in steps of 0.1 ms doubling up to 0.5 ms, for as long
    as the connection's busy timeout; then the store's "database is locked" as usual. First takes the mutex
    of this process's writers of the store (``_writer_mutex``) and returns it, held: the caller releases it
    once the transaction has ended (None for a connection not opened by ``open_keyed``).

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries: with writers that hold
    the lock a fraction of a millisecond each (the runner's outcome batches, triggers from another
    process), a waiter often sleeps far longer than the lock was held. The same remedy as sqlite3-ruby's
    ``busy_handler_timeout`` (Rails, Solid Queue), here around the one statement that takes the lock."""
    limit_ms = _BUSY_MS.get(id(conn))
    if limit_ms is None:                    # not opened by open_keyed: SQLite's handler as configured
        conn.execute("BEGIN IMMEDIATE")
        return None
    deadline = time.monotonic() + limit_ms / 1000
    mutex = _WRITER_OF[id(conn)]
    if not mutex.acquire(timeout=limit_ms / 1000):
        raise _driver.OperationalError("database is locked (by another writer of this process)")
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            wait = BEGIN_WAIT_FIRST_S
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return mutex
                except _driver.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() >= deadline:
                        raise
                time.sleep(wait)
                wait = min(wait * 2, BEGIN_WAIT_MAX_S)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {limit_ms}")
    except BaseException:
        mutex.release()
        raise


@contextmanager
def savepoint(db: sqlite_utils.Database, name: str = "medjobs_step") -> Iterator[sqlite_utils.Database]:
    """A nested step of the open transaction (``SAVEPOINT``): on an exception its writes alone are undone
    and the exception propagates; the enclosing transaction goes on. Outside a transaction it is one."""
    db.execute(f"SAVEPOINT {name}")
    try:
        yield db
    except BaseException:
        db.execute(f"ROLLBACK TO {name}")
        db.execute(f"RELEASE {name}")
        raise
    else:
        db.execute(f"RELEASE {name}")


_WRITES = {sqlcipher3.SQLITE_INSERT, sqlcipher3.SQLITE_UPDATE, sqlcipher3.SQLITE_DELETE}


def set_fence(db: sqlite_utils.Database, check: Callable[[sqlite_utils.Database], bool] | None) -> None:
    """Fence ``db`` (a worker's connection) with ``check`` (True while its claim is current), or lift it (None).

    While fenced, every write must be inside ``transaction(db)``, which runs ``check`` in the same
    transaction: a write in autocommit mode is refused ("not authorized") at prepare time, so no write
    can slip past the check (setting an authorizer expires every prepared statement, so each is
    checked afresh).
    """
    conn = db.conn
    if check is None:
        _FENCES.pop(id(conn), None)
        conn.set_authorizer(None)
        return
    _FENCES[id(conn)] = check

    def authorizer(action: int, *_: object) -> int:
        if action in _WRITES and not conn.in_transaction:
            return sqlcipher3.SQLITE_DENY
        return sqlcipher3.SQLITE_OK

    conn.set_authorizer(authorizer)


TRANSIENT_MESSAGES = ("database is locked", "database table is locked", "database or disk is full",
                      "disk i/o error", "unable to open database file")


def is_transient(exc: BaseException) -> bool:
    """True for a store error that waiting can cure: ``database is locked`` (another writer holds the lock
    past the busy timeout), ``database or disk is full``, a disk I/O error. Callers retry with backoff."""
    return isinstance(exc, _driver.OperationalError) and any(m in str(exc).lower() for m in TRANSIENT_MESSAGES)


def schema_version(db: sqlite_utils.Database) -> int:
    """The highest migration applied to ``db`` (0 for a new file)."""
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return row[0] or 0


def applied_versions(db: sqlite_utils.Database) -> set[int]:
    """The versions of every migration applied to ``db`` (empty for a new file)."""
    if not db["schema_version"].exists():
        return set()
    return {r[0] for r in db.execute("SELECT version FROM schema_version")}


def migrate(db: sqlite_utils.Database) -> int:
    """Apply, in ascending order and each in one transaction, every migration not yet applied (an SQL
    script, or a function called with ``db``).

    Migration numbers are allotted in ranges to parallel lines of work, so a migration may land after
    one with a higher number: any version missing from ``schema_version`` is applied, not only those
    above the highest. Returns the highest version applied.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    done = applied_versions(db)
    for version, description, script in sorted(MIGRATIONS, key=lambda m: m[0]):
        if version in done:
            continue
        statements = [s for s in _split_sql(script) if s.strip()] if isinstance(script, str) else []
        with transaction(db):
            if version in applied_versions(db):  # another process migrated meanwhile
                continue
            if callable(script):
                script(db)       # a migration SQL alone cannot express (e.g. conditional on the schema)
            for stmt in statements:
                db.execute(stmt)
            db.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version, description, _utcnow()])
    return schema_version(db)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into complete statements (sqlcipher3.complete_statement knows triggers)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlcipher3.complete_statement(buf):
            out.append(buf)
            buf = ""
    if buf.strip():
        out.append(buf)
    return out


class ThreadLocalDB:
    """One store connection per thread (SQLite connections must not be shared by concurrent threads),
    each keyed with ``key`` (the raw store key).

    ``get()`` opens this thread's connection on first use; ``close_all()`` closes every one opened.
    """

    def __init__(self, path: str | Path, key: bytes) -> None:
        self.path = Path(path)
        self._key = key
        self._local = threading.local()
        self._all: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        connect(self.path, key).close()  # create and migrate once, up front

    def get(self) -> sqlite_utils.Database:
        """This thread's connection."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path, self._key)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close_all(self) -> None:
        """Close every connection this object opened (call once all threads are done)."""
        with self._lock:
            for db in self._all:
                try:
                    db.close()
                except Exception:  # noqa: BLE001 - closing on the way out
                    pass
            self._all.clear()
        self._local = threading.local()
