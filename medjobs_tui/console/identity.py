"""Who is at the keyboard: the acting user and role for this session.

Until sign-in arrives (the security issue), the user is ``--user`` / ``$MEDJOBS_USER`` / the OS
login name; the role is the user's row in the users table, else ``$MEDJOBS_ROLE``, else operator.
"""

from __future__ import annotations

import getpass
import os
import re

from medjobs_tui.console.models import ROLES, Actor
from medjobs_tui.console.operations import Console, ConsoleError
from medjobs_tui.store import users

USERNAME = re.compile(r"[\w.@-]{1,64}")
"""What a user name may be: it is written to the audit log, so no spaces, line breaks or control characters."""


def session_actor(console: Console, username: str | None = None) -> Actor:
    """The Actor for this session. Raises ConsoleError for a role that is not one of ROLES."""
    name = username or os.environ.get("MEDJOBS_USER") or getpass.getuser()
    if not USERNAME.fullmatch(name):
        raise ConsoleError("a user name is 1-64 letters, digits or . _ @ - (no spaces or line breaks)")
    role = users.role_of(console.db, name) or os.environ.get("MEDJOBS_ROLE") or "operator"
    if role not in ROLES:
        raise ConsoleError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
    return Actor(name, role)
