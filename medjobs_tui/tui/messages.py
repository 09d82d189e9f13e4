"""Messages that background workers post to the app; handlers on the event loop own every screen change."""

from __future__ import annotations

from textual.message import Message

from medjobs_tui.console import Actor, SignIn, Snapshot


class SnapshotReady(Message):
    """A refresh fetched ``snapshot``. A newer one waiting in the queue replaces an older one."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class SnapshotUnchanged(Message):
    """A refresh found the store as it was at the last snapshot (nothing committed since): nothing to paint."""


class RefreshFailed(Message):
    """A refresh failed; ``error`` says why (no patient data: console errors are masked)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class CommandDone(Message):
    """A user command finished: ``text`` to notify, at ``severity`` information / warning / error;
    ``after`` (if any) runs on the event loop then (a screen re-reads what it shows)."""

    def __init__(self, text: str, severity: str = "information", after=None) -> None:
        super().__init__()
        self.text = text
        self.severity = severity
        self.after = after


class DoseAsk(Message):
    """`d` on a dose shown taken found it no longer taken (corrected meanwhile): ask about Doses-tab row ``key``."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class EvidenceLoaded(Message):
    """The YAML text of run ``run_id``'s evidence record was read."""

    def __init__(self, run_id: int, text: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.text = text


class SignedIn(Message):
    """The sign-in screen's user name and password were accepted: ``signin`` (actor, notices)."""

    def __init__(self, signin: SignIn) -> None:
        super().__init__()
        self.signin = signin


class SignInRefused(Message):
    """Sign-in or unlock was refused: ``text`` says why (never the password)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Unlocked(Message):
    """The locked user typed their password: go on as ``actor`` (their role as the store now has it)."""

    def __init__(self, actor: Actor) -> None:
        super().__init__()
        self.actor = actor


class AccountChanged(Message):
    """The console refused an action because the signed-in user was disabled or given another role since
    signing in (``AccountRevoked``): the dashboard locks, showing ``text``. ``current`` is the account as the
    store has it now (its new role), or None when it was disabled or no longer exists (``gone``: the user's
    password can never unlock it, someone else may sign in on the lock screen)."""

    def __init__(self, text: str, current: Actor | None = None, gone: bool = False) -> None:
        super().__init__()
        self.text = text
        self.current = current
        self.gone = gone


class HandedOver(Message):
    """Another user signed in on a lock screen whose user's account was disabled or removed: ``signin``."""

    def __init__(self, signin: SignIn) -> None:
        super().__init__()
        self.signin = signin


class AuditReady(Message):
    """The newest audit entries were read for the Audit tab (``entries``: AuditRow, newest first)."""

    def __init__(self, entries: list) -> None:
        super().__init__()
        self.entries = entries

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, AuditReady)
