"""Queries of the users table (username and role)."""

from __future__ import annotations

import sqlite_utils


def role_of(db: sqlite_utils.Database, username: str) -> str | None:
    """The role of ``username``, or None if there is no such user."""
    row = db.execute("SELECT role FROM users WHERE username = ?", [username]).fetchone()
    return row[0] if row else None
