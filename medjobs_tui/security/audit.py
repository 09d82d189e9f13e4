"""The audit trail: every user action and run outcome as an append-only entry in an HMAC-SHA256 chain.

Each entry's ``hash`` is HMAC-SHA256, under the clinic's audit key (``Keys.audit``, kept in the key
file, never in the database), over the entry's id, the previous entry's MAC (``prev_hash``) and the
entry's own fields. So whoever holds the database but not the key cannot edit, delete, reorder or
insert an entry, nor recompute the chain after doing so (a plain SHA-256 chain could be recomputed).
Triggers in the schema refuse UPDATE and DELETE. Cutting entries off the end leaves a valid shorter
chain: the head (last id and MAC) is therefore checkpointed into every backup manifest and every
evidence record, and ``verify`` compares the chain with every checkpoint it finds (the newest one
tells a truncated tail). Source: 45 CFR 164.312(b) audit controls, 164.312(c)(1) integrity;
RFC 2104 (HMAC); DOMAIN.md "Audit trail". Details hold no patient data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import yaml

from medjobs_tui.clock import iso
from medjobs_tui.store import audit as store_audit
from medjobs_tui.store.db import transaction

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils

GENESIS = store_audit.GENESIS


def _mac(key: bytes, entry_id: int, prev: str, entry: dict[str, Any]) -> str:
    if not isinstance(key, bytes) or len(key) < 32:
        raise ValueError("the audit key must be 32 bytes (Keys.audit)")
    body = json.dumps(
        [entry_id, prev, entry["at"], entry["actor"], entry["role"], entry["action"], entry["target"],
         entry["outcome"], entry["detail"]],
        separators=(",", ":"), ensure_ascii=False,
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def record(db: sqlite_utils.Database, *, key: bytes, actor: str, role: str, action: str, target: str | None,
           outcome: str, at: datetime, detail: dict[str, Any] | None = None) -> int:
    """Append one entry (outcome ok | denied | error) MAC'd under ``key`` (``Keys.audit``), in its own
    transaction or the caller's open one; return its id."""
    with transaction(db):
        last_id, prev = store_audit.head(db)
        entry = {
            "at": iso(at), "actor": actor, "role": role, "action": action, "target": target,
            "outcome": outcome, "detail": json.dumps(detail, sort_keys=True) if detail else None,
        }
        entry_id = last_id + 1
        entry.update(id=entry_id, prev_hash=prev, hash=_mac(key, entry_id, prev, entry))
        return store_audit.append(db, entry)


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: ``ok``; ``count`` entries; the head (``head_id``, ``head_mac``); else the first
    bad entry id (``bad_id``; for a truncation the first missing id) and ``problem`` (one line)."""

    ok: bool
    count: int
    head_id: int
    head_mac: str
    bad_id: int | None = None
    problem: str | None = None
    checkpoints: int = 0

    def line(self) -> str:
        """One line for the operator."""
        if self.ok:
            return (f"audit trail OK: {self.count} entries, head {self.head_id} {self.head_mac[:16]}… "
                    f"({self.checkpoints} checkpoint(s) agree)")
        return f"audit trail BROKEN at entry {self.bad_id}: {self.problem}"


def head(db: sqlite_utils.Database) -> dict[str, Any]:
    """The checkpoint of the chain's head: ``{"id": last id (0 if empty), "mac": its MAC, "at": its time}``."""
    return store_audit.head_entry(db)


def verify(db: sqlite_utils.Database, key: bytes, checkpoints: Iterable[dict[str, Any]] = ()) -> Verdict:
    """Check the whole chain under ``key``, then every checkpoint (``{"id", "mac"}``) against it.

    Catches an edited entry (its MAC no longer fits), a deleted, inserted or reordered one (ids out of
    sequence, or its ``prev_hash`` is not the previous MAC even when its own MAC fits), a chain recomputed
    without the key (no MAC fits), and a truncated tail (a checkpoint names an id past the end, or an id
    whose MAC differs).
    """
    prev, expected_id, count = GENESIS, 1, 0
    for entry in store_audit.entries(db):
        eid = entry["id"]
        if eid != expected_id:
            what = "missing" if eid > expected_id else "out of order"
            return Verdict(False, count, expected_id - 1, prev, expected_id,
                           f"entry {expected_id} is {what} (next entry found is {eid})")
        if not hmac.compare_digest(entry["prev_hash"], prev):
            return Verdict(False, count, eid - 1, prev, eid,
                           "its link to the previous entry (prev_hash) does not match: an entry was removed, "
                           "inserted or reordered before it")
        if not hmac.compare_digest(_mac(key, eid, prev, entry), entry["hash"]):
            return Verdict(False, count, eid - 1, prev, eid,
                           "its MAC does not fit its content: it was changed, or written without the audit key")
        prev, expected_id, count = entry["hash"], eid + 1, count + 1
    all_entries = store_audit.entries(db) if checkpoints else []
    macs = {e["id"]: e["hash"] for e in all_entries}
    # a restore replaced the chain with a backup's: checkpoints written before it may name the old chain
    restored_at = max((e["at"] for e in all_entries if e["action"] == "store.restore" and e["outcome"] == "ok"
                       and e["detail"] and "backup_head" in e["detail"]), default=None)
    last_id, seen = expected_id - 1, 0
    for cp in sorted(checkpoints, key=lambda c: -int(c.get("id", 0))):
        cid, cmac = int(cp.get("id", 0)), str(cp.get("mac", ""))
        seen += 1
        if cid == 0 or hmac.compare_digest(macs.get(cid, ""), cmac):
            continue
        if restored_at is not None and str(cp.get("at") or "") <= restored_at:
            continue  # superseded by the restore (the old chain is in the store kept aside)
        if cid > last_id:
            return Verdict(False, count, last_id, prev, last_id + 1,
                           f"the chain ends at entry {last_id} but {cp.get('source', 'a checkpoint')} records "
                           f"entry {cid}: entries were cut off the end")
        if not hmac.compare_digest(macs.get(cid, ""), cmac):
            return Verdict(False, count, last_id, prev, cid,
                           f"entry {cid} differs from its checkpoint in {cp.get('source', 'a checkpoint')}")
    return Verdict(True, count, last_id, prev, checkpoints=seen)


@dataclass(frozen=True)
class CarriedOver:
    """What ``carry_over`` did: ``copied`` entries appended; ``offered`` entries there were after the head;
    ``problem`` (one line) when the rest did not chain from the head under the key, else None."""

    copied: int
    offered: int
    problem: str | None = None


def carry_over(db: sqlite_utils.Database, key: bytes, tail: list[dict[str, Any]]) -> CarriedOver:
    """Append to ``db``'s chain the entries of ``tail`` (another copy of this clinic's chain, oldest first,
    starting at ``db``'s head entry or, for an empty ``db``, at entry 1) that come after ``db``'s head,
    verbatim (same ids and MACs), as far as they chain from that head under ``key``: each id the next one,
    its ``prev_hash`` the previous MAC, its own MAC fitting its content. The first entry that does not fit
    stops the copy; it and every later one are left out and named in ``problem``. One transaction.

    Used by restore: the entries written after the backup was taken are carried over from the store kept
    aside, so the restored chain loses no tail (and every checkpoint written since still agrees with it).
    """
    with transaction(db):
        head_id, prev = store_audit.head(db)
        rest = [e for e in tail if int(e["id"]) > head_id]
        link = next((e for e in tail if int(e["id"]) == head_id), None)
        problem = None
        if head_id and (link is None or not hmac.compare_digest(str(link["hash"]), prev)):
            problem = (f"the other copy's entry {head_id} is missing or differs from this chain's head: "
                       "its later entries do not continue this chain")
            return CarriedOver(0, len(rest), problem)
        copied, expected_id = 0, head_id + 1
        for entry in rest:
            eid = int(entry["id"])
            if eid != expected_id:
                problem = f"entry {expected_id} is missing (next entry found is {eid})"
            elif not hmac.compare_digest(str(entry["prev_hash"]), prev):
                problem = f"entry {eid}'s link to the previous entry (prev_hash) does not match"
            elif not hmac.compare_digest(_mac(key, eid, prev, entry), str(entry["hash"])):
                problem = f"entry {eid}'s MAC does not fit its content (changed, or written without the audit key)"
            if problem:
                break
            store_audit.append(db, {k: entry[k] for k in ("id", "at", "actor", "role", "action", "target",
                                                         "outcome", "detail", "prev_hash", "hash")})
            prev, expected_id, copied = entry["hash"], eid + 1, copied + 1
        return CarriedOver(copied, len(rest), problem)


def verify_chain(db: sqlite_utils.Database, key: bytes) -> tuple[bool, int | None]:
    """The chain alone (no checkpoints): (True, None) or (False, id of the first entry that does not fit)."""
    v = verify(db, key)
    return (True, None) if v.ok else (False, v.bad_id)


def find_checkpoints(backups_dir: Path, evidence_dir: Path) -> list[dict[str, Any]]:
    """Every audit-head checkpoint in backup manifests (``*.manifest.json``) and evidence records
    (``jobs/**/*.yaml``), each ``{"id", "mac", "source"}``; unreadable files are skipped."""
    out: list[dict[str, Any]] = []
    for path in sorted(backups_dir.glob("*.manifest.json")) if backups_dir.is_dir() else []:
        try:
            cp = json.loads(path.read_text(encoding="utf-8")).get("audit_head")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(cp, dict) and "id" in cp and "mac" in cp:
            out.append({**cp, "source": f"backup manifest {path.name}"})
    jobs = evidence_dir / "jobs"
    for path in sorted(jobs.rglob("*.yaml")) if jobs.is_dir() else []:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            continue
        cp = doc.get("audit_head") if isinstance(doc, dict) else None
        if isinstance(cp, dict) and "id" in cp and "mac" in cp:
            out.append({**cp, "source": f"evidence record {path.relative_to(evidence_dir)}"})
    return out


def entries(db: sqlite_utils.Database, *, since: datetime | None = None, actor: str | None = None,
            action: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Audit entries, newest first, at or after ``since`` (aware), by ``actor``, of ``action`` (exact, or a
    prefix ending in ``.`` such as ``job.``); at most ``limit``."""
    return store_audit.search(db, since=since, actor=actor, action=action, limit=limit)
