"""The errors the console raises for users (texts fit to show; no patient data)."""

from __future__ import annotations


class ConsoleError(Exception):
    """An operation cannot be done; the message says why, for the user (no patient data)."""


class PermissionDenied(ConsoleError):
    """The actor's role does not allow the operation."""
