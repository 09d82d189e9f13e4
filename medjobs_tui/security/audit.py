"""The audit trail: every user action and run outcome as an append-only, hash-chained entry.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields, so an edit,
a deletion or a reordering breaks the chain (``verify_chain``). Keyed HMAC with the key kept outside
the database replaces the bare hash in the security issue; the chain layout stays the same.
Source: 45 CFR 164.312(b) audit controls; DOMAIN.md "Audit trail". Details hold no patient data.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, TYPE_CHECKING


from medjobs_tui.clock import iso
from medjobs_tui.store import audit as store_audit
from medjobs_tui.store.db import transaction

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils


def _digest(prev_hash: str, entry: dict[str, Any]) -> str:
    body = json.dumps(
        [prev_hash, entry["at"], entry["actor"], entry["role"], entry["action"], entry["target"],
         entry["outcome"], entry["detail"]],
        separators=(",", ":"), sort_keys=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(db: sqlite_utils.Database, *, actor: str, role: str, action: str, target: str | None,
           outcome: str, at: datetime, detail: dict[str, Any] | None = None) -> int:
    """Append one entry (outcome ok | denied | error) in its own transaction; return its id."""
    with transaction(db):
        prev = store_audit.last_hash(db)
        entry = {
            "at": iso(at), "actor": actor, "role": role, "action": action, "target": target,
            "outcome": outcome, "detail": json.dumps(detail, sort_keys=True) if detail else None,
        }
        entry["prev_hash"] = prev
        entry["hash"] = _digest(prev, entry)
        return store_audit.append(db, entry)


def verify_chain(db: sqlite_utils.Database) -> tuple[bool, int | None]:
    """Check the whole chain; return (True, None) or (False, id of the first entry that does not fit)."""
    prev = store_audit.GENESIS
    for entry in store_audit.entries(db):
        if entry["prev_hash"] != prev or _digest(prev, entry) != entry["hash"]:
            return False, entry["id"]
        prev = entry["hash"]
    return True, None
