"""A clinical rule's refusal: the words for a person, and the reason's category for the audit trail. Pure, no I/O."""

from __future__ import annotations


class Refusal(str):
    """Why a clinical rule refuses an entry, as the text shown to the person (the ``str`` itself: order number and
    reason, never patient data), with ``reason``: a short, fixed category of the rule that refused (``too early``,
    ``patient deceased``, ``unit not countable``...) that the console writes to the audit trail in place of the text
    (never the text typed, never patient data). A ``str`` so every caller and test reading the text goes on as
    before; text built from it (``f"{refusal}; nothing recorded"``) is a plain ``str``, so read ``reason`` first.
    Source: README "Roles" (every action, allowed or refused, goes to the audit trail); 45 CFR 164.312(b)."""

    reason: str

    def __new__(cls, text: str, reason: str) -> "Refusal":
        made = super().__new__(cls, text)
        made.reason = reason
        return made
