"""Who is at the keyboard: identities are authenticated, never declared.

A person signs in with a user name and password (``Console.sign_in``) or resumes a ``medjobs login``
session; ``--user`` alone and ``MEDJOBS_ROLE`` grant nothing. The headless runner acts as the RUNNER
service identity; creating a clinic and emergency access act as the CUSTODIAN (see console.accounts).
The CLI's session token lives in a 0600 file of the OS user's runtime (or config) folder, one per store.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from medjobs_tui.console.accounts import CUSTODIAN, RUNNER, SignIn, SignInFailed, check_username

__all__ = ["CUSTODIAN", "RUNNER", "SignIn", "SignInFailed", "check_username", "session_file", "read_session_token",
           "write_session_token", "remove_session_token", "DEMO_USERS_FILE", "demo_users_path", "write_demo_users"]

SESSION_DIR_ENV = "MEDJOBS_SESSION_DIR"
"""Overrides the folder of session files (tests)."""


def session_dir() -> Path:
    """``$MEDJOBS_SESSION_DIR``, else ``$XDG_RUNTIME_DIR/medjobs``, else ``$XDG_CONFIG_HOME`` (or
    ``~/.config``) ``/medjobs/sessions``."""
    if os.environ.get(SESSION_DIR_ENV):
        return Path(os.environ[SESSION_DIR_ENV])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "medjobs"
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "medjobs" / "sessions"


def session_file(database_path: Path) -> Path:
    """The session file of the store at ``database_path`` (one per store, so two clinics never mix)."""
    digest = hashlib.sha256(str(Path(database_path).resolve()).encode()).hexdigest()[:16]
    return session_dir() / f"session-{digest}"


def write_session_token(path: Path, token: str) -> None:
    """Write ``token`` to ``path`` with 0600 permissions (its folder 0700), replacing any older file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_session_token(path: Path) -> str | None:
    """The token in ``path``, or None when there is no file (or it is empty)."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def remove_session_token(path: Path) -> None:
    """Delete the session file if there is one."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


DEMO_USERS_FILE = "demo-users.txt"
"""Beside the demo store: one ``user role password`` line per demo user (0600). For the demo only:
``medjobs init`` clinics have no such file."""


def demo_users_path(database_path: Path) -> Path:
    """Where the demo users' file of the store at ``database_path`` is (it may not exist)."""
    return Path(database_path).parent / DEMO_USERS_FILE


def write_demo_users(database_path: Path, made: list[tuple[str, str, str | None, str]]) -> Path:
    """Write ``(user, role, review role, password)`` rows as ``user role password`` lines into the demo
    users' file (0600) beside the store; return its path."""
    path = demo_users_path(database_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(f"{name} {role} {password}\n" for name, role, _, password in made))
    os.chmod(path, 0o600)
    return path
