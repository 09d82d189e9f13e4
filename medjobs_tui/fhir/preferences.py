"""Reminder preferences carried by FHIR R4 Patient resources: what the import maps, and what it cannot.

FHIR R4 has no element for reminder preferences. What it carries, and what MedJobs does with it:

- ``Patient.telecom[].rank`` (ContactPoint.rank, a positiveInt: "ContactPoints with lower rank values are
  more preferred"; no rank means no stated order) with ``telecom[].system`` (phone | fax | email | pager |
  url | sms | other): the system of the best-ranked contact point (ties: the first; a contact point whose
  ``period.end`` has passed is not used) becomes the patient's preferred channel **when the clinic has a
  notification channel of that exact name serving patients** (e.g. a channel named ``sms``). The contact
  value itself is never read or stored. Source: hl7.org/fhir/R4/datatypes.html#ContactPoint.
- Not mapped, and why: ``Patient.communication`` (the patient's language, not a channel); lead time and
  quiet hours (no R4 element; R5's ``availableTime`` is on ExtendedContactDetail, not Patient.telecom);
  opt-out (a Consent resource, not a Patient element: MedJobs does not import Consent).
- An imported preference never replaces one set by staff (``medjobs patient prefs``); a re-import updates
  only preferences the import set itself.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable


def preferred_channel(patient: dict[str, Any], channel_names: Iterable[str], now: datetime) -> str | None:
    """The channel name ``patient``'s best-ranked telecom system names, if the clinic has that channel; else None.

    ``now`` (aware) decides whether a contact point's ``period.end`` has passed. Never reads a contact value.
    """
    names = set(channel_names)
    best: tuple[int, int, str] | None = None
    telecom = patient.get("telecom")
    if not isinstance(telecom, list):
        return None
    for i, cp in enumerate(telecom):
        if not isinstance(cp, dict):
            continue
        rank, system = cp.get("rank"), cp.get("system")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1 or not isinstance(system, str):
            continue
        end = cp.get("period", {}).get("end") if isinstance(cp.get("period"), dict) else None
        if isinstance(end, str) and _ended(end, now):
            continue
        if best is None or (rank, i) < best[:2]:
            best = (rank, i, system)
    if best is None or best[2] not in names:
        return None
    return best[2]


def _ended(end: str, now: datetime) -> bool:
    try:
        text = end if "T" in end else f"{end[:10]}T23:59:59+00:00"
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at < now
