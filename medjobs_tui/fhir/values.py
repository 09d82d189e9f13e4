"""Hostile-value gate of the FHIR import: what a record must satisfy before any of it reaches SQLite.

Pure functions over parsed JSON (no I/O, no store). The importer calls them on every resource of an
imported type before mapping, and on every mapped row before writing it; any problem skips that record
alone, reported with file, line and JSON path. Problems never quote the value (it may be patient data).

Rules, and where each bound comes from (FHIR R4 datatypes.html and the resource pages, plus clinical
sanity bounds written down here because FHIR sets none):

- JSON nesting deeper than ``MAX_JSON_DEPTH`` (64) levels is not read at all (``nesting_exceeds``).
  A FHIR R4 resource with contained resources and nested extensions stays well under 30 levels;
  Python's own parser fails with RecursionError near 1,000 levels, and 100,000 was seen in the wild.
- Every number anywhere in an imported record must be finite (JSON has no NaN or Infinity; Python's
  parser accepts them, and 1e999 reads as infinity) and, when whole, fit SQLite's signed 64-bit
  INTEGER (larger ones raise OverflowError inside SQLite's driver); every text must be valid Unicode
  (a lone surrogate such as ``"\\ud800"`` parses but cannot be stored). Source: RFC 8259 sections 6
  and 8.2; sqlite.org/datatype3.html.
- Quantities a dose, a fill or a supply is computed from must be > 0 (FHIR allows a negative or zero
  decimal, a pharmacy never dispenses one): doseQuantity, doseRange.low/high, rateQuantity,
  maxDosePerAdministration, dispenseRequest.quantity / expectedSupplyDuration / initialFill,
  MedicationDispense.quantity / daysSupply, Timing duration and boundsDuration; and at most
  ``MAX_QUANTITY`` (100,000: a dose of 1e30 tablets, or a fill of a million units, is no prescription;
  the largest real fills, litres of solution in mL, stay far below).
- Text holds no control characters but tab, newline and carriage return (``security.masking``):
  an ESC in a medication name would clear an operator's screen (CWE-150).
- Timing.repeat: ``frequency``/``frequencyMax`` whole numbers 1..``MAX_FREQUENCY`` (FHIR positiveInt;
  100 administrations in one period is past any dosing instruction a clinic reminds); ``period``/
  ``periodMax`` > 0 and <= ``MAX_PERIOD``; ``count``/``countMax`` whole 1..``MAX_COUNT``; ``offset``
  whole 0..1440 minutes (FHIR unsignedInt, minutes from the event: one day at most).
- ``numberOfRepeatsAllowed`` whole 0..``MAX_REPEATS`` (FHIR unsignedInt; US refills end within a year).
- Dates (birthDate, deceasedDateTime, authoredOn, boundsPeriod, validityPeriod, whenHandedOver,
  whenPrepared, Timing.event) must lie in years ``YEAR_MIN``..``YEAR_MAX`` (1900-2200, the issue's
  bound): an authoredOn in 9999 overflows datetime arithmetic at the UTC conversion.
- A mapped row (``check_row``) holds no non-finite REAL, no INTEGER beyond 64 bits, and no derived
  rate of more than ``MAX_DOSES_PER_DAY`` doses a day (one a minute): a guard on values computed from
  the record, not only those read from it.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator

import orjson

from medjobs_tui.security.masking import has_control_characters

MAX_JSON_DEPTH = 64
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
YEAR_MIN, YEAR_MAX = 1900, 2200
MAX_FREQUENCY = 100
MAX_PERIOD = 10_000
MAX_COUNT = 10_000
MAX_OFFSET_MINUTES = 1440
MAX_REPEATS = 100
MAX_QUANTITY = 100_000
MAX_DOSES_PER_DAY = 1440.0

Problem = tuple[str, str]
"""(JSON path inside the resource, what is wrong): never the value itself."""

_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_RISKY_BYTES = re.compile(rb"\\[ubf]|\x7f|\xc2[\x80-\x9f]")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19
_YEAR = re.compile(r"^(\d{4,})")


def nesting_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when JSON ``text`` nests arrays/objects deeper than ``limit`` levels (strings are skipped).

    Linear scan, no recursion, so it is safe on any input; run it before ``json.loads``.
    """
    if text.count("{") + text.count("[") <= limit:
        return False  # every opening bracket counted, even in strings: an upper bound of the depth
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c == "[" or c == "{":
            depth += 1
            if depth > limit:
                return True
        elif c == "]" or c == "}":
            depth -= 1
    return False


def plain_json(raw: bytes) -> bool:
    """True when ``raw`` (the UTF-8 bytes of one JSON document) holds nothing that could become an unstorable
    value (``number_problem``) once a strict parser such as orjson has read it, so ``unstorable_numbers`` of what
    that parser returns is ``[]`` without walking it. A False only means "parse with ``json`` and walk".

    Why it is enough: orjson refuses NaN, Infinity, numbers that overflow a double, lone surrogates (``\\ud800``),
    bytes that are not UTF-8 and raw control characters inside strings. What it lets through and
    ``number_problem`` refuses is (1) a control character in a string, which JSON can only carry as the escapes
    ``\\b``, ``\\f`` or ``\\uXXXX`` (``\\t``, ``\\n``, ``\\r`` are allowed text) or as a raw DEL (0x7f) or C1
    character (U+0080-U+009F, UTF-8 ``C2 80``-``C2 9F``); (2) a whole number beyond 64 bits, which has at least
    19 digits (orjson even reads one beyond 2**64 as a float, losing that it was whole). This looks for those
    byte patterns, anywhere (a false alarm in a string costs only the careful walk). Cost: a few scans of the
    bytes in C (a regular expression over every line would cost more than parsing it)."""
    if _NINETEEN_DIGITS in raw.translate(_DIGITS_TO_ZERO):
        return False
    if b"\\" in raw or b"\x7f" in raw or b"\xc2" in raw:
        return _RISKY_BYTES.search(raw) is None
    return True


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON path, scalar) for every scalar under ``node``, depth-first, iteratively."""
    stack: list[tuple[str, Any]] = [(path, node)]
    while stack:
        p, n = stack.pop()
        if isinstance(n, dict):
            for k, v in reversed(list(n.items())):
                stack.append((f"{p}.{k}" if p else str(k), v))
        elif isinstance(n, list):
            for i in range(len(n) - 1, -1, -1):
                stack.append((f"{p}[{i}]", n[i]))
        else:
            yield p, n


def number_problem(value: Any) -> str | None:
    """What makes ``value`` unstorable (non-finite float, whole number beyond 64 bits, text with a lone
    UTF-16 surrogate, which JSON's \\u escapes allow and SQLite's UTF-8 cannot hold), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text that is not valid Unicode (a lone surrogate escape)"
        if has_control_characters(value):
            return "text with control characters (terminal escape codes are no clinical text)"
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number (NaN or Infinity is not JSON)"
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return "a whole number beyond 64 bits"
    return None


def _maybe_unstorable(node: Any) -> bool:
    """False when no scalar under ``node`` can have a ``number_problem``: one pass without paths, every
    string checked at once (joined). True means "look closer" (``unstorable_numbers`` then names them)."""
    strings: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        t = type(n)
        if t is dict:
            stack.extend(n.values())
        elif t is list:
            stack.extend(n)
        elif t is str:
            strings.append(n)
        elif t is int:
            if not INT64_MIN <= n <= INT64_MAX:
                return True
        elif t is float:
            if not math.isfinite(n):
                return True
        elif n is None or t is bool:
            continue
        else:
            return True  # anything json.loads does not make: take the careful walk
    text = "".join(strings)
    if text.isprintable():   # no control character, no lone surrogate (categories Cc, Cs are not printable)
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return has_control_characters(text)


def unstorable_numbers(resource: Any) -> list[Problem]:
    """Every value of ``resource`` that SQLite cannot store faithfully (see ``number_problem``), by path."""
    if not _maybe_unstorable(resource):
        return []
    out: list[Problem] = []
    for path, value in _walk(resource):
        problem = number_problem(value)
        if problem:
            out.append((path or "(resource)", problem))
    return out


def _get(node: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(k)
    return node


def _items(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(path[i], item) of a list; a single object stands for a list of one (lenient, like the mapping)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield f"{path}[{i}]", item
    elif node is not None:
        yield path, node


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(node: Any, path: str, out: list[Problem]) -> None:
    """A number at ``path`` (when present and a number) must be > 0."""
    if _real(node) and math.isfinite(node) and node <= 0:
        out.append((path, "must be greater than 0"))


def _quantity(node: Any, path: str, out: list[Problem]) -> None:
    """A Quantity's value must be > 0 and at most ``MAX_QUANTITY``."""
    if isinstance(node, dict):
        value = node.get("value")
        if _real(value) and math.isfinite(value):
            if value <= 0:
                out.append((f"{path}.value", "must be greater than 0"))
            elif value > MAX_QUANTITY:
                out.append((f"{path}.value", f"more than {MAX_QUANTITY:,}"))


def _whole(node: Any, path: str, lo: int, hi: int, out: list[Problem]) -> None:
    if node is None or not _real(node) or not math.isfinite(node):
        return  # missing, a string, NaN: the mapping or unstorable_numbers reports those
    if float(node) != int(node):
        out.append((path, "not a whole number"))
    elif not lo <= node <= hi:
        out.append((path, f"outside {lo}..{hi}"))


def _date(node: Any, path: str, out: list[Problem]) -> None:
    if not isinstance(node, str):
        return
    head = node[:4]
    if head.isascii() and head.isdigit() and YEAR_MIN <= int(head) <= YEAR_MAX and not node[4:5].isdigit():
        return   # the common case, at once: four digits of a year in bounds (not the start of a longer number)
    m = _YEAR.match(node.strip())
    if m and not YEAR_MIN <= int(m.group(1)) <= YEAR_MAX:
        out.append((path, f"a date outside the years {YEAR_MIN}-{YEAR_MAX}"))


def _period(node: Any, path: str, out: list[Problem]) -> None:
    if isinstance(node, dict):
        _date(node.get("start"), f"{path}.start", out)
        _date(node.get("end"), f"{path}.end", out)


def _dosages(node: Any, path: str, out: list[Problem]) -> None:
    for dp, dosage in _items(node, path):
        if not isinstance(dosage, dict):
            continue
        timing = dosage.get("timing")
        if isinstance(timing, dict):
            for ep, event in _items(timing.get("event"), f"{dp}.timing.event"):
                _date(event, ep, out)
            rp = f"{dp}.timing.repeat"
            repeat = timing.get("repeat")
            if isinstance(repeat, dict):
                for key in ("frequency", "frequencyMax"):
                    _whole(repeat.get(key), f"{rp}.{key}", 1, MAX_FREQUENCY, out)
                for key in ("count", "countMax"):
                    _whole(repeat.get(key), f"{rp}.{key}", 1, MAX_COUNT, out)
                _whole(repeat.get("offset"), f"{rp}.offset", 0, MAX_OFFSET_MINUTES, out)
                for key in ("period", "periodMax"):
                    value = repeat.get(key)
                    _positive(value, f"{rp}.{key}", out)
                    if _real(value) and math.isfinite(value) and value > MAX_PERIOD:
                        out.append((f"{rp}.{key}", f"more than {MAX_PERIOD}"))
                for key in ("duration", "durationMax"):
                    _positive(repeat.get(key), f"{rp}.{key}", out)
                _quantity(repeat.get("boundsDuration"), f"{rp}.boundsDuration", out)
                _period(repeat.get("boundsPeriod"), f"{rp}.boundsPeriod", out)
        for ap, dar in _items(dosage.get("doseAndRate"), f"{dp}.doseAndRate"):
            if not isinstance(dar, dict):
                continue
            _quantity(dar.get("doseQuantity"), f"{ap}.doseQuantity", out)
            _quantity(dar.get("rateQuantity"), f"{ap}.rateQuantity", out)
            rng = dar.get("doseRange")
            if isinstance(rng, dict):
                _quantity(rng.get("low"), f"{ap}.doseRange.low", out)
                _quantity(rng.get("high"), f"{ap}.doseRange.high", out)
        _quantity(dosage.get("maxDosePerAdministration"), f"{dp}.maxDosePerAdministration", out)


_DOSAGE_MEMO: dict[bytes, tuple[Problem, ...]] = {}
_DOSAGE_MEMO_LIMIT = 4096


def _dosage_problems(dosages: Any, out: list[Problem], memo: bool) -> None:
    """``_dosages`` of ``dosageInstruction``; with ``memo`` remembered by its JSON bytes (orders of one clinic
    repeat a few sig texts): a pure function of the value, so a remembered answer is the answer. Only for
    values proved storable (orjson writes NaN as null: two values, one key). At most ``_DOSAGE_MEMO_LIMIT``
    entries (emptied when full)."""
    if dosages is None:
        return
    if not memo:
        _dosages(dosages, "dosageInstruction", out)
        return
    try:
        key = orjson.dumps(dosages)
    except (TypeError, orjson.JSONEncodeError):   # a value orjson cannot write: no memo
        _dosages(dosages, "dosageInstruction", out)
        return
    found = _DOSAGE_MEMO.get(key)
    if found is None:
        got: list[Problem] = []
        _dosages(dosages, "dosageInstruction", got)
        if len(_DOSAGE_MEMO) >= _DOSAGE_MEMO_LIMIT:
            _DOSAGE_MEMO.clear()
        found = _DOSAGE_MEMO[key] = tuple(got)
    out.extend(found)


def semantic_problems(rtype: str, resource: dict[str, Any], storable: bool = False) -> list[Problem]:
    """Values FHIR's grammar allows but no real record holds (see the module rules), for the imported types.
    ``storable``: as ``resource_problems`` (then dosage instructions seen before are not checked again)."""
    out: list[Problem] = []
    if rtype == "Patient":
        _date(resource.get("birthDate"), "birthDate", out)
        _date(resource.get("deceasedDateTime"), "deceasedDateTime", out)
    elif rtype == "MedicationRequest":
        _date(resource.get("authoredOn"), "authoredOn", out)
        _dosage_problems(resource.get("dosageInstruction"), out, storable)
        dr = resource.get("dispenseRequest")
        if isinstance(dr, dict):
            _quantity(dr.get("quantity"), "dispenseRequest.quantity", out)
            _quantity(dr.get("expectedSupplyDuration"), "dispenseRequest.expectedSupplyDuration", out)
            _whole(dr.get("numberOfRepeatsAllowed"), "dispenseRequest.numberOfRepeatsAllowed", 0, MAX_REPEATS, out)
            _period(dr.get("validityPeriod"), "dispenseRequest.validityPeriod", out)
            initial = dr.get("initialFill")
            if isinstance(initial, dict):
                _quantity(initial.get("quantity"), "dispenseRequest.initialFill.quantity", out)
                _quantity(initial.get("duration"), "dispenseRequest.initialFill.duration", out)
    elif rtype == "MedicationDispense":
        _quantity(resource.get("quantity"), "quantity", out)
        _quantity(resource.get("daysSupply"), "daysSupply", out)
        _date(resource.get("whenHandedOver"), "whenHandedOver", out)
        _date(resource.get("whenPrepared"), "whenPrepared", out)
        _dosage_problems(resource.get("dosageInstruction"), out, storable)
    return out


def resource_problems(rtype: str, resource: dict[str, Any], *, storable: bool = False) -> list[Problem]:
    """Every hostile value of one resource: unstorable numbers first, then the semantic rules. [] = fine.

    ``storable``: the reader already proved that no value of the resource can be unstorable (it was parsed by
    orjson from bytes ``plain_json`` passed), so the walk of ``unstorable_numbers`` is left out."""
    if storable:
        return semantic_problems(rtype, resource, True)
    return unstorable_numbers(resource) + semantic_problems(rtype, resource)


def row_problems(row: dict[str, Any]) -> list[Problem]:
    """Values of a mapped store row that must not be written: (column, problem). Checks every column's
    number (``number_problem``) and ``doses_per_day`` <= MAX_DOSES_PER_DAY (a rate derived from the record).
    One pass over the values and one look at all texts joined; only a row that fails it is looked at column
    by column."""
    out: list[Problem] = []
    suspect = False
    texts: list[str] = []
    for value in row.values():
        t = type(value)
        if t is str:
            texts.append(value)
        elif t is float:
            if not math.isfinite(value):
                suspect = True
                break
        elif t is int:
            if not INT64_MIN <= value <= INT64_MAX:
                suspect = True
                break
        elif value is not None and t is not bool:
            suspect = True
            break
    if not suspect and texts:
        text = "".join(texts)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                suspect = True
        suspect = suspect or (not text.isprintable() and has_control_characters(text))
    if suspect:
        for column, value in row.items():
            problem = number_problem(value)
            if problem:
                out.append((column, problem))
    dpd = row.get("doses_per_day")
    if _real(dpd) and math.isfinite(dpd) and dpd > MAX_DOSES_PER_DAY:
        out.append(("doses_per_day", f"more than {MAX_DOSES_PER_DAY:.0f} doses a day (one a minute)"))
    return out
