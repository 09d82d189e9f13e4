"""Supply and refill rules: daily usage, days supply, days remaining, supply status, refills.

Pure functions, no I/O. Units: quantities are dispensable units (tablets, mL, actuations: whatever
unit the dose quantity is in); usage is units per day; durations are days (float where fractional,
int where the rule rounds down); instants are aware datetimes (UTC).

Sources (see ../shared/DOMAIN.md "Supply and refills"):
- FHIR R4 MedicationRequest.dispenseRequest: ``quantity`` per fill, ``expectedSupplyDuration`` (days),
  ``numberOfRepeatsAllowed`` = refills in addition to the first fill (30 tablets + 3 repeats = 4 fills).
  hl7.org/fhir/R4/medicationrequest-definitions.html#MedicationRequest.dispenseRequest
- Daily usage = dose quantity x doses per day; days supply = quantity / daily usage; days remaining =
  current supply / daily usage rounded down (30 units at 2 a day = 15 days). No supply data means
  "unknown", never 0 and never critical.
- Refill due: days remaining <= refill lead time (default 7), or >= 75 % of the last fill's days supply
  has elapsed (common US payer refill-too-soon rule for non-controlled drugs).
- Critical supply: no standard exists; the threshold is the clinic's choice (config, per job override).
- Where the stated duration and the computed days supply disagree, flag it and use the smaller.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from medjobs_tui.clinical.dosing import DailySeries, DosePlan, plan_doses, step_in_force
from medjobs_tui.clinical.refusal import Refusal

SECONDS_PER_DAY = 86400.0

MAX_SUPPLY_DAYS = 3650
"""The longest supply MedJobs reckons with, in days (10 years): a quantity lasting longer (a mistyped count of
millions of tablets, an imported dispense of 1e12 units) is taken as lasting this long and shown as "more than 10
years". No supply a clinic holds lasts that long; the bound keeps every date computed from a supply within the
calendar (Python's dates end in year 9999) whatever quantity is stored."""

MAX_SUPPLY_WORDS = "more than 10 years"
"""How a days-of-supply figure at MAX_SUPPLY_DAYS (or above) is shown to people: it says only that the quantity
lasts at least that long, never that it lasts 3,650 days."""


def shown_days(days: float | None) -> int | str | None:
    """Days of supply (or days remaining) as shown to people: ``None`` (unknown) stays None; a figure at or above
    MAX_SUPPLY_DAYS (a capped figure: the quantity lasts at least that long) is MAX_SUPPLY_WORDS; any other is
    whole days rounded down (int; 29.9 -> 29, as DOMAIN.md rounds days remaining). Raises nothing (NaN is None).
    Source: MAX_SUPPLY_DAYS (the bound is MedJobs' own, so showing it as a number would state a false figure)."""
    if days is None or days != days:
        return None
    if days >= MAX_SUPPLY_DAYS:
        return MAX_SUPPLY_WORDS
    return int(math.floor(days))


STATUSES = ("critical", "low", "ok", "unknown")
"""Supply statuses, most urgent first."""


def daily_usage(dose_quantity: float | None, doses_per_day: float | None) -> float | None:
    """Units used per day = dose quantity (units) x doses per day; None if either is unknown or <= 0.

    A missing dose quantity is not assumed to be 1: an order without one has unknown usage.
    Source: DOMAIN.md "Supply and refills" (daily usage = dose quantity x doses per day).
    """
    if dose_quantity is None or doses_per_day is None or dose_quantity <= 0 or doses_per_day <= 0:
        return None
    return float(dose_quantity) * float(doses_per_day)


_MEASURES = {   # unit word (lower case) -> (kind, canonical unit) of the units MedJobs recognises
    **{w: ("mass", "mg") for w in ("mg", "milligram", "milligrams")},
    **{w: ("mass", "g") for w in ("g", "gram", "grams")},
    **{w: ("mass", "kg") for w in ("kg", "kilogram", "kilograms")},
    **{w: ("mass", "mcg") for w in ("mcg", "ug", "µg", "microgram", "micrograms")},
    **{w: ("mass", "ng") for w in ("ng", "nanogram", "nanograms")},
    **{w: ("volume", "ml") for w in ("ml", "milliliter", "milliliters", "millilitre", "millilitres")},
    **{w: ("volume", "l") for w in ("l", "liter", "liters", "litre", "litres")},
    **{w: ("potency", "u") for w in ("u", "[iu]", "iu", "unit", "units", "[u]", "international unit",
                                     "international units")},
    **{w: ("amount", "meq") for w in ("meq", "meq.", "milliequivalent", "milliequivalents")},
    **{w: ("amount", "mmol") for w in ("mmol", "millimole", "millimoles")},
    **{w: ("count", "each") for w in (
        "tab", "tabs", "tablet", "tablets", "tablet(s)", "{tbl}", "{tablet}", "cap", "caps", "capsule", "capsules",
        "capsule(s)", "{cap}", "{capsule}", "each", "{each}", "ea", "patch", "patches", "{patch}", "puff", "puffs",
        "{puff}", "actuat", "{actuat}", "actuation", "actuations", "spray", "sprays", "{spray}", "drop", "drops",
        "{drop}", "[drp]", "film", "films", "{film}", "suppository", "suppositories", "{supp}", "lozenge",
        "lozenges", "pouch", "troche", "troches", "wafer")},
    **{w: ("container", "package") for w in (   # holds an unknown number of doses: never counted in doses
        "vial", "vials", "{vial}", "ampule", "ampoule", "pen", "pens", "{pen}", "bottle", "bottles", "{bottle}",
        "inhaler", "inhalers", "{inhaler}", "canister", "package", "{package}", "pack", "box", "kit", "tube",
        "tubes", "{tube}", "jar", "carton", "syringe", "syringes", "cartridge", "cartridges")},
}


def supply_unit(quantity: object) -> str | None:
    """The unit of a FHIR Quantity as MedJobs reads it: its UCUM ``code`` or its ``unit`` text, whichever is a
    unit recognised here (the code first), else whichever is given (text); None without either."""
    if not isinstance(quantity, dict):
        return None
    given = [u for u in (quantity.get("code"), quantity.get("unit")) if isinstance(u, str) and u.strip()]
    return next((u for u in given if u.strip().lower() in _MEASURES), given[0] if given else None)


def unit_name(unit: str | None) -> str | None:
    """A recognised unit's canonical name (``mg``, ``ml``, ``u``, ``each`` for tablets, capsules and the like), or
    None: a unit as written in the input is never repeated (it could be any text)."""
    found = _MEASURES.get(unit.strip().lower()) if unit else None
    return found[1] if found else None


def unit_kind(unit: str | None) -> str | None:
    """What a dose or supply unit measures: ``mass``, ``volume``, ``count`` (tablets, capsules, puffs, ...),
    ``potency`` (units, IU) or None when unknown (no unit, or one not known here)."""
    found = _MEASURES.get(unit.strip().lower()) if unit else None
    return found[0] if found else None


def countable_in(dose_unit: str | None, supply_unit: str | None) -> bool:
    """Whether a supply quantity in ``supply_unit`` can be counted in doses of ``dose_unit`` as it stands: False
    only when both are known and differ, by what they measure (60 tablets against a dose of 10 mg: the tablet's
    strength is not known here, so 60 / (10 x 2) would be 3 days, not 30) or by scale (grams against a dose in
    mg; tablets, capsules and the like all count one each). DOMAIN.md "Supply and refills": daily usage = dose
    quantity x doses per day, which needs the dose and the supply in one unit."""
    a = _MEASURES.get(dose_unit.strip().lower()) if dose_unit else None
    b = _MEASURES.get(supply_unit.strip().lower()) if supply_unit else None
    return a is None or b is None or a == b


def counted_in_doses(dose_unit: str | None, supply_unit: str | None, medication_text: str | None) -> bool:
    """Whether a supply quantity (a dispensed quantity, a dispense request's quantity) in ``supply_unit`` (a unit
    as written, None without one) may be divided by doses of ``dose_unit`` to give days of supply, for an order
    whose product is named ``medication_text`` (an RxNorm name such as "lisinopril 10 MG Oral Tablet").

    - A dose unit MedJobs knows: ``countable_in`` (same measure and scale; a supply unit not known here is no
      claim either way and is counted, as before).
    - A dose with no unit, or one not known here (every Synthea order: ``doseQuantity {"value": 1.0}``): "a dose of
      1" is one unit of the product only when the product is counted one each (``countable_dose_form``: tablets,
      capsules, patches...), so the quantity counts doses only when it is in such units (tablets, capsules, each:
      kind ``count``) or has no unit, or is in exactly the dose's own unit text. 500 mg of a 10 MG tablet, 480 mL of
      a solution or 2 bottles are not doses: False.
    The rule of staff counts (``unitless_dose_refused``), applied to imported quantities. Returns a bool, raises
    nothing. Source: DOMAIN.md "Supply and refills" (daily usage = dose quantity x doses per day: the supply
    must be in the dose's unit); RxNorm Semantic Clinical Drug names end in the dose form."""
    if unit_kind(dose_unit) is not None:
        return countable_in(dose_unit, supply_unit)
    given = supply_unit.strip().lower() if isinstance(supply_unit, str) and supply_unit.strip() else None
    if given is not None and isinstance(dose_unit, str) and given == dose_unit.strip().lower():
        return True      # the very unit of the dose, though not one MedJobs knows
    return (given is None or unit_kind(given) == "count") and countable_dose_form(medication_text)


def not_counted_in_doses(dose_unit: str | None, supply_unit: str | None, medication_text: str | None) -> str:
    """Why ``counted_in_doses`` said False, in words for an import warning (str): the units by their canonical
    names (``unit_name``) only, never a unit or medication name as written in the data (it could be any text).
    Raises nothing. Source: as ``counted_in_doses``."""
    tail = "not counted in doses; supply uses the stated days supply instead (unknown without one)"
    if unit_kind(dose_unit) is not None:
        return f"in {unit_name(supply_unit)} while the dose is in {unit_name(dose_unit)}: {tail}"
    if not countable_dose_form(medication_text):
        return ("the order's dose has no unit MedJobs knows and its product is not one counted one each (tablets, "
                f"capsules, patches...): {tail}")
    said = unit_name(supply_unit) or "a unit MedJobs does not know"
    return (f"in {_unit_words(unit_name(supply_unit)) if unit_name(supply_unit) else said} while the order's dose "
            f"has no unit MedJobs knows (only tablets, capsules, each and the like count as its doses): {tail}")


def _unit_words(name: str | None) -> str:
    """A canonical unit (``unit_name``) in words for a person: ``each`` and ``package`` say what they stand for."""
    return {"each": "each (tablets, capsules and the like)",
            "package": "package (a bottle, vial, pen, inhaler...: an unknown number of doses)"}.get(name or "", name or "?")


_COUNTABLE_FORMS = re.compile(
    r"\b(tablets?|caplets?|capsules?|lozenges?|troches?|pastilles?|suppositor(?:y|ies)|patch(?:es)?|transdermal system"
    r"|films?|wafers?|pellets?|chewing gum|gum)\b", re.IGNORECASE)
_UNCOUNTABLE_FORMS = re.compile(
    r"\b(solution|suspension|syrup|elixir|emulsion|liquid|tincture|injection|injectable|cream|ointment|gel|lotion"
    r"|foam|paste|shampoo|spray|inhaler|inhalant|inhalation|aerosol|drops?|powder|granules|enema|douche|kit"
    r"|auto-injector|syringe|pen)\b", re.IGNORECASE)


def countable_dose_form(medication_text: str | None) -> bool:
    """Whether a product comes in units counted one each, so one dose of "1" with no unit is one of them: its name
    (the order's medication text, an RxNorm name such as "lisinopril 10 MG Oral Tablet") names a solid unit dose
    form (tablet, capsule, caplet, lozenge, troche, pastille, suppository, patch or transdermal system, film, wafer,
    pellet, chewing gum) and no form measured by volume or weight or given from a device (solution, suspension,
    syrup, injection, cream, gel, spray, inhaler, drops, powder, kit, pen...: "Tablet for Oral Suspension" is not
    counted). A name naming no form (a brand pack: "Camila 28 Day Pack") is not countable: unknown is never assumed
    countable. Source: RxNorm Semantic Clinical Drug names end in the dose form (RxNorm Technical Documentation);
    DOMAIN.md "Supply and refills" (daily usage = dose quantity x doses per day: the supply must be in the dose's
    unit)."""
    if not medication_text:
        return False
    return bool(_COUNTABLE_FORMS.search(medication_text)) and not _UNCOUNTABLE_FORMS.search(medication_text)


def unitless_dose_refused(order_id: int, medication_text: str | None, count_unit: str | None) -> Refusal | None:
    """Why a count in ``count_unit`` cannot stand for doses of order ``order_id`` whose dose has no unit (Synthea's
    ``doseQuantity {"value": 1.0}``), or None when it can: only a count of units counted one each (tablets,
    capsules, each...) of a product in a countable dose form (``countable_dose_form``), where "a dose of 1" can only
    mean one of them. A mass or volume (10 mg of a 10 mg tablet is one tablet, of a 5 mg one two), a container (a
    bottle: an unknown number of doses), or tablets of a liquid are refused (a ``Refusal``, its ``reason`` ``order
    not countable`` or ``unit not countable``). The text names the order number and what is accepted, never the
    medication. Source: DOMAIN.md "Supply and refills" (one unit for the dose and the
    supply)."""
    kind = unit_kind(count_unit)
    if kind == "count" and countable_dose_form(medication_text):
        return None
    if not countable_dose_form(medication_text):
        return Refusal(f"order {order_id} has no dose unit MedJobs knows and its product is not one counted one each "
                       "(tablets, capsules, patches...): a count of it cannot be read as doses; record the dose's unit "
                       "on the order first", "order not countable")
    return Refusal(f"order {order_id} has no dose unit MedJobs knows: a count is accepted only in units counted one "
                   f"each (tablets, capsules, each...), not in {_unit_words(unit_name(count_unit))}", "unit not countable")


MAX_COUNT_DAYS = 5 * 365
"""A staff count is refused above this many days of the order's planned use (5 years): no clinic hands out that
much, so such a count is a slip (a quantity typed in mg, a barcode in the quantity field)."""

MAX_COUNT_UNITS_UNKNOWN_USE = 10_000.0
"""The largest count kept for an order whose daily use is unknown (PRN, no schedule): 10,000 units."""

COUNT_STEP_EACH = 0.25
"""Units counted one each (tablets, capsules...) are counted in quarters at the finest (a tablet split in four)."""


COUNT_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
"""A staff count as typed: a plain decimal number of units, 0 or more (``30``, ``2.5``), matched whole. No sign, no
exponent (``1e3``: a slip, or a barcode read as a number), no ``inf``/``nan``, no thousands separator or decimal comma
(``1,000`` and ``2,5`` read differently in different places). Source: the clinic's sense check; no standard."""


def supply_count_limit(per_day: float | None) -> float:
    """The largest staff count (units) kept for an order using ``per_day`` units a day: MAX_COUNT_DAYS of it, or
    MAX_COUNT_UNITS_UNKNOWN_USE when its use is unknown (None or 0). Source: the clinic's sense check; no standard."""
    if per_day is None or not per_day > 0:
        return MAX_COUNT_UNITS_UNKNOWN_USE
    return float(per_day) * MAX_COUNT_DAYS


def supply_count_quantity_refused(order_id: int, quantity: float, count_unit: str | None,
                                  per_day: float | None) -> Refusal | None:
    """Why a staff count of ``quantity`` units in ``count_unit`` for order ``order_id`` (using ``per_day`` units a
    day, None = unknown) is not a count that can be true, or None: above ``supply_count_limit`` (the limit named),
    or for units counted one each not a multiple of COUNT_STEP_EACH (0.01 tablets). The text names the order number
    and the limit only; the ``Refusal``'s ``reason`` is ``count above limit`` or ``count not in quarters``."""
    limit = supply_count_limit(per_day)
    if quantity > limit:
        basis = (f"{MAX_COUNT_DAYS // 365} years of its planned use" if per_day is not None and per_day > 0
                 else "the limit for an order with no planned daily use")
        return Refusal(f"order {order_id}: a count above {limit:,.6g} units ({basis}) is refused as a slip",
                       "count above limit")
    if unit_kind(count_unit) == "count" and abs(quantity / COUNT_STEP_EACH - round(quantity / COUNT_STEP_EACH)) > 1e-9:
        return Refusal(f"order {order_id}: tablets, capsules and the like are counted in quarters at the finest "
                       f"(multiples of {COUNT_STEP_EACH:g})", "count not in quarters")
    return None


def supply_count_refused(order_id: int, dose_unit: str | None, count_unit: str | None,
                         medication_text: str | None = None) -> Refusal | None:
    """Why a person's count of the units a patient has on hand for order ``order_id``, given in ``count_unit``,
    cannot be kept against the order's ``dose_unit``, or None when it can.

    The rule the import applies to a dispensed quantity (``countable_in``): supply is counted in doses (days
    remaining = units on hand / (dose x doses a day)), so a count in another measure (60 counted in mg against a
    dose of one tablet: the tablet's strength is not known here) or another scale (2 g against a dose in mg) would
    be read as that many doses, and a container (a bottle, a pen) holds an unknown number of them. Stricter than
    the import in two ways: a person is there to say it again, so a count in a unit MedJobs does not know is
    refused too (the import keeps such a value against a dose unit it knows, as it cannot ask). An order whose own
    dose unit is unknown takes only units counted one each of a product counted one each (``unitless_dose_refused``,
    with ``medication_text`` the order's medication name), as the import does (``counted_in_doses``). The text
    names the order number, the unit by its canonical name (``unit_name``) and the units that fit the order
    (``count_units_words``) only: a unit as typed is never repeated (it could be any text). The ``Refusal``'s
    ``reason`` (for the audit trail): ``unit not known``, ``unit not countable`` or ``order not countable``.
    Source: DOMAIN.md "Supply and refills" (daily usage = dose quantity x doses per day: one unit for both).
    """
    if unit_kind(count_unit) is None:
        fits = count_units_words(dose_unit, medication_text)
        give = (f"count it in {fits}" if fits is not None else
                "no unit fits this order until its dose's unit is recorded on it")
        return Refusal(f"order {order_id}: a count in a unit MedJobs does not know cannot be counted in doses; {give}",
                       "unit not known")
    if unit_kind(dose_unit) is None:
        return unitless_dose_refused(order_id, medication_text, count_unit)
    if not countable_in(dose_unit, count_unit):
        return Refusal(f"order {order_id}: a count in {_unit_words(unit_name(count_unit))} cannot be counted in doses "
                       f"of {_unit_words(unit_name(dose_unit))}; count it in {count_units_words(dose_unit)}",
                       "unit not countable")
    return None


_SAID_UNITS = {"ml": "mL", "l": "L", "u": "units", "meq": "mEq", "each": "tablets, capsules, each and the like",
               "package": "packages (as the dose is given)"}


def count_units_words(dose_unit: str | None, medication_text: str | None = None) -> str | None:
    """The units a staff count of an order may be given in, in words for the nurse (str), or None when none fits:
    for a dose unit MedJobs knows, that unit alone in the canonical name a clinic writes (``mg``, ``mL``, ``units``;
    ``tablets, capsules, each and the like`` for a dose counted one each: ``countable_in`` allows no other); for a dose
    with no unit MedJobs knows, tablets, capsules, each and the like when the product is counted one each
    (``countable_dose_form``), else None. Never a unit that ``supply_count_refused`` would refuse (a tablet order is
    never told to count in mg). Raises nothing. Source: as ``supply_count_refused``."""
    name = unit_name(dose_unit)
    if name is None:
        return _SAID_UNITS["each"] if countable_dose_form(medication_text) else None
    return _SAID_UNITS.get(name, name)


_COUNT_NOUNS = (   # (stem of a unit counted one each, singular, plural), first match wins
    ("tab", "tablet", "tablets"), ("{tbl}", "tablet", "tablets"), ("cap", "capsule", "capsules"),
    ("patch", "patch", "patches"), ("puff", "puff", "puffs"), ("actuat", "actuation", "actuations"),
    ("spray", "spray", "sprays"), ("drop", "drop", "drops"), ("[drp]", "drop", "drops"), ("film", "film", "films"),
    ("supp", "suppository", "suppositories"), ("lozenge", "lozenge", "lozenges"), ("pouch", "pouch", "pouches"),
    ("troche", "troche", "troches"), ("wafer", "wafer", "wafers"))


def count_said(quantity: float, unit: str | None) -> str:
    """A staff count as a nurse says it (str): the quantity (``30``, ``2.5``) and the unit in the word of its kind
    they used, from MedJobs' own vocabulary (``_MEASURES``), never the text as typed: ``30 tablets`` (``tab``,
    ``tablets``, ``{tbl}``), ``1 capsule``, ``2 patches``, ``5 each``, ``480 mL``, ``1000 mg``, ``20 units``; a unit
    MedJobs does not know is ``units``. Raises nothing. Source: README ``medjobs supply count`` (the count is echoed in
    the nurse's words)."""
    number = f"{quantity:g}"
    word = unit.strip().lower().strip("{}") if unit else ""
    if unit_kind(unit) == "count":
        for stem, one, many in _COUNT_NOUNS:
            if word.startswith(stem.strip("{}")):
                return f"{number} {one if quantity == 1 else many}"
        return f"{number} each"
    name = unit_name(unit)
    if name is None:
        return f"{number} units"
    return f"{number} {'packages' if name == 'package' else _SAID_UNITS.get(name, name)}"


def days_supply(quantity: float | None, usage_per_day: float | None) -> float | None:
    """Days a quantity lasts (days, float) = quantity (units) / daily usage (units/day); None if unknown.

    480 mL at 20 mL a day -> 24.0. Source: DOMAIN.md (days supply = quantity / daily usage).
    A quantity lasting longer than MAX_SUPPLY_DAYS is taken as lasting MAX_SUPPLY_DAYS.
    """
    if quantity is None or usage_per_day is None or usage_per_day <= 0 or quantity < 0:
        return None
    return min(float(quantity) / float(usage_per_day), float(MAX_SUPPLY_DAYS))


def days_remaining(current_supply: float | None, usage_per_day: float | None) -> int | None:
    """Whole days of supply left = floor(current supply / daily usage); None means unknown (never 0).

    30 units at 2 a day -> 15. A negative supply counts as 0 units. Source: DOMAIN.md, seed example.
    """
    if current_supply is None or usage_per_day is None or usage_per_day <= 0:
        return None
    # a small epsilon keeps 29.999999 (float noise of elapsed-time arithmetic) from losing a whole day
    return int(math.floor(max(0.0, float(current_supply)) / float(usage_per_day) + 1e-9))


def supply_status(remaining_days: int | None, critical_days: int, low_days: int, *, covers_course: bool = False) -> str:
    """``critical`` if days remaining <= critical_days, ``low`` if <= low_days, else ``ok``; ``unknown`` for None.

    Thresholds are days (config ``clinic.thresholds``; no standard sets them, so a job may override the
    critical one). Unknown supply is never critical; a supply covering the rest of the course is ``ok``.
    Source: DOMAIN.md "Critical supply".
    """
    if remaining_days is None:
        return "unknown"
    if covers_course:
        return "ok"  # the supply lasts to the end of the course (a taper's last dose): nothing to refill
    if remaining_days <= critical_days:
        return "critical"
    if remaining_days <= low_days:
        return "low"
    return "ok"


def supply_duration_mismatch(stated_days: float | None, computed_days: float | None,
                             tolerance_days: float = 0.5) -> bool:
    """True when a stated supply duration (days) and the computed days supply differ by more than the tolerance.

    US Core example: stated 30 d, 480 mL / (10 mL x 2 a day) = 24 d -> True. Unknown on either side -> False.
    Source: DOMAIN.md "Where stated duration and computed days supply disagree, flag the mismatch".
    """
    if stated_days is None or computed_days is None:
        return False
    return abs(float(stated_days) - float(computed_days)) > tolerance_days


def effective_days_supply(stated_days: float | None, computed_days: float | None) -> float | None:
    """The days supply to rely on: the smaller of stated and computed (days); whichever is known; else None.

    Each is bounded by MAX_SUPPLY_DAYS (a stated 1e12 days is 3,650 days).
    Source: DOMAIN.md ("flag the mismatch and use the smaller").
    """
    known = [min(float(d), float(MAX_SUPPLY_DAYS)) for d in (stated_days, computed_days) if d is not None and d >= 0]
    return min(known) if known else None


def refill_due(remaining_days: int | None, lead_days: int, *, days_since_fill: float | None = None,
               fill_days_supply: float | None = None, elapsed_fraction: float = 0.75,
               covers_course: bool = False, controlled: bool = False) -> bool:
    """Whether a refill is due (bool).

    Due when days remaining <= ``lead_days`` (config ``refill_lead_days``, default 7), or when at least
    ``elapsed_fraction`` (default 0.75; 0.85-0.90 for controlled substances C-III..V) of the last fill's
    days supply has elapsed (``days_since_fill`` >= fraction x ``fill_days_supply``, both in days).
    Unknown days remaining and no fill -> False (no notice on unknown supply); a supply that lasts to the end
    of the course (``covers_course``) -> False. Source: DOMAIN.md "Refill due" (common payer rule).

    For a ``controlled`` order the lead time does not make a refill due before ``elapsed_fraction`` of the fill
    has elapsed (when the fill is known): a 30-day fill with 7 days left is 77% elapsed, and a pharmacy refuses a
    controlled substance's refill that early (the share is the payers' and pharmacies' rule; DOMAIN.md gives the
    two conditions joined by "or" without settling their overlap, MedJobs lets the share decide).
    """
    if covers_course:
        return False
    share_known = days_since_fill is not None and fill_days_supply is not None and fill_days_supply > 0
    share_met = share_known and days_since_fill >= elapsed_fraction * fill_days_supply  # type: ignore[operator]
    if remaining_days is not None and remaining_days <= lead_days and (not controlled or not share_known or share_met):
        return True
    return bool(share_met)


def refills_left(repeats_allowed: int | None, fills_used: int) -> int | None:
    """Refills left on the prescription = repeats allowed - refills used, floored at 0; None when unknown.

    The first fill is NOT a refill: refills used = fills dispensed - 1 (0 before the first fill), because FHIR
    numberOfRepeatsAllowed counts "refills in addition to the first fill" (30 tablets + 3 repeats = 4 fills).
    3 repeats: no fill yet -> 3 (and the first fill still to come), 1 fill -> 3, 2 fills -> 2, 4 fills -> 0.
    Shown the same way everywhere (supply status, refill notices, the CLI): "refills left".
    Source: FHIR R4 dispenseRequest.numberOfRepeatsAllowed; DOMAIN.md "Refills left".
    """
    if repeats_allowed is None:
        return None
    used = max(0, int(fills_used) - 1)
    return max(0, int(repeats_allowed) - used)


def renewal_needed(left: int | None, fills_used: int) -> bool:
    """A due refill needs the prescriber (renewal) when no refills are left and the first fill has been used;
    before the first fill the prescription still authorises it. Unknown repeats -> False (we cannot claim it).
    Source: DOMAIN.md ("none left and refill due = renewal needed, addressed to the prescriber")."""
    return left == 0 and fills_used >= 1


class Usage:
    """Planned use of one order over time (units are the dose's units; instants aware UTC).

    ``per_day``: units per day now (for display; None = unknown); ``units(t0, t1)``: units planned in
    [t0, t1); ``run_out(t0, units)``: the instant the units held at t0 no longer cover a dose, or None when
    they last to the end of the plan; ``end``: the plan's end (None = open).
    """

    per_day: float | None = None
    end: datetime | None = None
    zone: ZoneInfo | None = None
    """The patient's zone whose clock the plan's doses keep: days supply counts its calendar days (a 23-hour
    spring-forward day is a whole day), not elapsed seconds / 86,400. None: elapsed time."""

    def units(self, t0: datetime, t1: datetime) -> float:
        raise NotImplementedError

    def run_out(self, t0: datetime, units: float) -> datetime | None:
        raise NotImplementedError

    def days_supply(self, quantity: float | None, start: datetime) -> float | None:
        """Days ``quantity`` lasts from ``start`` under the plan: until the first dose it cannot cover, or to the
        plan's end when it covers the rest of the course. None for an unknown quantity."""
        if quantity is None or quantity < 0:
            return None
        out = self.run_out(start, float(quantity))
        if out is None:
            return _days_between(start, self.end, self.zone) if self.end is not None else None
        return _days_between(start, out, self.zone)


class RateUsage(Usage):
    """A constant rate (units/day), continuous: units(t0, t1) = rate x days; run-out = t0 + units / rate days.
    Source: DOMAIN.md (daily usage = dose quantity x doses per day; days supply = quantity / daily usage)."""

    def __init__(self, per_day: float) -> None:
        self.per_day = float(per_day)

    def units(self, t0: datetime, t1: datetime) -> float:
        return self.per_day * _days_between(t0, t1)

    def run_out(self, t0: datetime, units: float) -> datetime | None:
        days = max(0.0, units) / self.per_day
        return t0 + timedelta(days=days if days < MAX_SUPPLY_DAYS else MAX_SUPPLY_DAYS)  # NaN-safe bound


class PlannedUsage(Usage):
    """Use from the order's dose plan: ``doses(t0, t1)`` gives (instant, units) of every planned dose in
    [t0, t1) (tapers change the dose, weekly plans skip days). Run-out is the first dose the units cannot
    cover in full. Source: issue 7 item 8 (days supply from quantity and planned use, tapers and weekly doses)."""

    HORIZON_DAYS = 3 * 366
    """Supply is looked ahead at most this far (a quantity lasting longer is reported as lasting this long)."""

    def __init__(self, doses: Callable[[datetime, datetime], Sequence[tuple[datetime, float]]],
                 per_day: float | None, end: datetime | None) -> None:
        self._doses = doses
        self.per_day = per_day
        self.end = end

    def units(self, t0: datetime, t1: datetime) -> float:
        return sum(q for _, q in self._doses(t0, t1)) if t1 > t0 else 0.0

    def run_out(self, t0: datetime, units: float) -> datetime | None:
        left = float(units)
        lo = t0
        limit = t0 + timedelta(days=self.HORIZON_DAYS)
        while lo < limit and (self.end is None or lo <= self.end):
            hi = lo + timedelta(days=62)
            # the first 62 days in growing pieces (most supplies run out early); same doses, same result
            cuts = (lo + timedelta(days=8), lo + timedelta(days=24), hi) if lo == t0 else (hi,)
            piece = lo
            for cut in cuts:
                for at, need in self._doses(piece, cut):
                    if need > left + 1e-9:
                        return at
                    left -= need
                piece = cut
            lo = hi
        return None if self.end is not None and lo > self.end else limit


class DailyUsage(Usage):
    """Use of a plan of one ``daily`` step with a constant dose (most orders), in closed form: the same figures
    as ``PlannedUsage`` over the same doses, computed from dose indices (``dosing.DailySeries``) instead of
    enumerating every dose instant. ``need``: units per scheduled administration (the dose, scaled to the
    upper bound of a frequency range). ``run_out`` keeps PlannedUsage's look-ahead (62-day pieces up to
    HORIZON_DAYS): a supply outlasting it is reported as lasting to the horizon, as there.
    Source: issue 10 item 2 (closed-form run-out); the rules are PlannedUsage's (issue 7 item 8)."""

    PIECE_DAYS = 62

    def __init__(self, series: DailySeries, need: float, per_day: float | None, end: datetime | None) -> None:
        self.series = series
        self.need = float(need)
        self.per_day = per_day
        self.end = end
        self._run_out: dict[tuple[datetime, float], datetime | None] = {}

    def units(self, t0: datetime, t1: datetime) -> float:
        return self.need * self.series.count(t0, t1) if t1 > t0 else 0.0

    _LOOK = timedelta(days=PIECE_DAYS * math.ceil(PlannedUsage.HORIZON_DAYS / PIECE_DAYS))
    _HORIZON = timedelta(days=PlannedUsage.HORIZON_DAYS)

    def days_supply(self, quantity: float | None, start: datetime) -> float | None:
        """As ``Usage.days_supply``. An open-ended plan of a daily series (most orders) goes straight to the
        instant of the first dose not covered (the run-out of ``run_out`` without an end: the dose at index
        first + whole doses covered, when it falls within the look-ahead, else the horizon)."""
        series = self.series
        if self.end is not None or self.need <= 0 or series.every != 1 or quantity is None or quantity < 0:
            return super().days_supply(quantity, start)
        t = series.start if series.start is not None and series.start > start else start
        k = self._whole_doses(quantity, self._LOOK)
        at = series.instant(series.index_at_or_after(t) + k)
        if not at < start + self._LOOK:
            at = start + self._HORIZON
        return _days_between(start, at, self.zone)

    def _whole_doses(self, units: float, span: timedelta) -> int:
        """Whole doses (each a ``need``) that ``units`` cover, at most one more day's worth than fit in ``span``
        (n doses a day at most): the dose at that index lies past ``span`` all the same, and its date stays in
        the calendar however large (or infinite) ``units`` is."""
        cap = self.series.n * (span.days + 2)
        whole = (float(units) + 1e-9) / self.need
        return cap if not whole < cap else max(0, math.floor(whole))   # NaN or inf or huge -> cap

    def run_out(self, t0: datetime, units: float) -> datetime | None:
        # pure: memoised per (t0, units) (orders sharing a plan share this object and ask the same, e.g. the days
        # their prescribed quantity lasts from the plan's start)
        key = (t0, float(units))
        if key in self._run_out:
            return self._run_out[key]
        if len(self._run_out) >= 4096:
            self._run_out.clear()
        found = self._run_out[key] = self._compute_run_out(t0, units)
        return found

    def _compute_run_out(self, t0: datetime, units: float) -> datetime | None:
        limit = t0 + timedelta(days=PlannedUsage.HORIZON_DAYS)
        # PlannedUsage looks at 62-day pieces [t0 + 62j, t0 + 62(j+1)) while the piece starts before the horizon
        # and not after the plan's end: ``lo`` is where its look stops (the doses it can see are before it)
        pieces = math.ceil(PlannedUsage.HORIZON_DAYS / self.PIECE_DAYS)
        if self.end is not None:
            after_end = math.floor((self.end - t0) / timedelta(days=self.PIECE_DAYS)) + 1
            pieces = min(pieces, max(0, after_end))
        lo = t0 + timedelta(days=self.PIECE_DAYS * pieces)
        if pieces > 0 and self.need > 0:
            # whole doses the units cover (each a ``need``; doses meeting at one instant are still each covered)
            at = self.series.nth_from(t0, self._whole_doses(units, lo - t0))
            if at is not None and at < lo:
                return at
        return None if self.end is not None and lo > self.end else limit


@dataclass(frozen=True)
class Fill:
    """One dispense: when it was handed over (aware UTC), units dispensed, and stated days supply (days)."""

    at: datetime
    quantity: float | None
    days_supply: float | None = None


@dataclass(frozen=True)
class Count:
    """A staff count: units on hand at an aware UTC instant."""

    at: datetime
    quantity: float


@dataclass(frozen=True)
class SupplyAssessment:
    """What is known about one order's supply at an instant.

    ``daily_usage`` units/day now (None = unknown: PRN, no schedule, no dose); ``current_supply`` units
    (None = unknown); ``days_remaining`` whole days (None = unknown); ``basis`` 'count' | 'fill' |
    'fill_stated' (PRN: the dispense's stated days supply) | None; ``fill_days_supply`` effective days supply
    of the last fill (days); ``days_since_fill`` days (float); ``fills_used`` dispenses on record;
    ``mismatch`` True if a stated and a computed days supply disagree (order or last fill);
    ``covers_course`` True when the supply lasts to the end of the plan (no refill needed).
    """

    daily_usage: float | None
    current_supply: float | None
    days_remaining: int | None
    basis: str | None
    fill_days_supply: float | None
    days_since_fill: float | None
    fills_used: int
    mismatch: bool
    covers_course: bool = False


def _days_between(earlier: datetime, later: datetime, zone: ZoneInfo | None = None) -> float:
    """Days from ``earlier`` to ``later`` (0 if before): elapsed seconds / 86,400, or with ``zone`` the days its
    clocks show between them (30 days of daily 09:00 doses from 08:30 are 30 days across a clock change, where
    elapsed time says 29.98 and rounding down would lose a day; DOMAIN.md: 30 tablets at 1 a day = 30 days)."""
    if zone is not None:
        later, earlier = later.astimezone(zone).replace(tzinfo=None), earlier.astimezone(zone).replace(tzinfo=None)
    return max(0.0, (later - earlier).total_seconds() / SECONDS_PER_DAY)


def _whole_days(start: datetime, end: datetime) -> int:
    return days_remaining(_days_between(start, end), 1.0) or 0


def assess_supply(*, now: datetime, dose_quantity: float | None = None, doses_per_day: float | None = None,
                  fills: Sequence[Fill] = (), count: Count | None = None,
                  order_quantity: float | None = None, order_days: float | None = None,
                  usage: Usage | None = None, order_start: datetime | None = None) -> SupplyAssessment:
    """Current supply of one order at ``now`` from the latest staff count or, failing that, the last fill.

    ``usage`` is the planned use (``PlannedUsage`` from the order's dose plan); without it a constant rate of
    ``dose_quantity`` x ``doses_per_day`` is used; neither -> usage unknown.
    - With a staff count: units counted + units dispensed after it - planned units since it, floored at 0;
      days remaining = whole days until those units no longer cover a dose.
    - Else with a fill: the effective days supply of the last fill is the smaller of its stated days supply
      and the days its quantity lasts under the plan; days remaining = whole days from ``now`` to
      fill + effective days supply (0 when past); current supply = the planned units of that span.
      Units left over from earlier fills are not assumed.
    - Unknown usage (PRN): a staff count of 0 with nothing dispensed since means out of supply (0 days remaining:
      a PRN order's supply still counts, DOMAIN.md "asNeeded"); else a fill's stated days supply still gives days
      remaining (the dispensing history); otherwise (a count above 0 included) unknown. Never a guessed rate.
    - ``covers_course``: the supply lasts to the plan's end (a taper's last dose): days remaining are then the
      days to that end, and no refill is due.
    ``order_quantity``/``order_days`` (dispenseRequest quantity and expectedSupplyDuration) are only checked
    for a mismatch, against the days the quantity lasts from ``order_start`` (else ``now``). Elapsed times are
    in days (seconds / 86400). Sources: DOMAIN.md "Supply and refills"; issue 7 items 3 and 8.
    """
    ordered = sorted(fills, key=lambda f: f.at)
    added = sum(f.quantity or 0.0 for f in ordered if f.at > count.at) if count is not None else 0.0
    return assess_fill_summary(
        now=now, dose_quantity=dose_quantity, doses_per_day=doses_per_day,
        summary=FillSummary(last=ordered[-1] if ordered else None, fills_used=len(ordered), added_since_count=added),
        count=count, order_quantity=order_quantity, order_days=order_days, usage=usage, order_start=order_start)


@dataclass(frozen=True)
class FillSummary:
    """What ``assess_supply`` needs of an order's fills: the last one (by instant; of fills at the same instant the
    last given), how many there are, and the units dispensed after the staff count (fills strictly after
    ``count.at``, summed oldest first; 0.0 without a count). ``store.clinical.fill_summaries`` reads it from the
    store in SQL for every order at once."""

    last: Fill | None
    fills_used: int
    added_since_count: float = 0.0


def assess_fill_summary(*, now: datetime, summary: FillSummary, dose_quantity: float | None = None,
                        doses_per_day: float | None = None, count: Count | None = None,
                        order_quantity: float | None = None, order_days: float | None = None,
                        usage: Usage | None = None, order_start: datetime | None = None) -> SupplyAssessment:
    """``assess_supply`` from a ``FillSummary`` of the fills instead of the fills themselves (the same rules and
    result: ``assess_supply`` summarises its fills and calls this)."""
    if usage is None:
        rate = daily_usage(dose_quantity, doses_per_day)
        usage = RateUsage(rate) if rate is not None else None
    last = summary.last

    mismatch = False
    fill_days = since_fill = None
    if usage is not None:
        mismatch = supply_duration_mismatch(order_days, usage.days_supply(order_quantity, order_start or now))
    if last is not None:
        computed = usage.days_supply(last.quantity, last.at) if usage is not None else None
        mismatch = mismatch or supply_duration_mismatch(last.days_supply, computed)
        fill_days = effective_days_supply(last.days_supply, computed)
        since_fill = _days_between(last.at, now)

    supply: float | None = None
    remaining: int | None = None
    basis: str | None = None
    covers = False
    if usage is not None:
        if count is not None:
            supply = max(0.0, count.quantity + summary.added_since_count - usage.units(count.at, now))
            basis = "count"
            out = usage.run_out(now, supply)
            covers = out is None
            remaining = _whole_days(now, out if out is not None else usage.end)  # type: ignore[arg-type]
        elif last is not None and fill_days is not None:
            until = last.at + timedelta(days=fill_days)
            basis = "fill"
            supply = usage.units(now, until) if until > now else 0.0
            remaining = _whole_days(now, until)
            covers = usage.end is not None and until >= usage.end and usage.run_out(last.at, last.quantity or 0) is None
    elif count is not None and count.quantity + summary.added_since_count <= 0:
        basis, supply, remaining = "count", 0.0, 0          # none on hand, none dispensed since: out, whatever the use
    elif last is not None and last.days_supply is not None:
        basis = "fill_stated"
        remaining = _whole_days(now, last.at + timedelta(days=effective_days_supply(last.days_supply, None) or 0.0))
    return SupplyAssessment(
        daily_usage=usage.per_day if usage is not None else None, current_supply=supply,
        days_remaining=remaining, basis=basis, fill_days_supply=fill_days, days_since_fill=since_fill,
        fills_used=summary.fills_used, mismatch=mismatch, covers_course=covers,
    )


def count_by_status(statuses: Iterable[str]) -> dict[str, int]:
    """Counts of each supply status (all four keys present, zeros included)."""
    out = {s: 0 for s in STATUSES}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def plan_usage(plan: DosePlan, zone: ZoneInfo, now: datetime, *, closed_form: bool = True) -> Usage | None:
    """The planned use of an order's dose plan, or None when it is unknown: a PRN instruction in the order
    (use depends on need: supply comes from the dispensing history, never a guessed rate), no scheduled step,
    or a step without a dose quantity.

    Each planned dose uses its step's dose (a ``doseRange`` is already its upper bound). A step with a
    frequency range (``max_per_day``) counts each dose as max_per_day / doses_per_day doses: supply runs out
    at the upper bound (the conservative case). ``per_day`` is the use of the step(s) in force at ``now``
    (the first step before the plan starts, 0 after it ends). Source: issue 7 items 2, 3, 8.
    A plan of one ``daily`` step without ``count`` (a constant dose every day or every k-th day: most orders)
    gets ``DailyUsage`` (closed form, same figures); every other plan (tapers, weekly, monthly, hourly, count)
    ``PlannedUsage`` over its enumerated doses. ``closed_form=False`` always enumerates (the reference the
    closed form is tested against).
    """
    if plan.prn or not plan.steps or any(s.dose is None for s in plan.steps):
        return None
    scale = {s.index: (s.max_per_day / s.doses_per_day() if s.max_per_day else 1.0) for s in plan.steps}

    def doses(t0: datetime, t1: datetime) -> list[tuple[datetime, float]]:
        return [(d.at, float(d.dose or 0.0) * scale.get(d.step, 1.0)) for d in plan_doses(plan, zone, t0, t1)]

    in_force = step_in_force(plan, now)
    if not in_force:
        starts = [s.start for s in plan.steps if s.start is not None]
        in_force = [plan.steps[0]] if not starts or now < min(starts) else []
    per_day = sum(float(s.dose or 0.0) * (s.max_per_day or s.doses_per_day()) for s in in_force)
    if closed_form and len(plan.steps) == 1 and plan.steps[0].cadence == "daily" and plan.steps[0].count is None \
            and plan.steps[0].times:
        step = plan.steps[0]
        usage: Usage = DailyUsage(DailySeries(step, zone), float(step.dose or 0.0) * scale[step.index], per_day,
                                  plan.end)
    else:
        usage = PlannedUsage(doses, per_day, plan.end)
    usage.zone = zone
    return usage
