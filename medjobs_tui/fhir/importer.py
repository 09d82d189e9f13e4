"""FHIR R4 import into the store: read files, resolve references, map, and write it all in one transaction.

Entry point: ``import_paths(db, settings, paths, now) -> ImportReport``. Input: bulk NDJSON files
(one resource per line) and .json files holding one resource or a Bundle. Imported types: Patient,
MedicationRequest, MedicationDispense, and Medication (only to resolve ``medicationReference``);
every other type is counted in ``ImportReport.ignored``. Mapping rules are in
``medjobs_tui.fhir.mapping``; all SQL is in ``medjobs_tui.store.records``.

Rules of the import (decisions where FHIR leaves a choice, for a careful clinic pharmacist):

- Keyed by FHIR id: re-importing the same files changes nothing (rows are compared, not rewritten).
- A resource that cannot be used (bad JSON, no id, no subject, a subject that is neither in the
  input nor in the store, an unreadable value, ...) is skipped and reported as a ``SkippedLine``
  (file, line, JSON path, what is wrong); everything else goes in. Reasons never hold values.
- ``medicationReference`` resolves to a contained Medication (``#id``) or a Medication resource in
  the same input (``Medication/id``, or a Bundle ``fullUrl``). When the Medication is not there (US
  Core's ``medicationrequest-referenced-oral-axid`` points at ``Medication/uscore-med2``, which the
  example set does not hold) the order is KEPT with ``medication_text`` and ingredients taken from
  ``medicationReference.display`` and no RxNorm code, and a warning is reported: dropping an active
  order would silently stop its reminders. Without a display the order is skipped.
- A MedicationDispense is stored against its order (``authorizingPrescription[0]``), which must be in
  the input or the store; ``subject``, when given, must be that order's patient. Only
  ``status = completed`` dispenses are supply; others are skipped, and removed if an earlier import
  stored them.
- When a patient is (now) deceased, every order of theirs in the store gets ``schedule_status =
  'deceased'``, including orders not in this input.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TYPE_CHECKING


from medjobs_tui.config import Settings
from medjobs_tui.fhir.mapping import (
    DISPENSE_IMPORTED_STATUSES,
    FieldError,
    Mapped,
    MedicationInfo,
    map_dispense,
    map_patient,
    map_request,
    medication_from_concept,
    medication_from_resource,
    now_iso,
)
from medjobs_tui.clock import parse_iso
from medjobs_tui.fhir import values
from medjobs_tui.fhir.preferences import preferred_channel
from medjobs_tui.fhir.reader import Found, ReadResult, read_paths
from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text
from medjobs_tui.store import preferences as store_prefs
from medjobs_tui.store import records, transaction

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""FHIR R4 id grammar (datatypes.html#id): 1-64 letters, digits, '-' and '.'."""

IMPORTED_TYPES = ("Patient", "MedicationRequest", "MedicationDispense", "Medication")
"""Resource types the importer reads; every other type is counted as ignored."""

_SUMMARY_LIST_LIMIT = 20


@dataclass(frozen=True)
class SkippedLine:
    """One input problem: ``file`` (path as given), ``line`` (1-based NDJSON line, or None for a .json
    document) and ``reason`` (resource type, JSON path, what is wrong: never a value from the data)."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


@dataclass
class ImportReport:
    """What one ``import_paths`` call did. Counts are of resources in THIS input that were imported
    (inserted, updated or found unchanged), so a re-import reports the same totals with 0 new/changed.

    - ``patients``: Patient resources imported; ``patients_new`` inserted, ``patients_changed`` updated;
      ``preferences``: patients whose preferred reminder channel was set from Patient.telecom rank.
    - ``orders_active`` (status active) + ``orders_stopped`` (every other status) = orders imported;
      their ``schedule_status`` split: ``scheduled``, ``prn``, ``no_schedule``, ``deceased_orders``
      (patient deceased, any status), ``inactive`` (living patient, status not active).
    - ``orders_marked_deceased``: orders in the store but not in this input set to 'deceased' because
      their patient is deceased.
    - ``dispenses`` imported (status completed); ``dispenses_removed``: stored ones whose status is
      no longer completed.
    - ``medications``: Medication resources read (used to resolve references).
    - ``ignored``: resource type -> count, for types MedJobs does not import (Condition, Encounter, ...).
    - ``skipped``: resources or lines not imported; ``warnings``: imported with a caveat.
    - ``dry_run``: True when nothing was written (every count says what an import would have done).
    """

    files: int = 0
    lines: int = 0
    patients: int = 0
    patients_new: int = 0
    patients_changed: int = 0
    preferences: int = 0
    orders_active: int = 0
    orders_stopped: int = 0
    orders_new: int = 0
    orders_changed: int = 0
    scheduled: int = 0
    prn: int = 0
    no_schedule: int = 0
    deceased_orders: int = 0
    inactive: int = 0
    orders_marked_deceased: int = 0
    dispenses: int = 0
    dispenses_new: int = 0
    dispenses_changed: int = 0
    dispenses_removed: int = 0
    medications: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    skipped: list[SkippedLine] = field(default_factory=list)
    warnings: list[SkippedLine] = field(default_factory=list)
    dry_run: bool = False

    @property
    def orders(self) -> int:
        """Medication requests imported (active + every other status)."""
        return self.orders_active + self.orders_stopped

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (skipped/warnings as lists of {file, line, reason})."""
        out = dataclasses.asdict(self)
        out["orders"] = self.orders
        return out

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the CLI: totals, schedule split, ignored types, then up to 20
        warnings and 20 skipped lines (with a count of the rest). No patient data."""
        lines = [
            *(["DRY RUN: nothing was written; the counts say what an import would do"] if self.dry_run else []),
            f"Files read: {self.files} ({self.lines:,} lines/documents)",
            f"Patients: {self.patients:,} ({self.patients_new:,} new, {self.patients_changed:,} changed)",
            f"Medication requests: {self.orders:,} ({self.orders_active:,} active, "
            f"{self.orders_stopped:,} stopped or other status; {self.orders_new:,} new, "
            f"{self.orders_changed:,} changed)",
            f"  schedule: {self.scheduled:,} scheduled, {self.prn:,} PRN, {self.no_schedule:,} no schedule, "
            f"{self.deceased_orders:,} deceased patient, {self.inactive:,} inactive",
            f"Dispenses: {self.dispenses:,} ({self.dispenses_new:,} new, {self.dispenses_changed:,} changed, "
            f"{self.dispenses_removed:,} removed)",
        ]
        if self.preferences:
            lines.append(f"Reminder channels set from Patient.telecom rank: {self.preferences:,}")
        if self.orders_marked_deceased:
            lines.append(f"Stored orders of deceased patients marked 'deceased': {self.orders_marked_deceased:,}")
        if self.medications:
            lines.append(f"Medication resources read: {self.medications:,}")
        if self.ignored:
            lines.append("Ignored resources: " + ", ".join(f"{t} {n:,}" for t, n in sorted(self.ignored.items())))
        for title, items in (("Warnings", self.warnings), ("Skipped", self.skipped)):
            lines.append(f"{title}: {len(items):,}")
            lines.extend(f"  {item}" for item in items[:_SUMMARY_LIST_LIMIT])
            if len(items) > _SUMMARY_LIST_LIMIT:
                lines.append(f"  ... and {len(items) - _SUMMARY_LIST_LIMIT:,} more")
        return lines


class _DryRun(Exception):
    """Raised inside the import transaction of a dry run so everything it wrote is rolled back."""


class _Skip(Exception):
    """A resource cannot be imported: JSON path inside the resource and what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


def _ref_id(ref: Any, rtype: str, path: str, full_urls: dict[str, tuple[str, str | None]]) -> str:
    """The id a reference points to, for a reference to ``rtype``; raises _Skip at ``path`` if unusable.

    Accepted: ``Type/id``, absolute ``.../Type/id`` (optionally ``/_history/n``), a Bundle
    ``fullUrl`` (``urn:uuid:...``) of this input, or a bare ``urn:uuid:id``. Conditional references
    (``Type?identifier=...``) cannot be resolved offline.
    """
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str) or not ref["reference"]:
        raise _Skip(f"{path}.reference", "missing")
    text = ref["reference"]
    if text in full_urls:
        t, rid = full_urls[text]
        if t != rtype or not rid:
            raise _Skip(f"{path}.reference", f"not a {rtype} reference")
        return rid
    if "?" in text:
        raise _Skip(f"{path}.reference", "conditional reference; cannot be resolved")
    if text.startswith("urn:uuid:"):
        return text[len("urn:uuid:"):]
    parts = text.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2] == rtype and parts[-1]:
        return parts[-1]
    raise _Skip(f"{path}.reference", f"not a {rtype} reference")


class _Importer:
    """One import run; see ``import_paths``."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings, read: ReadResult, now: str,
                 dry_run: bool = False) -> None:
        self.db = db
        self.dry_run = dry_run
        self.settings = settings
        self.read = read
        self.now = now
        self.report = ImportReport(files=read.files, lines=read.lines)
        self.report.skipped.extend(SkippedLine(p.file, p.line, p.reason) for p in read.problems)
        self.by_type: dict[str, dict[str, Found]] = {t: {} for t in IMPORTED_TYPES}
        self.skipped_ids: dict[str, set[str]] = {t: set() for t in IMPORTED_TYPES}

    # -- reporting ---------------------------------------------------------------------------
    def skip(self, found: Found, path: str, problem: str) -> None:
        self.report.skipped.append(SkippedLine(found.loc.file, found.loc.line,
                                               f"{found.type} {found.loc.at(path)}: {problem}"))
        if found.id:
            self.skipped_ids[found.type].add(found.id)

    def warn(self, found: Found, path: str, problem: str) -> None:
        self.report.warnings.append(SkippedLine(found.loc.file, found.loc.line,
                                                f"{found.type} {found.loc.at(path)}: {problem}"))

    # -- indexing ----------------------------------------------------------------------------
    def index(self) -> None:
        ignored: Counter = Counter()
        for found in self.read.resources:
            if found.type not in self.by_type:
                ignored[found.type] += 1
                continue
            if not found.id:
                self.skip(found, "id", "missing")
                continue
            if not FHIR_ID.fullmatch(found.id):
                self.skip(found, "id", "not a FHIR id (1-64 letters, digits, '-' or '.')")
                continue
            problems = values.resource_problems(found.type, found.resource)
            if problems:
                path, problem = problems[0]
                more = f" (and {len(problems) - 1} more value problem(s))" if len(problems) > 1 else ""
                self.skip(found, path, problem + more)
                continue
            seen = self.by_type[found.type]
            if found.id in seen:
                first = seen[found.id].loc
                where = f"{first.file}:{first.line}" if first.line is not None else first.file
                self.skip(found, "id", f"duplicate {found.type} id (first at {where}); this one not imported")
                continue
            seen[found.id] = found
        self.report.ignored = dict(sorted(ignored.items()))
        self.report.medications = len(self.by_type["Medication"])

    # -- medication[x] -------------------------------------------------------------------------
    def medication(self, found: Found) -> MedicationInfo:
        res = found.resource
        if res.get("medicationCodeableConcept") is not None:
            info = medication_from_concept(res["medicationCodeableConcept"])
            if info is None:
                raise _Skip("medicationCodeableConcept", "names no medication (no text, no display)")
            return info
        ref = res.get("medicationReference")
        if not isinstance(ref, dict):
            raise _Skip("medication[x]", "missing")
        target = ref.get("reference")
        med: dict[str, Any] | None = None
        if isinstance(target, str) and target.startswith("#"):
            for c in res.get("contained") or []:
                if isinstance(c, dict) and c.get("resourceType") == "Medication" and c.get("id") == target[1:]:
                    med = c
                    break
            missing = "no contained Medication with that id"
        else:
            try:
                mid = _ref_id(ref, "Medication", "medicationReference", self.read.full_urls)
            except _Skip as exc:
                mid, missing = None, exc.problem
            else:
                hit = self.by_type["Medication"].get(mid)
                med = hit.resource if hit else None
                missing = "the Medication is not in the input"
        info = medication_from_resource(med) if med is not None else None
        if info is not None:
            return info
        if med is not None:
            missing = "the Medication names nothing (no code text or display)"
        display = ref.get("display")
        if isinstance(display, str) and display.strip():
            self.warn(found, "medicationReference", f"{missing}; kept with the reference's display as "
                                                    "medication text, no RxNorm code")
            return MedicationInfo(None, display.strip(), ingredients_from_rxnorm_text(display))
        raise _Skip("medicationReference", f"{missing}, and no display to fall back on")

    # -- the run -------------------------------------------------------------------------------
    def mapped_row(self, found: Found, mapping: Callable[[], Mapped]) -> Mapped | None:
        """``mapping()`` for one record, or None after reporting it: a FieldError with its path, a row
        value SQLite must not get (``values.row_problems``), or any other error of the mapping (named by
        its class only: the record is skipped, never the import)."""
        try:
            mapped = mapping()
        except (_Skip, FieldError) as exc:
            self.skip(found, exc.path, exc.problem)
            return None
        except Exception as exc:  # noqa: BLE001 - one record's surprise never stops the import
            self.skip(found, "", f"could not be read ({type(exc).__name__}); not imported")
            return None
        problems = values.row_problems(mapped.row)
        if problems:
            column, problem = problems[0]
            self.skip(found, "", f"{problem} (would be stored as {column}); not imported")
            return None
        return mapped

    def rejected(self, rtype: str, rejected: dict[str, str]) -> None:
        """Report rows the store refused one by one (each rolled back alone; see records.upsert_*)."""
        for fhir_id, what in rejected.items():
            self.skip(self.by_type[rtype][fhir_id], "", f"the store refused a value ({what}); not imported")

    def run(self) -> ImportReport:
        self.index()
        report = self.report

        patient_rows: dict[str, dict[str, Any]] = {}
        for pid, found in self.by_type["Patient"].items():
            mapped = self.mapped_row(found, lambda: map_patient(found.resource))
            if mapped is not None:
                patient_rows[pid] = mapped.row

        # subject of each request -> patient FHIR id (resolution errors reported now)
        request_subject: dict[str, str] = {}
        for rid, found in self.by_type["MedicationRequest"].items():
            try:
                request_subject[rid] = _ref_id(found.resource.get("subject"), "Patient", "subject",
                                               self.read.full_urls)
            except _Skip as exc:
                self.skip(found, exc.path, exc.problem)

        try:
            with transaction(self.db):
                self._write(request_subject, patient_rows)
                if self.dry_run:
                    raise _DryRun
        except _DryRun:
            report.dry_run = True
        return report

    def _write(self, request_subject: dict[str, str], patient_rows: dict[str, dict[str, Any]]) -> None:
        report = self.report
        stored_patients = records.find_patients(
            self.db, {p for p in request_subject.values() if p not in patient_rows})
        patient_ids, pc = records.upsert_patients(self.db, list(patient_rows.values()), self.now)
        self.rejected("Patient", pc.rejected)
        for fhir_id in pc.rejected:
            patient_rows.pop(fhir_id, None)
        report.patients = len(patient_rows)
        report.patients_new, report.patients_changed = pc.inserted, pc.updated
        report.preferences = self._preferences(patient_rows, patient_ids)

        request_rows = self._requests(request_subject, patient_rows, patient_ids, stored_patients)
        request_ids, rc = records.upsert_medication_requests(self.db, request_rows, self.now)
        self.rejected("MedicationRequest", rc.rejected)
        for row in request_rows:
            if row["fhir_id"] in rc.rejected:
                self._uncount(row)
        report.orders_new, report.orders_changed = rc.inserted, rc.updated
        deceased_ids = [patient_ids[f] for f, row in patient_rows.items() if row["deceased"]]
        report.orders_marked_deceased = records.mark_orders_deceased(self.db, deceased_ids, self.now)

        request_patient = {r["fhir_id"]: r["patient_id"] for r in request_rows}
        dispense_rows, remove = self._dispenses(request_ids, request_patient, patient_rows, patient_ids)
        dc = records.upsert_dispenses(self.db, dispense_rows, self.now)
        self.rejected("MedicationDispense", dc.rejected)
        report.dispenses = len(dispense_rows) - len(dc.rejected)
        report.dispenses_new, report.dispenses_changed = dc.inserted, dc.updated
        report.dispenses_removed = records.delete_dispenses(self.db, remove)

    def _preferences(self, patient_rows: dict[str, dict[str, Any]], patient_ids: dict[str, int]) -> int:
        """Preferred channels from Patient.telecom rank (``fhir.preferences``); never over staff's. Returns
        how many patients' preferences were set or changed."""
        names = self.settings.notifications.channels_for("patient")
        if not names:
            return 0
        now = parse_iso(self.now)
        wanted = {patient_ids[f]: ch for f in patient_rows if f in patient_ids
                  and (ch := preferred_channel(self.by_type["Patient"][f].resource, names, now))}
        existing = store_prefs.preferences_of(self.db, wanted)
        changed = 0
        for pid, channel in wanted.items():
            row = existing.get(pid)
            if row and (row["source"] == "staff" or row["channel"] == channel):
                continue
            store_prefs.set_preferences(self.db, pid, {"channel": channel}, source="fhir", at=self.now, by=None)
            changed += 1
        return changed

    def _count(self, row: dict[str, Any], step: int = 1) -> None:
        report = self.report
        if row["status"] == "active":
            report.orders_active += step
        else:
            report.orders_stopped += step
        status = row["schedule_status"]
        name = "deceased_orders" if status == "deceased" else status
        setattr(report, name, getattr(report, name) + step)

    def _uncount(self, row: dict[str, Any]) -> None:
        self._count(row, -1)

    def _requests(self, request_subject: dict[str, str], patient_rows: dict[str, dict[str, Any]],
                  patient_ids: dict[str, int],
                  stored_patients: dict[str, records.StoredPatient]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for rid, subject in request_subject.items():
            found = self.by_type["MedicationRequest"][rid]
            try:
                if subject in patient_rows and subject in patient_ids:
                    patient_id, deceased = patient_ids[subject], bool(patient_rows[subject]["deceased"])
                elif subject in stored_patients:
                    patient_id, deceased = stored_patients[subject].id, stored_patients[subject].deceased
                elif subject in self.skipped_ids["Patient"]:
                    raise _Skip("subject.reference", "its Patient was skipped (see that line)")
                else:
                    raise _Skip("subject.reference", "the Patient is neither in the input nor in the store")
            except _Skip as exc:
                self.skip(found, exc.path, exc.problem)
                continue
            mapped = self.mapped_row(found, lambda: map_request(
                found.resource, self.medication(found), patient_id, deceased, self.settings))
            if mapped is None:
                continue
            for path, problem in mapped.warnings:
                self.warn(found, path, problem)
            rows.append(mapped.row)
            self._count(mapped.row)
        return rows

    def _dispenses(self, request_ids: dict[str, int], request_patient: dict[str, int],
                   patient_rows: dict[str, dict[str, Any]],
                   patient_ids: dict[str, int]) -> tuple[list[dict[str, Any]], list[str]]:
        found_all = self.by_type["MedicationDispense"]
        wanted: dict[str, str] = {}
        for did, found in found_all.items():
            auth = found.resource.get("authorizingPrescription")
            try:
                if not isinstance(auth, list) or not auth:
                    raise _Skip("authorizingPrescription", "missing; a dispense is stored against its order")
                wanted[did] = _ref_id(auth[0], "MedicationRequest", "authorizingPrescription[0]",
                                      self.read.full_urls)
            except _Skip as exc:
                self.skip(found, exc.path, exc.problem)
        stored_requests = records.find_requests(self.db, {r for r in wanted.values() if r not in request_ids})
        subjects = set()
        for did in wanted:
            ref = found_all[did].resource.get("subject")
            if ref is not None:
                try:
                    subjects.add(_ref_id(ref, "Patient", "subject", self.read.full_urls))
                except _Skip:
                    pass
        stored_patients = records.find_patients(self.db, {s for s in subjects if s not in patient_rows})

        rows: list[dict[str, Any]] = []
        remove: list[str] = []
        for did, request_fhir_id in wanted.items():
            found = found_all[did]
            res = found.resource
            try:
                status = res.get("status")
                if not isinstance(status, str) or not status:
                    raise _Skip("status", "missing")
                if status not in DISPENSE_IMPORTED_STATUSES:
                    remove.append(did)
                    raise _Skip("status", "not 'completed': not supply the patient has; not imported")
                if request_fhir_id in request_ids:
                    request_id, patient_id = request_ids[request_fhir_id], request_patient[request_fhir_id]
                elif request_fhir_id in stored_requests:
                    stored = stored_requests[request_fhir_id]
                    request_id, patient_id = stored.id, stored.patient_id
                elif request_fhir_id in self.skipped_ids["MedicationRequest"]:
                    raise _Skip("authorizingPrescription[0].reference", "its MedicationRequest was skipped")
                else:
                    raise _Skip("authorizingPrescription[0].reference",
                                "the MedicationRequest is neither in the input nor in the store")
                if res.get("subject") is not None:
                    subject = _ref_id(res["subject"], "Patient", "subject", self.read.full_urls)
                    subject_id = patient_ids.get(subject) if subject in patient_rows else (
                        stored_patients[subject].id if subject in stored_patients else None)
                    if subject_id != patient_id:
                        raise _Skip("subject.reference", "not the patient of the authorizing prescription")
            except _Skip as exc:
                self.skip(found, exc.path, exc.problem)
                continue
            mapped = self.mapped_row(found, lambda: map_dispense(res, request_id, patient_id, self.settings.zone))
            if mapped is None:
                continue
            for path, problem in mapped.warnings:
                self.warn(found, path, problem)
            rows.append(mapped.row)
        return rows, remove


def import_paths(db: sqlite_utils.Database, settings: Settings, paths: list[Path], now: datetime, *,
                 dry_run: bool = False) -> ImportReport:
    """Import FHIR R4 files into the store in ONE transaction and report what happened.

    ``paths``: .ndjson/.jsonl (bulk export, one resource per line) and .json (one resource or a
    Bundle) files, or directories holding them (not recursive). ``now``: aware datetime, written as
    UTC created_at/updated_at of new and changed rows. ``settings.clinic`` gives the administration-time
    table (Timing code -> local HH:MM) and the zone for dates without an offset. ``dry_run``: do
    everything, then roll the transaction back; the report (``dry_run=True``) counts what would change.

    All files are read and references resolved (MedicationRequest.subject -> Patient,
    MedicationDispense.authorizingPrescription -> MedicationRequest; targets in this input or already
    in the store) before anything is written; unusable resources are skipped and reported. Hostile
    values (``fhir.values``: JSON nested too deep, NaN/Infinity, whole numbers beyond 64 bits, zero or
    negative quantities, periods and frequencies out of bounds, dates outside 1900-2200) skip their
    record only. One record never rolls another back: each row is written under its own savepoint
    and a row the store refuses is reported and skipped alone; an unreadable file is reported and the
    other files still go in. Idempotent: keyed by FHIR id, identical rows are left untouched.
    Patients get a pseudonym ``P-00001`` at first insert and only birth year and deceased flag are stored.

    Raises FhirImportError (before writing) for a path that is missing or not a FHIR file; ValueError
    for a naive ``now``; store errors that are not about one row (disk full, database locked) roll the
    whole import back and propagate.
    """
    now_text = now_iso(now)
    read = read_paths(list(paths))
    return _Importer(db, settings, read, now_text, dry_run=dry_run).run()
