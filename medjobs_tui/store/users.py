"""Queries of the users, their login sessions, the security notices and the sign-in failures of names that
are no user (schema migrations 1, 20 and 21).

Instants are aware UTC datetimes in, ISO text in the store. Callers write inside ``transaction(db)``
where several statements must hold together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils

from medjobs_tui.clock import iso
from medjobs_tui.store.db import IntegrityError

class UserExists(Exception):
    """A user of that name exists already."""


USER_COLUMNS = ("id", "username", "full_name", "role", "review_role", "enabled", "password_hash", "failed_signins",
                "locked_until", "last_signin_at", "password_changed_at", "created_at", "updated_at")


def _rows(cur) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def role_of(db: sqlite_utils.Database, username: str) -> str | None:
    """The role of ``username``, or None if there is no such user."""
    row = db.execute("SELECT role FROM users WHERE username = ?", [username]).fetchone()
    return row[0] if row else None


def get(db: sqlite_utils.Database, username: str) -> dict[str, Any] | None:
    """The row of ``username`` (keys USER_COLUMNS), or None."""
    rows = _rows(db.execute(f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE username = ?", [username]))
    return rows[0] if rows else None


def all_users(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every user row, by user name."""
    return _rows(db.execute(f"SELECT {', '.join(USER_COLUMNS)} FROM users ORDER BY username"))


def count(db: sqlite_utils.Database) -> int:
    """How many users there are."""
    return db.execute("SELECT count(*) FROM users").fetchone()[0]


def insert(db: sqlite_utils.Database, *, username: str, role: str, password_hash: str, now: datetime,
           review_role: str | None = None, full_name: str | None = None) -> int:
    """Add an enabled user; return its id. Raises UserExists if the name is taken."""
    try:
        cur = db.execute(
            "INSERT INTO users (username, full_name, role, review_role, password_hash, enabled, failed_signins,"
            " created_at, updated_at, password_changed_at) VALUES (?, ?, ?, ?, ?, 1, 0, ?, ?, ?)",
            [username, full_name, role, review_role, password_hash, iso(now), iso(now), iso(now)])
    except IntegrityError:
        raise UserExists(username) from None
    return cur.lastrowid


def update(db: sqlite_utils.Database, username: str, now: datetime, **fields: Any) -> bool:
    """Set ``fields`` (columns of USER_COLUMNS; datetimes are stored as UTC text) of ``username``.
    Returns False if there is no such user."""
    unknown = set(fields) - set(USER_COLUMNS)
    if unknown:
        raise KeyError(f"not a users column: {sorted(unknown)}")
    values = {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}
    values["updated_at"] = iso(now)
    sets = ", ".join(f"{k} = :{k}" for k in values)
    cur = db.execute(f"UPDATE users SET {sets} WHERE username = :_name", {**values, "_name": username})
    return cur.rowcount > 0


def enabled_admins_with_password(db: sqlite_utils.Database) -> list[str]:
    """User names of enabled admins that have a password (those who could sign in)."""
    return [r[0] for r in db.execute(
        "SELECT username FROM users WHERE role = 'admin' AND enabled = 1 AND password_hash IS NOT NULL"
        " ORDER BY username")]


# ------------------------------------------------------------------------------------- unknown names


def name_failures(db: sqlite_utils.Database, name_key: str) -> dict[str, Any] | None:
    """The failure record of a name that is no user (``failures``, ``locked_until``), by its keyed hash."""
    rows = _rows(db.execute("SELECT failures, locked_until FROM signin_failures WHERE name_key = ?", [name_key]))
    return rows[0] if rows else None


def count_name_attempt(db: sqlite_utils.Database, name_key: str, now: datetime, keep: int) -> tuple[int, str | None]:
    """Count one sign-in attempt under a name that is no user (by its keyed hash) in a single statement, so
    attempts made at the same time are each counted; return ``(failures including this one, locked_until as
    stored before it)``. Then keep at most ``keep`` records: the ones whose last failure is oldest go first,
    those not locked out now before those that are (never the one just counted). Source: NIST SP 800-63B
    5.2.2 (every attempt counts toward the limit)."""
    row = db.execute("INSERT INTO signin_failures (name_key, failures, locked_until, last_failure_at) VALUES (?, 1, NULL, ?)"
                     " ON CONFLICT(name_key) DO UPDATE SET failures = signin_failures.failures + 1,"
                     " last_failure_at = excluded.last_failure_at RETURNING failures, locked_until",
                     [name_key, iso(now)]).fetchall()[0]
    extra = db.execute("SELECT count(*) FROM signin_failures").fetchone()[0] - keep
    if extra > 0:
        db.execute("DELETE FROM signin_failures WHERE name_key IN (SELECT name_key FROM signin_failures"
                   " WHERE name_key != ? ORDER BY coalesce(locked_until > ?, 0), last_failure_at LIMIT ?)",
                   [name_key, iso(now), extra])
    return row[0], row[1]


def set_name_lock(db: sqlite_utils.Database, name_key: str, locked_until: datetime | None) -> None:
    """Set the lockout of a name that is no user (None: not locked)."""
    db.execute("UPDATE signin_failures SET locked_until = ? WHERE name_key = ?",
               [iso(locked_until) if locked_until else None, name_key])


def count_user_attempt(db: sqlite_utils.Database, username: str, now: datetime) -> tuple[int, str | None] | None:
    """Count one sign-in attempt of ``username`` in a single statement (``failed_signins + 1``), so attempts
    made at the same time are each counted; return ``(failures including this one, locked_until as stored
    before it)``, or None when there is no such user. A successful sign-in sets the count back to 0.
    Source: NIST SP 800-63B 5.2.2."""
    rows = db.execute("UPDATE users SET failed_signins = failed_signins + 1, updated_at = ? WHERE username = ?"
                      " RETURNING failed_signins, locked_until", [iso(now), username]).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def take_back_attempts(db: sqlite_utils.Database, username: str, attempts: int, now: datetime) -> int:
    """After a successful sign-in: take back the ``attempts`` counted up to and including it (the count
    ``count_user_attempt`` returned for it); attempts counted after it (guesses made while its password was
    checked) stay counted. Returns the count left (0 or more)."""
    rows = db.execute("UPDATE users SET failed_signins = max(0, failed_signins - ?), updated_at = ? WHERE username = ?"
                      " RETURNING failed_signins", [attempts, iso(now), username]).fetchall()
    return rows[0][0] if rows else 0


def count_name_failures(db: sqlite_utils.Database) -> int:
    """How many names that are no user have a failure record."""
    return db.execute("SELECT count(*) FROM signin_failures").fetchone()[0]


# ------------------------------------------------------------------------------------- sessions


def add_session(db: sqlite_utils.Database, token_hash: str, username: str, now: datetime) -> None:
    """Record a new login session (by the SHA-256 of its token)."""
    db.execute("INSERT INTO sessions (token_hash, username, created_at, last_used_at) VALUES (?, ?, ?, ?)",
               [token_hash, username, iso(now), iso(now)])


def get_session(db: sqlite_utils.Database, token_hash: str) -> dict[str, Any] | None:
    """The session row of ``token_hash`` (username, created_at, last_used_at), or None."""
    rows = _rows(db.execute("SELECT token_hash, username, created_at, last_used_at FROM sessions"
                            " WHERE token_hash = ?", [token_hash]))
    return rows[0] if rows else None


def touch_session(db: sqlite_utils.Database, token_hash: str, now: datetime) -> None:
    """Mark the session used at ``now`` (its idle time starts again)."""
    db.execute("UPDATE sessions SET last_used_at = ? WHERE token_hash = ?", [iso(now), token_hash])


def end_session(db: sqlite_utils.Database, token_hash: str) -> bool:
    """Delete the session; False if there was none."""
    return db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash]).rowcount > 0


def end_sessions_of(db: sqlite_utils.Database, username: str) -> int:
    """Delete every session of ``username`` (disabled, role or password changed); return how many."""
    return db.execute("DELETE FROM sessions WHERE username = ?", [username]).rowcount


# ------------------------------------------------------------------------------------- notices


def add_notice(db: sqlite_utils.Database, kind: str, message: str, now: datetime) -> int:
    """Record a security notice for the next admin sign-in; return its id."""
    return db.execute("INSERT INTO security_notices (at, kind, message) VALUES (?, ?, ?)",
                      [iso(now), kind, message]).lastrowid


def take_notices(db: sqlite_utils.Database, admin: str, now: datetime) -> list[dict[str, Any]]:
    """The notices no admin has been shown yet, oldest first, marked as shown to ``admin`` at ``now``."""
    rows = _rows(db.execute("SELECT id, at, kind, message FROM security_notices WHERE shown_at IS NULL"
                            " ORDER BY id"))
    if rows:
        db.execute("UPDATE security_notices SET shown_to = ?, shown_at = ? WHERE shown_at IS NULL",
                   [admin, iso(now)])
    return rows
