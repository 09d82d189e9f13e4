"""SQL of the FHIR import: look-ups and idempotent upserts of patients, medication requests and dispenses.

Every row is keyed by its FHIR id (``fhir_id`` UNIQUE): writing the same rows twice changes nothing.
A row that exists is compared column by column with the incoming one and only rewritten when a
value differs; only then does ``updated_at`` move. The functions here never open or commit a
transaction: call them inside ``medjobs_tui.store.transaction(db)`` (they raise RuntimeError
otherwise), so one import is one transaction.

Row shapes (plain dicts, keys = column names of ``schema.py``; instants are UTC ISO text, JSON
columns are already-serialised text):

- patient: ``fhir_id, birth_year, deceased`` (0/1), ``deceased_at`` (UTC text or None).
- medication request: ``fhir_id, patient_id`` + ``REQUEST_FIELDS``.
- dispense: ``fhir_id`` + ``DISPENSE_FIELDS``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import sqlite_utils

from medjobs_tui.store import db as _db

PATIENT_FIELDS: tuple[str, ...] = ("birth_year", "deceased", "deceased_at")
"""Columns of ``patients`` the FHIR import owns. Pseudonym, timezone and reminders_opt_out belong
to the clinic and are never overwritten by an import."""

REQUEST_FIELDS: tuple[str, ...] = (
    "patient_id", "status", "rxnorm", "medication_text", "ingredients", "schedule_status",
    "timing_code", "frequency", "period", "period_unit", "times_of_day", "doses_per_day",
    "dose_quantity", "dose_unit", "authored_on", "bounds_start", "bounds_end",
    "dispense_quantity", "expected_supply_days", "repeats_allowed", "prescriber_ref", "dose_plan", "not_to_give",
)
"""Columns of ``medication_requests`` the FHIR import owns (all but id, fhir_id, created_at, updated_at)."""

DISPENSE_FIELDS: tuple[str, ...] = (
    "medication_request_id", "patient_id", "quantity", "days_supply", "handed_over_at",
)
"""Columns of ``dispenses`` the FHIR import owns (all but id, fhir_id, created_at)."""

PSEUDONYM_PREFIX = "P-"
PSEUDONYM_DIGITS = 5

_CHUNK = 500  # bound variables per IN (...) query, well under SQLite's limit
_PSEUDONYM = re.compile(r"^P-(\d+)$")


@dataclass
class UpsertCounts:
    """What an upsert did: rows inserted, rows rewritten because a value changed, rows left as they were."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    """FHIR id -> the kind of error (class name) of rows the store refused; each was rolled back alone."""


ROW_ERRORS = (OverflowError, ValueError, TypeError, _db.IntegrityError, _db.InterfaceError, _db.DataError)
"""Errors about one row's values (a number SQLite cannot hold, a broken reference, a value too big):
that row is rolled back to its savepoint and reported; anything else (disk full, locked) propagates."""


class _Rejected(Exception):
    pass


@contextmanager
def _row(db: sqlite_utils.Database, counts: UpsertCounts, fhir_id: str) -> Iterator[None]:
    """Write one row under its own SAVEPOINT: a ROW_ERRORS failure undoes that row only and is noted in
    ``counts.rejected``; the surrounding import goes on."""
    db.execute("SAVEPOINT import_row")
    try:
        yield
    except ROW_ERRORS as exc:
        db.execute("ROLLBACK TO import_row")
        db.execute("RELEASE import_row")
        counts.rejected[fhir_id] = type(exc).__name__
        raise _Rejected from None
    except BaseException:
        db.execute("ROLLBACK TO import_row")
        db.execute("RELEASE import_row")
        raise
    db.execute("RELEASE import_row")


def _write_batch(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]],
                 apply: Callable[[dict[str, Any], UpsertCounts, dict[str, int]], None],
                 restart: Callable[[], None] = lambda: None,
                 apply_all: Callable[[Sequence[dict[str, Any]], UpsertCounts, dict[str, int]], None] | None = None,
                 ) -> tuple[dict[str, int], UpsertCounts]:
    """Write ``rows`` under ONE savepoint (the common case: no row is refused): ``apply_all(rows, ...)`` when
    given (new rows in one ``executemany``), else ``apply`` on each row. When a row raises ROW_ERRORS the
    whole batch is rolled back to that savepoint, ``restart()`` resets the caller's state, and the batch is
    written again one savepoint per row (``apply`` under ``_row``), so only the refused rows are left out and
    named. Any other error rolls the batch back and propagates."""
    counts, ids = UpsertCounts(), {}
    db.execute("SAVEPOINT import_batch")
    try:
        if apply_all is not None:
            apply_all(rows, counts, ids)
        else:
            for row in rows:
                apply(row, counts, ids)
    except ROW_ERRORS:
        db.execute("ROLLBACK TO import_batch")
        db.execute("RELEASE import_batch")
    except BaseException:
        db.execute("ROLLBACK TO import_batch")
        db.execute("RELEASE import_batch")
        raise
    else:
        db.execute("RELEASE import_batch")
        return ids, counts
    restart()
    counts, ids = UpsertCounts(), {}
    for row in rows:
        try:
            with _row(db, counts, row["fhir_id"]):
                apply(row, counts, ids)
        except _Rejected:
            continue
    return ids, counts


def _apply_batch(db: sqlite_utils.Database, batch: Sequence[dict[str, Any]], existing: Mapping[str, Any],
                 apply: Callable[[dict[str, Any], UpsertCounts, dict[str, int]], None], counts: UpsertCounts,
                 ids: dict[str, int], new_row: Callable[[dict[str, Any]], tuple[Any, ...]], insert_sql: str, *,
                 id_table: str | None = None, fhir_id_at: int = 0) -> None:
    """One batch of an upsert by FHIR id: rows already in the store (``existing``, by FHIR id) go through
    ``apply`` one by one (update or unchanged); the new ones are inserted with one ``executemany`` of
    ``insert_sql`` over ``new_row(row)`` (in batch order) and counted; with ``id_table`` their new ids are read
    back into ``ids`` (the FHIR id is at position ``fhir_id_at`` of each parameter tuple)."""
    new: list[tuple[Any, ...]] = []
    for row in batch:
        if row["fhir_id"] in existing:
            apply(row, counts, ids)
        else:
            new.append(new_row(row))
    if new:
        db.conn.executemany(insert_sql, new)
        if id_table is not None:
            ids.update(_ids_by_fhir_id(db, id_table, [n[fhir_id_at] for n in new]))
        counts.inserted += len(new)


def _ids_by_fhir_id(db: sqlite_utils.Database, table: str, fhir_ids: Sequence[str]) -> dict[str, int]:
    """FHIR id -> row id of ``table`` for ``fhir_ids`` (rows just inserted by ``executemany``)."""
    return {fid: r["id"] for fid, r in _select_by_fhir_id(db, table, (), fhir_ids).items()}


@dataclass(frozen=True)
class StoredPatient:
    """A patient already in the store: its row id and deceased flag (for orders imported without it)."""

    id: int
    deceased: bool


@dataclass(frozen=True)
class StoredRequest:
    """A medication request already in the store: its row id, its patient's row id, its dose unit and its
    medication text (what the supply rules read: ``clinical.supply.counted_in_doses``)."""

    id: int
    patient_id: int
    dose_unit: str | None = None
    medication_text: str | None = None


def _require_transaction(db: sqlite_utils.Database) -> None:
    if not db.conn.in_transaction:
        raise RuntimeError("records: write inside medjobs_tui.store.transaction(db)")


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _select_by_fhir_id(db: sqlite_utils.Database, table: str, columns: Sequence[str],
                       fhir_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = sorted(set(fhir_ids))
    out: dict[str, dict[str, Any]] = {}
    cols = ", ".join(("id", "fhir_id", *columns))
    for chunk in _chunks(ids):
        marks = ", ".join("?" * len(chunk))
        cur = db.execute(f"SELECT {cols} FROM {table} WHERE fhir_id IN ({marks})", list(chunk))
        names = [d[0] for d in cur.description]
        for values in cur.fetchall():
            row = dict(zip(names, values))
            out[row["fhir_id"]] = row
    return out


def find_patients(db: sqlite_utils.Database, fhir_ids: Iterable[str]) -> dict[str, StoredPatient]:
    """Patients of the store with one of ``fhir_ids``: FHIR id -> StoredPatient. Unknown ids are absent."""
    rows = _select_by_fhir_id(db, "patients", ("deceased",), fhir_ids)
    return {fid: StoredPatient(r["id"], bool(r["deceased"])) for fid, r in rows.items()}


def patient_zones(db: sqlite_utils.Database, patient_ids: Iterable[int]) -> dict[int, str | None]:
    """Patient row id -> the patient's own IANA zone (``patients.timezone``; None = the clinic's) for those of
    ``patient_ids`` in the store. The zone belongs to the clinic: an import reads it, never writes it."""
    ids = sorted(set(patient_ids))
    out: dict[int, str | None] = {}
    for chunk in _chunks(ids):  # type: ignore[arg-type]
        marks = ", ".join("?" * len(chunk))
        for pid, zone in db.execute(f"SELECT id, timezone FROM patients WHERE id IN ({marks})", list(chunk)):
            out[pid] = zone
    return out


def find_requests(db: sqlite_utils.Database, fhir_ids: Iterable[str]) -> dict[str, StoredRequest]:
    """Medication requests of the store with one of ``fhir_ids``: FHIR id -> StoredRequest."""
    rows = _select_by_fhir_id(db, "medication_requests", ("patient_id", "dose_unit", "medication_text"), fhir_ids)
    return {fid: StoredRequest(r["id"], r["patient_id"], r["dose_unit"], r["medication_text"])
            for fid, r in rows.items()}


def _same(a: Any, b: Any) -> bool:
    # REAL columns give back 1.0 for an int 1; compare numbers by value, everything else exactly.
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _differs(existing: dict[str, Any], row: dict[str, Any], fields: Sequence[str]) -> bool:
    return any(not _same(existing[f], row.get(f)) for f in fields)


def next_pseudonym_number(db: sqlite_utils.Database) -> int:
    """The number the next new patient's pseudonym gets: 1 + the highest ``P-<n>`` in the store (1 if none)."""
    highest = 0
    for (pseudonym,) in db.execute("SELECT pseudonym FROM patients WHERE pseudonym LIKE 'P-%'").fetchall():
        m = _PSEUDONYM.match(pseudonym)
        if m:
            highest = max(highest, int(m.group(1)))
    return highest + 1


def format_pseudonym(number: int) -> str:
    """``7`` -> ``'P-00007'`` (at least five digits; more once a clinic passes 99,999 patients)."""
    return f"{PSEUDONYM_PREFIX}{number:0{PSEUDONYM_DIGITS}d}"


def upsert_patients(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]],
                    now: str, *, first_number: int | None = None) -> tuple[dict[str, int], UpsertCounts]:
    """Insert or update patients by FHIR id; return (FHIR id -> row id, counts).

    New patients get ``source='fhir'`` and the next free pseudonym ``P-00001``-style, in the order of
    ``rows``; an existing patient keeps its pseudonym. Only ``PATIENT_FIELDS`` are written. ``now`` is
    UTC ISO text for created_at/updated_at. ``first_number``: the pseudonym number of the first new
    patient when the caller keeps count across batches (default: ``next_pseudonym_number``, a scan of
    the patients). A row the store refuses (``ROW_ERRORS``) is rolled back
    alone, left out of the ids and named in ``counts.rejected``. Raises RuntimeError outside a transaction.
    """
    _require_transaction(db)
    existing = _select_by_fhir_id(db, "patients", PATIENT_FIELDS, (r["fhir_id"] for r in rows))
    start = next_pseudonym_number(db) if first_number is None else first_number
    number = [start]

    def apply(row: dict[str, Any], counts: UpsertCounts, ids: dict[str, int]) -> None:
        old = existing.get(row["fhir_id"])
        if old is None:
            cur = db.execute(
                "INSERT INTO patients (pseudonym, fhir_id, source, birth_year, deceased, deceased_at, created_at,"
                " updated_at) VALUES (?, ?, 'fhir', ?, ?, ?, ?, ?)",
                [format_pseudonym(number[0]), row["fhir_id"], row["birth_year"], row["deceased"],
                 row.get("deceased_at"), now, now],
            )
            number[0] += 1
            ids[row["fhir_id"]] = cur.lastrowid
            counts.inserted += 1
        elif _differs(old, row, PATIENT_FIELDS):
            db.execute(
                "UPDATE patients SET birth_year = ?, deceased = ?, deceased_at = ?, updated_at = ? WHERE id = ?",
                [row["birth_year"], row["deceased"], row.get("deceased_at"), now, old["id"]],
            )
            ids[row["fhir_id"]] = old["id"]
            counts.updated += 1
        else:
            ids[row["fhir_id"]] = old["id"]
            counts.unchanged += 1

    def new_row(row: dict[str, Any]) -> tuple[Any, ...]:
        number[0] += 1
        return (format_pseudonym(number[0] - 1), row["fhir_id"], row["birth_year"], row["deceased"],
                row.get("deceased_at"), now, now)

    def apply_all(batch: Sequence[dict[str, Any]], counts: UpsertCounts, ids: dict[str, int]) -> None:
        _apply_batch(db, batch, existing, apply, counts, ids, new_row,
                     "INSERT INTO patients (pseudonym, fhir_id, source, birth_year, deceased, deceased_at, created_at,"
                     " updated_at) VALUES (?, ?, 'fhir', ?, ?, ?, ?, ?)", id_table="patients", fhir_id_at=1)

    def restart() -> None:
        number[0] = start

    return _write_batch(db, rows, apply, restart, apply_all)


def mark_orders_deceased(db: sqlite_utils.Database, patient_ids: Iterable[int], now: str) -> int:
    """Set ``schedule_status='deceased'`` on every order of these patients not already so; return how many.

    Catches orders of a newly deceased patient that are in the store but not in the current input, so
    no reminder ever goes to a deceased patient. Raises RuntimeError outside a transaction.
    """
    _require_transaction(db)
    ids = sorted(set(patient_ids))
    changed = 0
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        cur = db.execute(
            f"UPDATE medication_requests SET schedule_status = 'deceased', updated_at = ?"
            f" WHERE patient_id IN ({marks}) AND schedule_status != 'deceased'",
            [now, *chunk],
        )
        changed += cur.rowcount
    return changed


def upsert_medication_requests(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]],
                               now: str) -> tuple[dict[str, int], UpsertCounts]:
    """Insert or update medication requests by FHIR id; return (FHIR id -> row id, counts).

    Each row holds ``fhir_id`` and every column of ``REQUEST_FIELDS``. An existing row is rewritten
    (and its ``updated_at`` set to ``now``) only if one of those values differs. When an import moves a stored
    order from ``active`` to another status, its ``inactive_since`` is set (``inactive_since``); an order back to
    ``active`` has it cleared; an order first imported inactive has none (unknown). A row the store
    refuses (a number SQLite cannot hold, a patient_id that does not exist: ``ROW_ERRORS``) is rolled
    back alone and named in ``counts.rejected``. Raises RuntimeError outside a transaction.
    """
    _require_transaction(db)
    existing = _select_by_fhir_id(db, "medication_requests", (*REQUEST_FIELDS, "inactive_since"),
                                  (r["fhir_id"] for r in rows))
    cols = ", ".join(("fhir_id", *REQUEST_FIELDS, "created_at", "updated_at"))
    marks = ", ".join("?" * (len(REQUEST_FIELDS) + 3))
    sets = ", ".join(f"{f} = ?" for f in REQUEST_FIELDS)

    def apply(row: dict[str, Any], counts: UpsertCounts, ids: dict[str, int]) -> None:
        values = [row[f] for f in REQUEST_FIELDS]
        old = existing.get(row["fhir_id"])
        if old is None:
            cur = db.execute(f"INSERT INTO medication_requests ({cols}) VALUES ({marks})",
                             [row["fhir_id"], *values, now, now])
            ids[row["fhir_id"]] = cur.lastrowid
            counts.inserted += 1
        elif _differs(old, row, REQUEST_FIELDS):
            since = inactive_since(old["status"], row["status"], old.get("inactive_since"), row.get("bounds_end"), now)
            db.execute(f"UPDATE medication_requests SET {sets}, inactive_since = ?, updated_at = ? WHERE id = ?",
                       [*values, since, now, old["id"]])
            ids[row["fhir_id"]] = old["id"]
            counts.updated += 1
        else:
            ids[row["fhir_id"]] = old["id"]
            counts.unchanged += 1

    def apply_all(batch: Sequence[dict[str, Any]], counts: UpsertCounts, ids: dict[str, int]) -> None:
        _apply_batch(db, batch, existing, apply, counts, ids,
                     lambda row: (row["fhir_id"], *[row[f] for f in REQUEST_FIELDS], now, now),
                     f"INSERT INTO medication_requests ({cols}) VALUES ({marks})", id_table="medication_requests")

    return _write_batch(db, rows, apply, apply_all=apply_all)


def inactive_since(old_status: str | None, new_status: str | None, known: str | None, bounds_end: str | None,
                   now: str) -> str | None:
    """When an order stopped being active (UTC text), as an import that rewrites it keeps it: moved from ``active``
    to another status -> the import instant ``now``, or the order's boundsPeriod end (``bounds_end``, UTC text) when
    that is earlier (the prescriber's stated end); still not active -> the instant ``known`` already (None:
    imported already inactive, never seen active); active -> None. A confirmation of a dose due before it may still
    be documented (``clinical.confirmation.order_confirmation_refused``). Source: FHIR R4 MedicationRequest.status
    (a status change is when it stopped being in force; the export gives no instant of the change)."""
    if new_status == "active":
        return None
    if old_status != "active":
        return known
    if bounds_end:
        try:
            if datetime.fromisoformat(bounds_end) < datetime.fromisoformat(now):
                return bounds_end
        except ValueError:
            pass                            # an unreadable end: the import instant
    return now


def upsert_dispenses(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]], now: str) -> UpsertCounts:
    """Insert or update dispenses by FHIR id (``dispenses`` has no updated_at: a changed row is rewritten).

    Each row holds ``fhir_id`` and every column of ``DISPENSE_FIELDS``. A row the store refuses
    (``ROW_ERRORS``) is rolled back alone and named in ``counts.rejected``. Raises RuntimeError outside
    a transaction.
    """
    _require_transaction(db)
    existing = _select_by_fhir_id(db, "dispenses", DISPENSE_FIELDS, (r["fhir_id"] for r in rows))
    cols = ", ".join(("fhir_id", *DISPENSE_FIELDS, "created_at"))
    marks = ", ".join("?" * (len(DISPENSE_FIELDS) + 2))
    sets = ", ".join(f"{f} = ?" for f in DISPENSE_FIELDS)

    def apply(row: dict[str, Any], counts: UpsertCounts, ids: dict[str, int]) -> None:
        values = [row[f] for f in DISPENSE_FIELDS]
        old = existing.get(row["fhir_id"])
        if old is None:
            db.execute(f"INSERT INTO dispenses ({cols}) VALUES ({marks})", [row["fhir_id"], *values, now])
            counts.inserted += 1
        elif _differs(old, row, DISPENSE_FIELDS):
            db.execute(f"UPDATE dispenses SET {sets} WHERE id = ?", [*values, old["id"]])
            counts.updated += 1
        else:
            counts.unchanged += 1

    def apply_all(batch: Sequence[dict[str, Any]], counts: UpsertCounts, ids: dict[str, int]) -> None:
        _apply_batch(db, batch, existing, apply, counts, ids,
                     lambda row: (row["fhir_id"], *[row[f] for f in DISPENSE_FIELDS], now),
                     f"INSERT INTO dispenses ({cols}) VALUES ({marks})")

    return _write_batch(db, rows, apply, apply_all=apply_all)[1]


def delete_dispenses(db: sqlite_utils.Database, fhir_ids: Iterable[str]) -> int:
    """Delete the dispenses with these FHIR ids (a hand-over later marked entered-in-error, cancelled, ...).

    Returns how many rows went. Raises RuntimeError outside a transaction.
    """
    _require_transaction(db)
    ids = sorted(set(fhir_ids))
    gone = 0
    for chunk in _chunks(ids):
        marks = ", ".join("?" * len(chunk))
        gone += db.execute(f"DELETE FROM dispenses WHERE fhir_id IN ({marks})", list(chunk)).rowcount
    return gone
