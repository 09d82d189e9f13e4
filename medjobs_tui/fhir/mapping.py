"""FHIR R4 resource -> store row mapping rules (Patient, MedicationRequest, MedicationDispense); pure, no I/O.

Each ``map_*`` function takes one parsed resource (a dict) and returns a row dict for
``medjobs_tui.store.records``; a value it cannot use raises ``FieldError`` naming the JSON path
(never the value: values may be patient data). Rules and their FHIR sources are in each docstring;
FHIR R4 references: hl7.org/fhir/R4/patient.html, medicationrequest.html, medicationdispense.html,
datatypes.html (Timing, Duration, dateTime).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from medjobs_tui.clinical.dosing import PERIOD_UNIT_DAYS, local_to_utc
from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text
from medjobs_tui.clinical.supply import counted_in_doses, not_counted_in_doses, supply_unit
from medjobs_tui.clinical.timing import DosageError, DosageReading, place_dosages, read_dosages
from medjobs_tui.clock import iso
from medjobs_tui.config import Settings

RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
"""Coding.system of RxNorm (FHIR R4 terminologies-systems)."""

# Duration / daysSupply units -> days: UCUM codes (FHIR UnitsOfTime) and the spelled-out forms seen in
# Quantity.unit ("days", "weeks").
_UNIT_WORDS = {
    "second": "s", "seconds": "s", "sec": "s", "minute": "min", "minutes": "min", "hour": "h", "hours": "h",
    "hr": "h", "day": "d", "days": "d", "week": "wk", "weeks": "wk", "month": "mo", "months": "mo",
    "year": "a", "years": "a", "yr": "a",
}
_FHIR_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_YEAR = re.compile(r"^(\d{4})")


class FieldError(ValueError):
    """A resource field is missing or unusable. ``path`` is the JSON path inside the resource
    (``dosageInstruction[0].timing.repeat.timeOfDay[1]``); ``problem`` says what is wrong, without the value."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass
class Mapped:
    """A row for the store plus warnings: things kept with a caveat, as (JSON path, problem) pairs."""

    row: dict[str, Any]
    warnings: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class MedicationInfo:
    """What an order is for: RxNorm code (or None), display text, normalised ingredient names."""

    rxnorm: str | None
    text: str
    ingredients: list[str]


# ----------------------------------------------------------------------------------------------
# Primitive types


def _number(value: Any, path: str, *, required: bool = False) -> float | None:
    if value is None:
        if required:
            raise FieldError(path, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(path, "not a number")
    return value


def parse_instant(text: Any, zone: ZoneInfo, path: str) -> str | None:
    """A FHIR ``date``/``dateTime``/``instant`` -> UTC ISO text (``clock.iso``); None stays None.

    See ``parse_fhir_time`` for the rules. Raises FieldError at ``path``.
    """
    got = parse_fhir_time(text, zone, path)
    return _iso(got[0]) if got else None


@functools.lru_cache(maxsize=4096)
def _iso(at: datetime) -> str:
    """``clock.iso`` remembered: the instants of one export repeat (fills handed over together, orders written
    at one visit)."""
    return iso(at)  # type: ignore[return-value]


def parse_fhir_time(text: Any, zone: ZoneInfo, path: str) -> tuple[datetime, bool] | None:
    """A FHIR ``date``/``dateTime``/``instant`` -> UTC ISO text (``clock.iso``); None stays None.

    A value with an offset (``1989-05-27T23:58:16-04:00``, ``...Z``) is converted to UTC. A date
    without a time (``2008-04-05``; partial ``2008-04`` / ``2008`` = the first day) means local midnight
    in ``zone``, turned into UTC with ``dosing.local_to_utc``
    (a midnight lost to daylight saving becomes the first valid instant). A time without an offset,
    which FHIR forbids, is also read as ``zone`` local time. ``zone``: the zone whose day a date means, the
    patient's for a date of their care (a dosage's bounds, an order's authoredOn: ``map_request``), the clinic's
    for a date of the clinic's own (a dispense handed over). Raises FieldError at ``path`` otherwise.
    Returns (aware UTC instant, True when the value was a date without a time), or None for None.
    Source: FHIR R4 datatypes.html#dateTime.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise FieldError(path, "not a FHIR date/dateTime string")
    got = _fhir_time(text, zone)
    if got is None:
        raise FieldError(path, "not a valid FHIR date/dateTime")
    return got


@functools.lru_cache(maxsize=4096)
def _fhir_time(text: str, zone: ZoneInfo) -> tuple[datetime, bool] | None:
    """``parse_fhir_time`` of a string, or None when it is not a FHIR date/dateTime; remembered (the
    instants of one export repeat, and a datetime is immutable)."""
    m = _FHIR_DATE.match(text)
    try:
        if m:
            day = date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
            return local_to_utc(day, time(0, 0), zone), True
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = local_to_utc(dt.date(), dt.time(), zone)
    return dt.astimezone(timezone.utc), False


def duration_days(quantity: Any, path: str) -> tuple[float | None, tuple[str, str] | None]:
    """A FHIR Duration/Quantity of time -> (days, problem as (JSON path, what is wrong)).

    The unit comes from ``code`` (UCUM: s, min, h, d, wk, mo = 30 d, a = 365 d, as
    ``dosing.PERIOD_UNIT_DAYS``) or else ``unit`` ("days", "weeks", ...). No quantity or no value:
    (None, None). A value with no unit or a unit that is not a time: (None, problem), so the caller
    keeps the record with the duration unknown (unknown supply is never treated as zero). Raises FieldError if the value is not a number. Source: FHIR R4 Duration.
    """
    if quantity is None:
        return None, None
    if not isinstance(quantity, dict):
        raise FieldError(path, "not a Quantity object")
    value = _number(quantity.get("value"), f"{path}.value")
    if value is None:
        return None, None
    for key in ("code", "unit"):
        unit = quantity.get(key)
        if isinstance(unit, str):
            ucum = unit if unit in PERIOD_UNIT_DAYS else _UNIT_WORDS.get(unit.strip().lower())
            if ucum:
                return value * PERIOD_UNIT_DAYS[ucum], None
    if quantity.get("code") is None and quantity.get("unit") is None:
        return None, (path, "a value without a unit of time; duration not stored")
    return None, (path, "unit is not a unit of time; duration not stored")


def _reference(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(obj.get("reference"), str):
        return obj["reference"]
    return None


# ----------------------------------------------------------------------------------------------
# Patient


def map_patient(res: dict[str, Any], zone: ZoneInfo | None = None) -> Mapped:
    """Patient -> ``{fhir_id, birth_year, deceased, deceased_at}``; nothing else of the resource is kept.

    ``birth_year`` = the year of ``birthDate`` (None if absent); ``deceased`` = 1 if
    ``deceasedBoolean`` is true or ``deceasedDateTime`` is present, else 0; ``deceased_at`` = ``deceasedDateTime``
    as UTC ISO text (a date without a time: its first instant in ``zone``, the clinic's, default UTC: no dose is
    confirmed after the earliest instant the death may have been), None when deceased with no instant
    (``deceasedBoolean``) or alive; an unreadable deceasedDateTime still makes the patient deceased, with no
    instant and a warning (never a living patient by a typo). Dose confirmations after it are refused
    (``clinical.confirmation.order_confirmation_refused``). Names, identifiers,
    telecom, address and the full birth date are deliberately dropped (HIPAA identifiers; see
    DOMAIN.md "Security and compliance models"). Raises FieldError for an unreadable birthDate.
    """
    birth = res.get("birthDate")
    birth_year = None
    if birth is not None:
        m = _YEAR.match(birth) if isinstance(birth, str) else None
        if not m:
            raise FieldError("birthDate", "not a FHIR date")
        birth_year = int(m.group(1))
    deceased = res.get("deceasedBoolean") is True or res.get("deceasedDateTime") is not None
    out = Mapped({"fhir_id": res["id"], "birth_year": birth_year, "deceased": int(deceased), "deceased_at": None})
    try:
        out.row["deceased_at"] = parse_instant(res.get("deceasedDateTime"), zone or timezone.utc, "deceasedDateTime")
    except FieldError as exc:
        out.warnings.append((exc.path, f"{exc.problem}: deceased, at an unknown instant"))
    return out


# ----------------------------------------------------------------------------------------------
# Medication


def _codings(cc: Any) -> list[dict[str, Any]]:
    if not isinstance(cc, dict) or not isinstance(cc.get("coding"), list):
        return []
    return [c for c in cc["coding"] if isinstance(c, dict)]


def medication_from_concept(cc: Any, ingredient_texts: list[str] | None = None) -> MedicationInfo | None:
    """A medication CodeableConcept -> MedicationInfo, or None when it names nothing.

    rxnorm = ``code`` of the first coding whose system is RxNorm; text = ``text``, else the RxNorm
    display, else any coding's display. Ingredients: from ``ingredient_texts`` (Medication.ingredient
    itemCodeableConcept names) when given, else from the RxNorm code and display (or the text) by
    ``clinical.ingredients.ingredients_from_rxnorm_text`` (brand packs through its ingredient table).
    """
    codings = _codings(cc)
    rx = next((c for c in codings if c.get("system") == RXNORM_SYSTEM), None)
    rx_display = rx.get("display") if rx and isinstance(rx.get("display"), str) else None
    text = cc.get("text") if isinstance(cc, dict) and isinstance(cc.get("text"), str) else None
    text = text or rx_display or next((c["display"] for c in codings if isinstance(c.get("display"), str)), None)
    if not text:
        return None
    if ingredient_texts:
        ingredients: list[str] = []
        for item in ingredient_texts:
            for name in ingredients_from_rxnorm_text(item):
                if name not in ingredients:
                    ingredients.append(name)
    code = rx.get("code") if rx and isinstance(rx.get("code"), str) else None
    if not ingredient_texts:
        ingredients = ingredients_from_rxnorm_text(rx_display or text, code)
    return MedicationInfo(code, text, ingredients)


def medication_from_resource(med: dict[str, Any]) -> MedicationInfo | None:
    """A Medication resource (contained or standalone) -> MedicationInfo, or None when it names nothing.

    ``Medication.code`` gives rxnorm and text; ``Medication.ingredient[].itemCodeableConcept`` (text,
    else RxNorm display, else any display) gives the ingredients when present. Source: FHIR R4 medication.html.
    """
    texts: list[str] = []
    for ing in med.get("ingredient") or []:
        item = ing.get("itemCodeableConcept") if isinstance(ing, dict) else None
        info = medication_from_concept(item) if item else None
        if info:
            texts.append(info.text)
    return medication_from_concept(med.get("code"), texts or None)


# ----------------------------------------------------------------------------------------------
# MedicationRequest


MEMO_LIMIT = 4096
"""Entries a memo of ``map_dosage`` or ``memo_key`` users holds at most (emptied when full): the bound on its memory."""


def memo_key(value: Any) -> bytes | None:
    """A memo key for a parsed JSON value (its compact JSON bytes; equal keys = equal values, ``1`` and ``1.0``
    apart), or None when it cannot be one (a value orjson cannot write: the caller then does not memoize)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return None


@dataclass
class DosageMemo:
    """What ``map_dosage`` remembers of one ``dosageInstruction`` value: its reading and, once an order with a
    start used it, the row placed at ``_PROBE`` (for readings whose start changes only the steps' start)."""

    reading: DosageReading
    probe_row: dict[str, Any] | None = None
    probe_warnings: list[tuple[str, str]] = field(default_factory=list)


_PROBE = datetime(1800, 1, 1, 0, 0, 1, tzinfo=timezone.utc)
"""A start no order has (the value gate refuses an authoredOn before 1900): placed there once, a plan whose
start is its only varying part is then the probe's JSON with the probe's instant replaced."""
_PROBE_TEXT = _PROBE.isoformat()


def _row_of(got: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    row = dict(got.summary)
    for key in ("bounds_start", "bounds_end"):
        row[key] = iso(row[key]) if row.get(key) is not None else None
    row["dose_plan"] = got.plan.to_json() if got.plan.steps else None
    row["prn"] = got.prn
    row["understood"] = got.understood
    return row, list(got.warnings)


def map_dosage(dosages: Any, settings: Settings, authored_on: datetime | None = None,
               memo: dict[bytes, DosageMemo] | None = None, zone: ZoneInfo | None = None) -> Mapped:
    """``dosageInstruction`` -> the order's ``dose_plan`` (JSON) and summary columns, plus ``prn`` and
    ``understood`` (bools, not columns).

    The rules are ``clinical.timing.interpret_dosages`` (FHIR R4 Dosage/Timing; every instruction, tapers,
    PRN in every form, bounds, count, when + offset through ``clinic.event_times``); this function only
    feeds it the clinic's tables, the patient's ``zone`` and ``authoredOn`` (the start of instructions that give
    none). ``zone``: the patient's IANA zone (None: the clinic's, ``settings.zone``); a date without a time
    (``boundsPeriod.start`` / ``end`` "2026-03-01") is that calendar day in it, and wall-clock durations and counts
    run on its clock, as the doses do (``jobs.medication_reminder.order_zone``). FHIR R4 datatypes.html#date: a
    date has no zone; the patient's local day is the clinically meaningful one.
    Summary columns describe the first scheduled step (``timing_code``, ``frequency``, ``period``,
    ``period_unit``, ``times_of_day``, ``doses_per_day``, dose, ``bounds_start``/``bounds_end`` as UTC text).
    An unusable value raises FieldError with its JSON path; a Timing not understood comes back as
    ``understood=False`` with a warning naming the element (the order becomes ``no_schedule``).

    ``memo``: a dict the caller keeps for one clinic's ``settings`` (an import): orders with the same
    instructions (most sig texts repeat) share one ``timing.read_dosages`` reading, and when the order's
    start changes nothing but the steps' start (``DosageReading.start_only``) one placed row whose start is
    put in as text. The memo is keyed by the instructions AND the zone (a reading depends on both). The result is
    the same as without a memo. At most ``MEMO_LIMIT`` entries.
    """
    zone = zone or settings.zone

    def parse(value: Any, path: str) -> tuple[datetime, bool] | None:
        return parse_fhir_time(value, zone, path)

    key = memo_key(dosages) if memo is not None else None
    if key is not None:
        key = zone.key.encode() + b"\0" + key   # one reading per zone: its date-only bounds are that zone's days
    entry = memo.get(key) if key is not None else None   # type: ignore[union-attr]
    try:
        if entry is None:
            entry = DosageMemo(read_dosages(dosages, zone=zone, admin_times=settings.clinic.administration_times,
                                            event_times=settings.clinic.event_times, parse_instant=parse))
            if key is not None:
                if len(memo) >= MEMO_LIMIT:   # type: ignore[arg-type]
                    memo.clear()              # type: ignore[union-attr]
                memo[key] = entry             # type: ignore[index]
        if key is None or authored_on is None or not entry.reading.start_only:
            row, warnings = _row_of(place_dosages(entry.reading, authored_on, zone))
            return Mapped(row, warnings)
        if entry.probe_row is None:
            entry.probe_row, entry.probe_warnings = _row_of(place_dosages(entry.reading, _PROBE, zone))
    except DosageError as exc:
        raise FieldError(exc.path, exc.problem) from None
    row = dict(entry.probe_row, times_of_day=list(entry.probe_row["times_of_day"]), bounds_start=_iso(authored_on))
    if row["dose_plan"] is not None:
        row["dose_plan"] = row["dose_plan"].replace(_PROBE_TEXT, authored_on.astimezone(timezone.utc).isoformat())
    return Mapped(row, list(entry.probe_warnings))


ORDER_INTENTS = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order"})
"""MedicationRequest.intent values that authorise giving the medication (FHIR R4 request-intent: an order and its
kinds). ``proposal``, ``plan``, ``directive`` and ``option`` do not: such a request is never acted on."""


def not_to_give(res: dict[str, Any]) -> tuple[str, str] | None:
    """Why MedicationRequest ``res`` is no order to give its medication, as an import warning ``(JSON path,
    problem)``, or None when it is one: ``doNotPerform`` true (a modifier element: the prescriber asks that it NOT
    be given) or an ``intent`` that is no order (``ORDER_INTENTS``; a request without an intent, which FHIR
    requires, is taken as an order). The problem names the intent only when it is one of FHIR's codes."""
    if res.get("doNotPerform") is True:
        return "doNotPerform", "an order NOT to give this medication: never reminded, refilled or checked"
    intent = res.get("intent")
    if isinstance(intent, str) and intent and intent not in ORDER_INTENTS:
        named = intent if intent in ("proposal", "plan", "directive", "option") else "not one of FHIR's codes"
        return "intent", f"{named}: not an order to give it; never reminded, refilled or checked"
    return None


def schedule_status(status: str, deceased: bool, prn: bool, scheduled: bool, to_give: bool = True) -> str:
    """Whether and how an order is reminded, first rule that applies wins:

    ``deceased`` (the patient is deceased: never reminded, whatever the order status; Synthea keeps
    active orders of deceased patients) > ``inactive`` (MedicationRequest.status != active, or the request
    is no order to give the medication: ``to_give`` False, see ``not_to_give``; ``store.clinical.active_orders``
    leaves such orders out of every job) > ``prn`` (every instruction as-needed) > ``scheduled`` (a dose plan
    was understood) > ``no_schedule`` (kept; staff set times).
    """
    if deceased:
        return "deceased"
    if status != "active" or not to_give:
        return "inactive"
    if prn:
        return "prn"
    if scheduled:
        return "scheduled"
    return "no_schedule"


@functools.lru_cache(maxsize=1024)
def _json_list(items: tuple[Any, ...]) -> str:
    """``json.dumps`` of a short list (ingredient names, clock times): a few values repeat in every order."""
    return json.dumps(list(items))


def map_request(res: dict[str, Any], medication: MedicationInfo, patient_id: int, deceased: bool,
                settings: Settings, memo: dict[bytes, DosageMemo] | None = None,
                zone: ZoneInfo | None = None) -> Mapped:
    """MedicationRequest -> a ``medication_requests`` row (see ``records.REQUEST_FIELDS``).

    status = ``status`` (required); medication from the caller (medication[x] resolved);
    dosage columns from ``map_dosage``; ``schedule_status`` from ``schedule_status``;
    ``dispense_quantity`` = ``dispenseRequest.quantity.value`` (units per fill);
    ``expected_supply_days`` = ``dispenseRequest.expectedSupplyDuration`` in days (``duration_days``);
    ``repeats_allowed`` = ``dispenseRequest.numberOfRepeatsAllowed`` (refills after the first fill);
    ``prescriber_ref`` = ``requester.reference`` (never its display); ``authored_on`` = ``authoredOn``
    as UTC ISO; ``not_to_give`` = 1 when the request is no order to give (``not_to_give``), else 0. ``memo``: see ``map_dosage``. ``zone``: the patient's IANA zone (None: the clinic's); a date
    without a time in ``authoredOn`` or a dosage's bounds is that calendar day in it (see ``map_dosage``).
    Raises FieldError with the JSON path for a missing status or unusable values.
    """
    status = res.get("status")
    if not isinstance(status, str) or not status:
        raise FieldError("status", "missing")
    zone = zone or settings.zone
    authored = parse_fhir_time(res.get("authoredOn"), zone, "authoredOn")
    dosage = map_dosage(res.get("dosageInstruction"), settings, authored[0] if authored else None, memo, zone)
    out = Mapped({}, list(dosage.warnings))
    withheld = not_to_give(res)
    if withheld:
        out.warnings.append(withheld)
    d = dosage.row
    prn = d.pop("prn")
    d.pop("understood")

    dr = res.get("dispenseRequest") or {}
    if not isinstance(dr, dict):
        raise FieldError("dispenseRequest", "not an object")
    qty = dr.get("quantity")
    dispense_quantity = _number(qty.get("value"), "dispenseRequest.quantity.value") if isinstance(qty, dict) else None
    if dispense_quantity is not None and not counted_in_doses(d.get("dose_unit"), supply_unit(qty), medication.text):
        out.warnings.append(("dispenseRequest.quantity",
                             not_counted_in_doses(d.get("dose_unit"), supply_unit(qty), medication.text)))
        dispense_quantity = None
    supply_days, problem = duration_days(dr.get("expectedSupplyDuration"), "dispenseRequest.expectedSupplyDuration")
    if problem:
        out.warnings.append(problem)
    repeats = dr.get("numberOfRepeatsAllowed")
    if repeats is not None and (isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0):
        raise FieldError("dispenseRequest.numberOfRepeatsAllowed", "not a whole number >= 0")

    out.row = {
        "fhir_id": res["id"],
        "patient_id": patient_id,
        "status": status,
        "rxnorm": medication.rxnorm,
        "medication_text": medication.text,
        "ingredients": _json_list(tuple(medication.ingredients)),
        "schedule_status": schedule_status(status, deceased, prn, d["dose_plan"] is not None, withheld is None),
        **d,
        "times_of_day": _json_list(tuple(d["times_of_day"])),
        "authored_on": _iso(authored[0]) if authored else None,
        "dispense_quantity": dispense_quantity,
        "expected_supply_days": supply_days,
        "repeats_allowed": repeats,
        "prescriber_ref": _reference(res.get("requester")),
        "not_to_give": int(withheld is not None),
    }
    return out


# ----------------------------------------------------------------------------------------------
# MedicationDispense

DISPENSE_IMPORTED_STATUSES = frozenset({"completed"})
"""MedicationDispense.status values that mean the patient has the medication. Others (in-progress,
cancelled, entered-in-error, declined, ...) are not supply; an earlier import of them is removed."""


def map_dispense(res: dict[str, Any], request_id: int, patient_id: int, zone: ZoneInfo,
                 dose_unit: str | None = None, medication_text: str | None = None) -> Mapped:
    """MedicationDispense -> a ``dispenses`` row (see ``records.DISPENSE_FIELDS``).

    ``quantity`` = ``quantity.value`` (units handed over; None, with a warning, when it cannot be counted in doses
    of the order's ``dose_unit`` for its product ``medication_text``: ``clinical.supply.counted_in_doses``: for an
    order with no dose unit, only a quantity in tablets, capsules, each... or without a unit, of a product counted
    one each); ``days_supply`` = ``daysSupply`` in days
    (``duration_days``); ``handed_over_at`` = ``whenHandedOver`` as UTC ISO; request and patient row
    ids from the caller (``authorizingPrescription[0]``, ``subject``). Raises FieldError for unusable values.
    """
    out = Mapped({})
    qty = res.get("quantity")
    quantity = _number(qty.get("value"), "quantity.value") if isinstance(qty, dict) else None
    if quantity is not None and not counted_in_doses(dose_unit, supply_unit(qty), medication_text):
        out.warnings.append(("quantity", not_counted_in_doses(dose_unit, supply_unit(qty), medication_text)))
        quantity = None
    days, problem = duration_days(res.get("daysSupply"), "daysSupply")
    if problem:
        out.warnings.append(problem)
    out.row = {
        "fhir_id": res["id"],
        "medication_request_id": request_id,
        "patient_id": patient_id,
        "quantity": quantity,
        "days_supply": days,
        "handed_over_at": parse_instant(res.get("whenHandedOver"), zone, "whenHandedOver"),
    }
    return out


def now_iso(now: datetime) -> str:
    """``now`` (aware) as UTC ISO text; raises ValueError for a naive datetime."""
    if now.tzinfo is None:
        raise ValueError("import_paths needs an aware 'now' (UTC)")
    return iso(now.astimezone(timezone.utc))  # type: ignore[return-value]
