"""The errors the console raises for users (texts fit to show; no patient data)."""

from __future__ import annotations


class ConsoleError(Exception):
    """An operation cannot be done; the message says why, for the user (no patient data)."""


class PermissionDenied(ConsoleError):
    """The actor's role does not allow the operation."""


class AccountRevoked(PermissionDenied):
    """The signed-in user was disabled, or their role changed so it no longer allows the operation, since
    they signed in: the dashboard locks (the next sign-in or unlock reads the account as it is now)."""


class Refused(ConsoleError):
    """A clinical entry refused for what it asks (a dose too early, a count in a unit that does not fit, an order no
    longer active...), not for who asks: the message says why, for the user; ``reason`` is its short, fixed category
    (``too early``, ``patient deceased``) that the audit trail records in the message's place (never patient data, never
    text the user typed)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
