"""Sign-in, sessions, the dashboard lock, user administration, the audit trail view and emergency access.

Mixed into ``Console``: every method checks the role through ``authorise`` (PERMISSIONS) and writes
audit entries through ``security.audit``. Passwords never reach the audit log, an exception text or
a log line. Sources: 45 CFR 164.312(a)(2)(i) unique user identification, (a)(2)(ii) emergency access,
(a)(2)(iii) automatic logoff, (b) audit controls, (d) person or entity authentication.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medjobs_tui.clock import parse_iso
from medjobs_tui.console.errors import ConsoleError
from medjobs_tui.console.models import REVIEW_ROLES, ROLES, Actor, AuditRow, UserRow
from medjobs_tui.security import audit, auth
from medjobs_tui.security.passwords import (
    HashParams, PasswordRuleError, check_password_rules, generate_password, hash_password,
)
from medjobs_tui.store import transaction
from medjobs_tui.store import users as store_users

if TYPE_CHECKING:
    from medjobs_tui.config import Settings

USERNAME = re.compile(r"[a-z][a-z0-9._@-]{0,63}")
"""What a user name may be: it is written to the audit log, so lower-case letters, digits and . _ @ -,
starting with a letter; no spaces, line breaks or control characters."""

RUNNER = Actor("runner", "runner")
"""The headless runner's service identity (``medjobs run``): it may only run jobs."""

CUSTODIAN = Actor("custodian", "custodian")
"""Whoever holds the machine's key file or the recovery key, acting where no one can sign in:
creating a clinic (``medjobs init``, the demo's first start) and emergency access (``medjobs recover``)."""

RESERVED_NAMES = auth.RESERVED_NAMES
"""Names no person may have (service identities and look-alikes): ``security.auth.RESERVED_NAMES``."""

DEMO_USERS = (
    ("demo.admin", "admin", None),
    ("demo.operator", "operator", None),
    ("demo.reviewer", "reviewer", "technical lead"),
    ("demo.auditor", "auditor", None),
    ("demo.security", "reviewer", "security officer"),
    ("demo.compliance", "reviewer", "compliance officer"),
    ("demo.manager", "reviewer", "project manager"),
)
"""The demo clinic's users: one per role, and a reviewer for each review role (so the whole sign-off can be
done on the demo clinic)."""

DEMO_FULL_NAMES = {
    "demo.admin": "Demo Admin", "demo.operator": "Demo Operator", "demo.reviewer": "Demo Technical Lead",
    "demo.auditor": "Demo Auditor", "demo.security": "Demo Security Officer",
    "demo.compliance": "Demo Compliance Officer", "demo.manager": "Demo Project Manager",
}
"""The demo users' printed names (shown on their signatures)."""

MAX_FULL_NAME = 80
"""Longest printed name, in characters."""


def check_full_name(name: str | None) -> str | None:
    """``name`` stripped (None when empty) if it is a printable name of at most MAX_FULL_NAME characters;
    raises ConsoleError otherwise (it is shown on signatures and in the report)."""
    if name is None or not name.strip():
        return None
    name = " ".join(name.split())
    if len(name) > MAX_FULL_NAME or any(not ch.isprintable() for ch in name):
        raise ConsoleError(f"a full name is at most {MAX_FULL_NAME} printable characters")
    return name


class SignInFailed(ConsoleError):
    """Sign-in (or unlock) refused: wrong user name or password, locked out, disabled, session expired."""


BAD_CREDENTIALS = auth.BAD_CREDENTIALS
"""SignInFailed's text for an unknown user, a wrong password or a disabled account alike (the answer never
confirms a password); a screen that asked only for the password may say it in its own words."""


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in: the actor, and for an admin the security notices not yet shown to any admin
    (e.g. that emergency access was used), each one line."""

    actor: Actor
    notices: list[str] = field(default_factory=list)


def check_username(name: str) -> str:
    """``name`` if it is a valid user name; raises ConsoleError (before it reaches the audit log)."""
    if not isinstance(name, str) or not USERNAME.fullmatch(name):
        raise ConsoleError("a user name is 1-64 lower-case letters, digits or . _ @ -, starting with a letter")
    return name


class AccountsMixin:
    """Sign-in and user administration; needs ``settings``, ``clock``, ``db``, ``authorise``, ``_audit_ok``."""

    settings: Settings

    # ------------------------------------------------------------------ helpers

    @property
    def hash_params(self) -> HashParams:
        """Argon2id cost of new hashes, from ``security.password_hash``."""
        p = self.settings.security.password_hash
        return HashParams(p.memory_kib, p.iterations, p.lanes)

    @staticmethod
    def _actor(user: dict[str, Any]) -> Actor:
        return Actor(user["username"], user["role"], user["review_role"])

    def _user(self, username: str) -> dict[str, Any]:
        user = store_users.get(self.db, check_username(username))
        if user is None:
            raise ConsoleError(f"no user named {username}")
        return user

    def _new_password(self, username: str, password: str | None) -> tuple[str, str | None]:
        """(hash, generated password or None)."""
        generated = None
        if password is None:
            password = generated = generate_password()
        try:
            check_password_rules(password, username)
        except PasswordRuleError as exc:
            raise ConsoleError(str(exc)) from None
        return hash_password(password, self.hash_params), generated

    @staticmethod
    def _check_role(role: str, review_role: str | None) -> None:
        if role not in ROLES:
            raise ConsoleError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if review_role is not None:
            if role != "reviewer":
                raise ConsoleError("only a reviewer carries a review role")
            if review_role not in REVIEW_ROLES:
                raise ConsoleError(f"unknown review role {review_role!r}; review roles: {', '.join(REVIEW_ROLES)}")

    def _keeps_an_admin(self, username: str) -> None:
        admins = store_users.enabled_admins_with_password(self.db)
        if admins == [username]:
            raise ConsoleError(f"{username} is the only admin who can sign in; add or enable another admin first")

    # ------------------------------------------------------------------ sign-in and sessions

    def sign_in(self, username: str, password: str) -> SignIn:
        """Check ``username``'s password (Argon2id; lockout after repeated failures) and return the SignIn.

        Audited: ``signin`` ok or denied (with the reason), ``user.lockout``. Raises SignInFailed
        (unknown user and wrong password give the same message) or ConsoleError for a malformed name.
        """
        check_username(username)
        try:
            user = auth.authenticate(self.db, username, password, self.clock.now(), self.hash_params,
                                     audit_key=self.keys.audit)
        except auth.SignInError as exc:
            raise SignInFailed(str(exc)) from None
        actor = self._actor(user)
        self.authorise(actor, "signin", f"user:{username}")
        notices = []
        if actor.role == "admin":
            with transaction(self.db):
                taken = store_users.take_notices(self.db, username, self.clock.now())
            notices = [f"{n['at']} {n['message']}" for n in taken]
        return SignIn(actor, notices)

    def open_session(self, username: str, password: str) -> tuple[SignIn, str]:
        """Sign in and start a login session (``medjobs login``); return the SignIn and the session token.
        The session ends after ``security.idle_timeout`` seconds without use. Audited ``session.login``."""
        signed = self.sign_in(username, password)
        self.authorise(signed.actor, "session.login", f"user:{username}")
        token = auth.new_session(self.db, username, self.clock.now())
        self._audit_ok(signed.actor, "session.login", f"user:{username}")
        return signed, token

    def resume_session(self, token: str) -> Actor:
        """The actor of a live login session (its user's current role). Raises SignInFailed when the
        session is unknown, ended, idle past the timeout or older than ``security.session_lifetime`` (then
        audited ``session.expired``) or its user disabled."""
        try:
            live = auth.resume_session(self.db, token, self.clock.now(), self.settings.security.idle_timeout,
                                       audit_key=self.keys.audit, lifetime_s=self.settings.security.session_lifetime)
        except auth.SignInError as exc:
            raise SignInFailed(str(exc)) from None
        return self._actor(live.user)

    def end_session(self, actor: Actor, token: str) -> bool:
        """End a login session (``medjobs logout``); False if it had already ended. Audited."""
        self.authorise(actor, "session.logout", f"user:{actor.username}")
        with transaction(self.db):
            ended = store_users.end_session(self.db, auth.token_hash(token))
        self._audit_ok(actor, "session.logout", f"user:{actor.username}", {"ended": ended})
        return ended

    def lock(self, actor: Actor, reason: str = "idle") -> None:
        """Record that ``actor``'s dashboard locked (``reason``: idle | user | session lifetime | account changed).
        Audited ``session.lock``."""
        self.authorise(actor, "session.lock", f"user:{actor.username}")
        self._audit_ok(actor, "session.lock", f"user:{actor.username}", {"reason": reason})

    def unlock(self, actor: Actor, password: str) -> Actor:
        """Unlock ``actor``'s dashboard with their password; return the actor as the store now has it
        (role changes apply). Failures count toward the lockout. Audited ``session.unlock``."""
        self.authorise(actor, "session.unlock", f"user:{actor.username}")
        try:
            user = auth.authenticate(self.db, actor.username, password, self.clock.now(), self.hash_params,
                                     audit_key=self.keys.audit, action="session.unlock")
        except auth.SignInError as exc:
            raise SignInFailed(str(exc)) from None
        return self._actor(user) if user["enabled"] else None

    def current_account(self, actor: Actor) -> Actor | None:
        """``actor``'s account as the store has it now (role and review role: a change since sign-in shows), or
        None when it was disabled or no longer exists (a store with no users at all: ``actor`` as given). A read
        of the person's own account, not audited: the dashboard's lock screen asks it to say whether the
        locked user can still unlock (``authorise`` refuses such an account with AccountRevoked)."""
        current, reason = self._account_state(actor)
        return None if reason in ("disabled", "no such user") else current

    def hand_over(self, previous: Actor, username: str, password: str) -> SignIn:
        """Sign ``username`` in on a dashboard locked for ``previous``, whose account was disabled or removed since
        (nobody else could ever unlock it): the sign-in as ``sign_in`` (audited ``signin``), then ``previous``'s
        session ended (audited ``session.logout``, reason and who signed in next). Raises ConsoleError while
        ``previous`` can still unlock (only their password unlocks their console), SignInFailed as ``sign_in``."""
        if self.current_account(previous) is not None:
            audit.record(self.db, key=self.keys.audit, actor=previous.username, role=previous.role,
                         action="session.logout", target=f"user:{previous.username}", outcome="denied",
                         at=self.clock.now(), detail={"reason": "another user signing in while this one can unlock"})
            raise ConsoleError(f"{previous.username} can still unlock this console: only their password unlocks it")
        signed = self.sign_in(username, password)
        self.authorise(previous, "session.logout", f"user:{previous.username}")
        self._audit_ok(previous, "session.logout", f"user:{previous.username}",
                       {"reason": "account disabled or removed", "next": signed.actor.username})
        return signed

    def change_password(self, actor: Actor, current: str, new: str) -> None:
        """``actor`` changes their own password (the current one is checked first). Audited."""
        self.authorise(actor, "password.change", f"user:{actor.username}")
        password_hash, _ = self._new_password(actor.username, new)
        try:
            auth.authenticate(self.db, actor.username, current, self.clock.now(), self.hash_params,
                              audit_key=self.keys.audit, action="password.change.check")
        except auth.SignInError as exc:
            raise SignInFailed(str(exc)) from None
        now = self.clock.now()
        with transaction(self.db):
            store_users.update(self.db, actor.username, now, password_hash=password_hash, password_changed_at=now)
        self._audit_ok(actor, "password.change", f"user:{actor.username}")

    # ------------------------------------------------------------------ user administration (admins)

    def add_user(self, actor: Actor, username: str, role: str, password: str | None = None,
                 review_role: str | None = None, full_name: str | None = None) -> str | None:
        """Add a user (``full_name``: the printed name on their signatures; default the user name); return the
        generated password when none was given (show it once), else None. Raises ConsoleError for a taken or
        reserved name, an unknown role, a bad full name or a password that breaks the rules."""
        self.authorise(actor, "user.add", f"user:{username}")
        check_username(username)
        if username in RESERVED_NAMES:
            raise ConsoleError(f"{username} is reserved for a service identity")
        self._check_role(role, review_role)
        full_name = check_full_name(full_name)
        password_hash, generated = self._new_password(username, password)
        try:
            with transaction(self.db):
                store_users.insert(self.db, username=username, role=role, review_role=review_role,
                                   password_hash=password_hash, now=self.clock.now(), full_name=full_name)
        except store_users.UserExists:
            raise ConsoleError(f"there is already a user named {username}") from None
        self._audit_ok(actor, "user.add", f"user:{username}", {"role": role, "review_role": review_role})
        return generated

    def disable_user(self, actor: Actor, username: str) -> None:
        """Disable ``username``: no sign-in, and their login sessions end. Not the last admin. Audited."""
        self.authorise(actor, "user.disable", f"user:{username}")
        user = self._user(username)
        if user["role"] == "admin":
            self._keeps_an_admin(username)
        self._set(username, enabled=0)
        self._audit_ok(actor, "user.disable", f"user:{username}")

    def enable_user(self, actor: Actor, username: str) -> None:
        """Enable a disabled ``username``. Audited."""
        self.authorise(actor, "user.enable", f"user:{username}")
        self._user(username)
        self._set(username, enabled=1, end_sessions=False)
        self._audit_ok(actor, "user.enable", f"user:{username}")

    def set_user_password(self, actor: Actor, username: str, password: str | None = None) -> str | None:
        """Set ``username``'s password (generated, and returned, when none is given); their sessions end
        and any lockout is lifted. Audited (never the password)."""
        self.authorise(actor, "user.passwd", f"user:{username}")
        self._user(username)
        password_hash, generated = self._new_password(username, password)
        self._set(username, password_hash=password_hash, password_changed_at=self.clock.now(), failed_signins=0,
                  locked_until=None)
        self._audit_ok(actor, "user.passwd", f"user:{username}")
        return generated

    def set_user_role(self, actor: Actor, username: str, role: str, review_role: str | None = None) -> None:
        """Give ``username`` the role ``role`` (and for a reviewer a review role); their sessions end.
        The last admin keeps the admin role. Audited with the old and new role."""
        self.authorise(actor, "user.role", f"user:{username}")
        user = self._user(username)
        self._check_role(role, review_role)
        if user["role"] == "admin" and role != "admin":
            self._keeps_an_admin(username)
        self._set(username, role=role, review_role=review_role)
        self._audit_ok(actor, "user.role", f"user:{username}", {
            "from": user["role"], "to": role, "review_role": review_role})

    def set_user_full_name(self, actor: Actor, username: str, full_name: str) -> None:
        """Set ``username``'s printed name (shown on the signatures they make from now on, 21 CFR 11.50; a
        signature already made keeps the name it was made with). Audited (the name itself is not: the audit
        trail names users by user name). Raises ConsoleError for an unknown user or a bad name."""
        self.authorise(actor, "user.name", f"user:{username}")
        self._user(username)
        name = check_full_name(full_name)
        if name is None:
            raise ConsoleError("give the printed name, e.g. \"Tess Lead\"")
        self._set(username, end_sessions=False, full_name=name)
        self._audit_ok(actor, "user.name", f"user:{username}")

    def unlock_user(self, actor: Actor, username: str) -> None:
        """Lift ``username``'s sign-in lockout and reset their failure count. Audited."""
        self.authorise(actor, "user.unlock", f"user:{username}")
        user = self._user(username)
        self._set(username, failed_signins=0, locked_until=None, end_sessions=False)
        self._audit_ok(actor, "user.unlock", f"user:{username}", {"failures": user["failed_signins"]})

    def list_users(self, actor: Actor) -> list[UserRow]:
        """Every user (never a password hash). Admins only; not audited when allowed (a read of no patient data)."""
        self.authorise(actor, "user.list", "users")
        return [UserRow(
            username=u["username"], role=u["role"], review_role=u["review_role"], enabled=bool(u["enabled"]),
            has_password=u["password_hash"] is not None, failed_signins=u["failed_signins"],
            locked_until=parse_iso(u["locked_until"]), last_signin_at=parse_iso(u["last_signin_at"]),
            created_at=parse_iso(u["created_at"]),
        ) for u in store_users.all_users(self.db)]

    def _set(self, username: str, end_sessions: bool = True, **fields: Any) -> None:
        with transaction(self.db):
            store_users.update(self.db, username, self.clock.now(), **fields)
            if end_sessions:
                store_users.end_sessions_of(self.db, username)

    # ------------------------------------------------------------------ audit trail

    def audit_entries(self, actor: Actor, *, since: datetime | None = None, actor_name: str | None = None,
                      action: str | None = None, limit: int = 200) -> list[AuditRow]:
        """The newest audit entries (at most ``limit``), newest first, filtered by instant (UTC, inclusive),
        actor and action (an exact name, or a prefix ending in ``.``: ``user.``). Admins and auditors
        (``audit.list``). Unlike ``audit_list`` (the CLI's, audited each time) a read is not audited: the
        dashboard's Audit tab refreshes it every second."""
        self.authorise(actor, "audit.list", "audit")
        rows = audit.entries(self.db, since=since, actor=actor_name, action=action, limit=limit)
        return [AuditRow(id=r["id"], at=parse_iso(r["at"]), actor=r["actor"], role=r["role"], action=r["action"],
                         target=r["target"], outcome=r["outcome"], detail=r["detail"]) for r in rows]

    # ------------------------------------------------------------------ creating a clinic, emergency access

    def has_users(self) -> bool:
        """True when the store has at least one user (a clinic already set up)."""
        return store_users.count(self.db) > 0

    def create_first_admin(self, actor: Actor, username: str, password: str | None = None) -> str | None:
        """The custodian creates the first admin of a clinic that has no users (``medjobs init``); return
        the generated password when none was given. Raises ConsoleError when users exist already."""
        self.authorise(actor, "clinic.init", "users")
        if self.has_users():
            raise ConsoleError("this clinic has users already; an admin adds more with `medjobs user add`")
        generated = self._add_unchecked(username, "admin", password, None)
        self._audit_ok(actor, "clinic.init", f"user:{username}", {"role": "admin"})
        return generated

    def create_demo_users(self, actor: Actor) -> list[tuple[str, str, str | None, str]]:
        """The custodian creates DEMO_USERS in a store without users; return ``(user, role, review role,
        password)`` for each, passwords generated (show them once). Raises ConsoleError if users exist."""
        self.authorise(actor, "clinic.init", "users")
        if self.has_users():
            raise ConsoleError("this store has users already; the demo users are made in a new store only")
        out = []
        for name, role, review_role in DEMO_USERS:
            out.append((name, role, review_role,
                        self._add_unchecked(name, role, None, review_role, DEMO_FULL_NAMES.get(name))))
        self._audit_ok(actor, "clinic.init", "users", {"demo_users": [n for n, _, _ in DEMO_USERS]})
        return out

    def emergency_refused(self, actor: Actor, reason: str) -> None:
        """Record a refused emergency access (e.g. a wrong recovery key) as a denied ``clinic.recover``."""
        self._audit_denied(actor, "clinic.recover", "users", reason)

    def key_file_recovered(self, actor: Actor, source: str) -> None:
        """Record that the key file was rebuilt from a recovery copy (``medjobs key recover``; the caller has
        proved the recovery key and written the file): audited ``key.recover`` with the copy used (``source``,
        its file name) and left as a notice for the next admin sign-in. Raises PermissionDenied for anyone
        but the custodian (the holder of the recovery key)."""
        self.authorise(actor, "key.recover", "key_file")
        now = self.clock.now()
        with transaction(self.db):
            store_users.add_notice(self.db, "recovery", "the lost key file was rebuilt from the recovery copy with "
                                   "the recovery key at the workstation; check the audit trail (medjobs audit list "
                                   "--action key.recover)", now)
        self._audit_ok(actor, "key.recover", "key_file", {"copy": source})

    def key_recovery_refused(self, actor: Actor, reason: str) -> None:
        """Record a refused key-file rebuild (a wrong recovery key, a key file that exists) as a denied
        ``key.recover``. Only possible while the key file is there (the audit key lives in it)."""
        self._audit_denied(actor, "key.recover", "key_file", reason)

    def emergency_admin(self, actor: Actor, username: str, password: str | None = None, *,
                        key_file_restored: bool = False) -> str | None:
        """Emergency access, for when no admin can sign in (forgotten password, admins disabled or gone);
        the caller has proved the recovery key. Creates admin ``username``, or, if that user exists, makes
        it an enabled admin with a new password and no lockout. Audited loudly (with the admins that
        existed) and left as a notice for the next admin sign-in. Returns the generated password when
        none was given."""
        self.authorise(actor, "clinic.recover", f"user:{username}")
        admins = store_users.enabled_admins_with_password(self.db)
        existing = store_users.get(self.db, check_username(username))
        if existing is None:
            generated = self._add_unchecked(username, "admin", password, None)
        else:
            password_hash, generated = self._new_password(username, password)
            self._set(username, role="admin", review_role=None, enabled=1, password_hash=password_hash,
                      password_changed_at=self.clock.now(), failed_signins=0, locked_until=None)
        now = self.clock.now()
        message = (f"EMERGENCY ACCESS: the recovery key was used to give {username} the admin role at the "
                   "workstation" + ("; the lost key file was rebuilt" if key_file_restored else "")
                   + "; check the audit trail (medjobs audit list --action clinic.recover)")
        with transaction(self.db):
            store_users.add_notice(self.db, "recovery", message, now)
        audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role, action="clinic.recover",
                     target=f"user:{username}", outcome="ok", at=now,
                     detail={"emergency": True, "new_user": existing is None, "admins_before": admins,
                             "key_file_restored": key_file_restored})
        return generated

    def _add_unchecked(self, username: str, role: str, password: str | None, review_role: str | None,
                       full_name: str | None = None) -> str | None:
        check_username(username)
        if username in RESERVED_NAMES:
            raise ConsoleError(f"{username} is reserved for a service identity")
        password_hash, generated = self._new_password(username, password)
        with transaction(self.db):
            store_users.insert(self.db, username=username, role=role, review_role=review_role,
                               password_hash=password_hash, now=self.clock.now(), full_name=full_name)
        return generated
