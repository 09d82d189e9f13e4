"""Person authentication: the password check with lockout, login sessions, and their audit entries.

After LOCKOUT_AFTER consecutive failed sign-ins a user is locked out for LOCKOUT_FIRST_S seconds; each
further failure after a lockout doubles the delay, up to LOCKOUT_MAX_S. While locked out, sign-in is
refused without checking the password (so guessing gains nothing). A success, or an admin's unlock,
starts the count again. Every attempt is counted atomically before the password is checked, including one
refused during a lockout (so parallel guesses cannot share one count). A disabled account gets the same answer
as a wrong password. A name that is no user is counted and locked out the same way (in
``signin_failures``, under an HMAC of the name; at most UNKNOWN_NAMES_KEPT names), so the answers and
delays do not tell which names exist. Every sign-in, failure, refusal and lockout is an audit entry.
Sources: 45 CFR 164.312(d) person or entity authentication; NIST SP 800-63B 5.2.2 (rate limiting);
OWASP Authentication Cheat Sheet (generic failure messages, account lockout).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TYPE_CHECKING

from medjobs_tui.clock import parse_iso
from medjobs_tui.security import audit
from medjobs_tui.security.masking import SafeError
from medjobs_tui.security.passwords import HashParams, hash_password, needs_rehash, verify_password
from medjobs_tui.store import transaction
from medjobs_tui.store import users as store_users

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils

LOCKOUT_AFTER = 5
"""Consecutive failures that lock a user out."""
LOCKOUT_FIRST_S = 30
"""Seconds of the first lockout; each further failure doubles it."""
LOCKOUT_MAX_S = 15 * 60
"""Longest lockout, in seconds."""

UNKNOWN_NAMES_KEPT = 10_000
"""Most names that are no user whose failures are remembered (table ``signin_failures``); beyond it the
records of the names whose last failure is oldest (and that are not locked out) are dropped. Filling it
takes that many failed sign-ins, each costing an Argon2id hash."""

BAD_CREDENTIALS = "wrong user name or password"
"""The one message for an unknown user and a wrong password alike (it does not tell which)."""


class SignInError(SafeError):
    """Sign-in refused; the message is fit for the person at the keyboard."""


class LockedOut(SignInError):
    """Sign-in refused because of too many failures; ``until`` is when it may be tried again (UTC)."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class SessionExpired(SignInError):
    """A login session is unknown, ended, or was idle longer than the idle timeout."""


def _name_key(audit_key: bytes, username: str) -> str:
    """HMAC-SHA256 (hex) of a user name under the audit key: how the failures of a name that is no user
    are kept without writing the name (often a mistyped password) into the store."""
    return hmac.new(audit_key, b"medjobs sign-in failures\0" + username.encode("utf-8"), hashlib.sha256).hexdigest()


UNKNOWN_NAME_PREFIX = "unknown-name:"
"""How the audit trail names a sign-in attempt under a name that is no user: this prefix and the first 12 hex
digits of the name's keyed hash (``_name_key``). What was typed is never written (it is often a password typed
into the wrong field, or anything else a person may type); repeated attempts under one name still share one
pseudonym, so an auditor sees a guessing run."""


RESERVED_NAMES = frozenset({"runner", "custodian", "root", "system"})
"""Names no person may take: MedJobs' service identities (and root/system). An attempt under one is audited
under the name itself."""


def audit_name(audit_key: bytes, username: str, is_user: bool) -> str:
    """The name the audit trail records for a sign-in attempt as ``username``: the name itself when a user has
    it or it is reserved, else ``unknown-name:<12 hex>`` (a keyed hash; see UNKNOWN_NAME_PREFIX)."""
    if is_user or username in RESERVED_NAMES:
        return username
    return UNKNOWN_NAME_PREFIX + _name_key(audit_key, username)[:12]


def lockout_seconds(failures: int) -> int:
    """Seconds of lockout after ``failures`` consecutive failures: 0 below LOCKOUT_AFTER, then 30, 60,
    120 … doubling, at most LOCKOUT_MAX_S."""
    if failures < LOCKOUT_AFTER:
        return 0
    return min(LOCKOUT_FIRST_S * 2 ** (failures - LOCKOUT_AFTER), LOCKOUT_MAX_S)


def _wait_text(seconds: float) -> str:
    seconds = max(1, int(seconds + 0.999))
    return f"{seconds} s" if seconds < 120 else f"{(seconds + 59) // 60} min"


def _limit_text(seconds: float) -> str:
    """A configured limit in plain words: ``12 h``, ``90 min``, ``45 s``."""
    seconds = int(seconds)
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds} s"


def authenticate(db: sqlite_utils.Database, username: str, password: str, now: datetime,
                 params: HashParams, *, audit_key: bytes, action: str = "signin") -> dict[str, Any]:
    """Check ``username``'s password; return the user row (as ``store.users.get``) on success.

    Every attempt is counted first, in one write transaction (``BEGIN IMMEDIATE``) that also reads the
    lockout, so attempts made at the same time (from several windows or processes) are each counted and
    none reads a stale count. While the user (or the name, if no user has it) is locked out the attempt is
    refused, still counted, without checking the password. An attempt that brings the count to
    LOCKOUT_AFTER or more locks out for ``lockout_seconds(count)`` before the password is checked, so a
    parallel attempt finds the lock; a correct password lifts it and sets the count back to 0.

    Raises LockedOut while locked out, and SignInError(BAD_CREDENTIALS) for an unknown user, a wrong
    password, an account without a password, and a disabled account even with the right password (the
    answer never confirms a password; the audit entry records the real reason). Each outcome is audited
    under ``action`` (``signin``, or ``session.unlock`` when the dashboard is unlocked), MAC'd under
    ``audit_key``. A hash weaker than ``params`` is replaced.
    Sources: NIST SP 800-63B 5.2.2 (rate limiting); OWASP Authentication Cheat Sheet (generic answers).
    """
    user = store_users.get(db, username)
    role = user["role"] if user else "-"
    # a name that is no user is counted and locked out exactly like one that is (under a keyed hash of it):
    # otherwise the fifth failure's answer would tell which names exist
    name_key = None if user else _name_key(audit_key, username)
    who = audit_name(audit_key, username, user is not None)

    def refuse(reason: str, message: str, detail: dict[str, Any] | None = None, exc=SignInError, **kw):
        audit.record(db, key=audit_key, actor=who, role=role, action=action, target=f"user:{who}", outcome="denied",
                     at=now, detail={"reason": reason, **(detail or {})})
        raise exc(message, **kw) if kw else exc(message)

    with transaction(db):           # count, read the lockout and (if due) lock, as one atomic step
        counted = (store_users.count_user_attempt(db, username, now) if user is not None else None)
        if counted is None:
            if user is not None:    # the user went away between the read and the count: like no user
                user, role, name_key = None, "-", _name_key(audit_key, username)
                who = audit_name(audit_key, username, False)
            counted = store_users.count_name_attempt(db, name_key, now, keep=UNKNOWN_NAMES_KEPT)
        failures, locked_text = counted
        if user is not None:        # the row as it is now, under the write lock: a disable or a new password
            user = store_users.get(db, username) or user   # made since the first read counts for this attempt
        locked_until = parse_iso(locked_text)
        locked_now = locked_until is not None and now < locked_until
        lock = 0 if locked_now else lockout_seconds(failures)
        if lock:
            until = now + timedelta(seconds=lock)
            if user is not None:
                store_users.update(db, username, now, locked_until=until)
            else:
                store_users.set_name_lock(db, name_key, until)
    if locked_now:
        refuse("locked out", f"too many failed sign-ins: {username} is locked out for another "
                             f"{_wait_text((locked_until - now).total_seconds())} (or until an admin unlocks it)",
               {"failures": failures}, exc=LockedOut, until=locked_until)
    ok = verify_password(password, user["password_hash"] if user else None)
    if user is None or not ok or not user["enabled"]:
        if lock:
            audit.record(db, key=audit_key, actor=who, role=role, action="user.lockout", target=f"user:{who}",
                         outcome="ok", at=now, detail={"failures": failures, "seconds": lock})
        reason = "unknown user" if user is None else "wrong password" if not ok else "disabled"
        refuse(reason, BAD_CREDENTIALS, {"failures": failures})
    fields: dict[str, Any] = {"last_signin_at": now}
    if needs_rehash(user["password_hash"], params):
        fields["password_hash"] = hash_password(password, params)
    with transaction(db):
        # the attempts up to this one are taken back; guesses counted while this password was checked stay,
        # and so does a lockout they brought on
        fields["failed_signins"] = store_users.take_back_attempts(db, username, failures, now)
        if fields["failed_signins"] < LOCKOUT_AFTER:
            fields["locked_until"] = None
        store_users.update(db, username, now, **fields)
    audit.record(db, key=audit_key, actor=username, role=role, action=action, target=f"user:{username}", outcome="ok", at=now)
    return {**user, **fields}


# ------------------------------------------------------------------------------------- sessions


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a session token is stored (the token itself is only in the file)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session(db: sqlite_utils.Database, username: str, now: datetime) -> str:
    """Start a login session for ``username``; return its token (256 random bits, URL-safe text)."""
    token = secrets.token_urlsafe(32)
    with transaction(db):
        store_users.add_session(db, token_hash(token), username, now)
    return token


@dataclass(frozen=True)
class ResumedSession:
    """A live session: its user's row and the hash of its token."""

    user: dict[str, Any]
    token_hash: str


def resume_session(db: sqlite_utils.Database, token: str, now: datetime, idle_timeout_s: float, *,
                   audit_key: bytes, lifetime_s: float = 12 * 3600) -> ResumedSession:
    """The session of ``token`` if it is live (known, used within ``idle_timeout_s`` seconds, started at most
    ``lifetime_s`` seconds ago, its user enabled); it counts as used now. Raises SessionExpired otherwise: an
    idle session or one past its lifetime is ended (audited ``session.expired`` with ``idle_s`` or ``age_s``).
    Sources: 45 CFR 164.312(a)(2)(iii) automatic logoff; OWASP Session Management Cheat Sheet (idle and
    absolute timeouts)."""
    th = token_hash(token)
    row = store_users.get_session(db, th)
    if row is None:
        raise SessionExpired("no live session; sign in again (medjobs login)")
    idle = (now - parse_iso(row["last_used_at"])).total_seconds()
    age = (now - parse_iso(row["created_at"])).total_seconds()
    user = store_users.get(db, row["username"])
    too_old = age > lifetime_s
    if idle > idle_timeout_s or too_old or user is None or not user["enabled"]:
        with transaction(db):
            store_users.end_session(db, th)
        if idle > idle_timeout_s or too_old:
            audit.record(db, key=audit_key, actor=row["username"], role=user["role"] if user else "-", action="session.expired",
                         target=f"user:{row['username']}", outcome="ok", at=now,
                         detail={"age_s": int(age), "lifetime_s": int(lifetime_s)} if too_old else {"idle_s": int(idle)})
        if too_old and idle <= idle_timeout_s:
            raise SessionExpired(f"the login session reached its time limit of {_limit_text(lifetime_s)} "
                                 "(security.session_lifetime); sign in again (medjobs login)")
        raise SessionExpired("the login session has expired; sign in again (medjobs login)")
    with transaction(db):
        store_users.touch_session(db, th, now)
    return ResumedSession(user, th)
