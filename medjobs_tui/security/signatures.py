"""Electronic signatures' binding: an HMAC-SHA256 under the clinic's audit key over every field of a signature.

Whoever holds the database but not the key file can neither alter a signature (its printed name, meaning,
time or baseline), nor copy one to another item, nor forge one: the MAC no longer fits. Source: 21 CFR
11.70 (signatures linked to their records so they cannot be excised, copied or transferred); RFC 2104.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNED_FIELDS = ("id", "item", "kind", "revokes", "user_id", "username", "printed_name", "review_role", "meaning",
                 "comment", "signed_at", "components", "session_hash", "config_sha256", "app_version",
                 "evidence_head", "audit_head_id", "audit_head_mac")
"""The fields a signature's MAC covers (every column but the MAC itself)."""

_DOMAIN = "medjobs signoff signature v1"
"""Prefix of the MAC'd text, so a signature MAC never equals an audit-entry MAC under the same key."""


def signature_mac(key: bytes, row: dict[str, Any]) -> str:
    """The hex HMAC-SHA256 of ``row``'s SIGNED_FIELDS under ``key`` (``Keys.audit``, 32 bytes).
    Raises ValueError for a short key, KeyError for a missing field."""
    if not isinstance(key, bytes) or len(key) < 32:
        raise ValueError("the signature key must be 32 bytes (Keys.audit)")
    body = json.dumps([_DOMAIN, *(row[f] for f in SIGNED_FIELDS)], separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def mac_fits(key: bytes, row: dict[str, Any]) -> bool:
    """True when ``row["mac"]`` is the MAC of its fields under ``key``."""
    return hmac.compare_digest(signature_mac(key, row), str(row.get("mac") or ""))
