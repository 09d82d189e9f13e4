"""Error masking: what a user sees of a failure is a generic text and a reference, never patient data.

Only exceptions of class SafeError (raised by MedJobs' own code with texts written to carry no
patient data) keep their message; every other exception is shown as its class name and a
reference. Source: DOMAIN.md "Error masking"; OWASP Error Handling Cheat Sheet.
"""

from __future__ import annotations

import secrets


class SafeError(Exception):
    """An error whose message is safe to show: it names what is wrong and where, with no patient data."""


def error_reference() -> str:
    """A short random reference (``E-3F9A1C``) that ties a shown error to its protected details."""
    return "E-" + secrets.token_hex(3).upper()


def mask_exception(exc: BaseException, ref: str | None = None) -> str:
    """The text a user may see for ``exc``: SafeError messages as they are, others as class + reference."""
    ref = ref or error_reference()
    if isinstance(exc, SafeError):
        return f"{exc} (ref {ref})"
    return f"{type(exc).__name__}: details withheld (ref {ref})"
