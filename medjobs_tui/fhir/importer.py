"""FHIR R4 import into the store: stream files, resolve references, map, and write in batches in one transaction.

Entry point: ``import_paths(db, settings, paths, now) -> ImportReport``. Input: bulk NDJSON files
(one resource per line) and .json files holding one resource or a Bundle. Imported types: Patient,
MedicationRequest, MedicationDispense, and Medication (only to resolve ``medicationReference``);
every other type is counted in ``ImportReport.ignored``. Mapping rules are in
``medjobs_tui.fhir.mapping``; all SQL is in ``medjobs_tui.store.records``.

Memory is bounded by a batch, not by the input: the files are streamed three times, one NDJSON line at a
time (pass 1: Patient, Medication and every other type; pass 2: MedicationRequest; pass 3: MedicationDispense;
a line's type is sniffed from its bytes, see ``reader.sniff_type``, so each line is parsed by the pass that
owns it; a file in which pass 1 found no line of a later pass, as a bulk export's one-type files, is not read
by that pass), and rows are mapped and written ``BATCH_SIZE`` at a time (new rows in one ``executemany``).
Speed without a second rule: a line whose bytes cannot hold an unstorable value (``values.plain_json``) is
parsed by orjson and not walked for one; orders with the same dosage instructions or medication concept share
one reading of them (``mapping.map_dosage``, bounded memos); the results are those of the careful paths
(tests/unit/test_import_fast_paths.py). What stays for the whole import is ids:
FHIR id -> row id of imported patients and orders, ids seen and skipped per type, Medication resources and
Bundle fullUrls. A .json document (one resource or a Bundle) is read whole. All batches are written in ONE
transaction, so the import stays all-or-nothing for the good rows (a store error or a dry run rolls every
batch back); SQLite spills the transaction's pages to the WAL file itself, so the store's cache is bounded
by its own ``cache_size``, not by the input.

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
from typing import Any, Callable, Iterator, TYPE_CHECKING
from zoneinfo import ZoneInfo


from medjobs_tui.config import Settings
from medjobs_tui.fhir.mapping import (
    DISPENSE_IMPORTED_STATUSES,
    MEMO_LIMIT,
    DosageMemo,
    FieldError,
    Mapped,
    MedicationInfo,
    map_dispense,
    map_patient,
    map_request,
    medication_from_concept,
    medication_from_resource,
    memo_key,
    now_iso,
)
from medjobs_tui.clock import parse_iso
from medjobs_tui.fhir import values
from medjobs_tui.fhir.preferences import preferred_channel
from medjobs_tui.fhir.reader import (
    NDJSON_SUFFIXES, Found, ReadResult, expand_paths, ndjson_lines, read_json_file, read_ndjson_line, sniff_type,
)
from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text
from medjobs_tui.store import preferences as store_prefs
from medjobs_tui.store import records, transaction

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""FHIR R4 id grammar (datatypes.html#id): 1-64 letters, digits, '-' and '.'."""

IMPORTED_TYPES = ("Patient", "MedicationRequest", "MedicationDispense", "Medication")
"""Resource types the importer reads; every other type is counted as ignored."""

R4_RESOURCE_TYPES = frozenset("""
Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent Basic Binary
BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem
ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication CommunicationRequest
CompartmentDefinition Composition ConceptMap Condition Consent Contract Coverage CoverageEligibilityRequest
CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement
DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis Encounter Endpoint EnrollmentRequest
EnrollmentResponse EpisodeOfCare EventDefinition Evidence EvidenceVariable ExampleScenario ExplanationOfBenefit
FamilyMemberHistory Flag Goal GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization
ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library Linkage List
Location Measure MeasureReport Media Medication MedicationAdministration MedicationDispense MedicationKnowledge
MedicationRequest MedicationStatement MedicinalProduct MedicinalProductAuthorization MedicinalProductContraindication
MedicinalProductIndication MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition
MessageHeader MolecularSequence NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition
OperationOutcome Organization OrganizationAffiliation Parameters Patient PaymentNotice PaymentReconciliation Person
PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse
RelatedPerson RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen SpecimenDefinition StructureDefinition
StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer SubstanceProtein
SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification SupplyDelivery SupplyRequest Task
TerminologyCapabilities TestReport TestScript ValueSet VerificationResult VisionPrescription
""".split())
"""The resource types of FHIR R4 (https://hl7.org/fhir/R4/resourcelist.html): the import report names an ignored
type only if it is one of these. Any other ``resourceType`` is input as typed, which may be anything (a name, a
phone number): it is counted as OTHER_TYPE, never echoed."""

OTHER_TYPE = "(not a FHIR R4 resource type)"
"""How the import report counts resources whose ``resourceType`` is not a FHIR R4 resource type name."""

_SUMMARY_LIST_LIMIT = 20

BATCH_SIZE = 1000
"""Resources mapped and written per batch: the bound on resource bodies held in memory at once."""


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
    - ``orders_active`` (status active, an order to give) + ``orders_not_to_give`` (status active, but no order
      to give: ``doNotPerform`` or an intent that is no order, ``mapping.not_to_give``; never acted on) +
      ``orders_stopped`` (every other status) = orders imported;
      their ``schedule_status`` split: ``scheduled``, ``prn``, ``no_schedule``, ``deceased_orders``
      (patient deceased, any status), ``inactive`` (living patient, status not active or no order to give).
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
    orders_not_to_give: int = 0
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
        """Medication requests imported (active + active but not to give + every other status)."""
        return self.orders_active + self.orders_not_to_give + self.orders_stopped

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
            f"{self.orders_not_to_give:,} active but not to give, {self.orders_stopped:,} stopped or other status; {self.orders_new:,} new, "
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


_PASS_OF = {"MedicationRequest": 2, "MedicationDispense": 3}
"""Which pass handles a resource type: 1 Patient, Medication and every other type; 2 orders; 3 dispenses."""


class _Importer:
    """One import run in three streamed passes over the input; see ``import_paths``.

    Held for the whole run (bounded by the number of ids, not by the resources' bodies): FHIR id ->
    row id maps of imported patients and orders, the ids seen per type (duplicates), the ids skipped
    per type (to say why a reference fails), Medication resources (to resolve ``medicationReference``)
    and the Bundle ``fullUrl`` map. Resource bodies are held one batch at a time, except those of .json
    documents, which are read whole."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings, files: list[Path], now: str,
                 dry_run: bool = False, batch_size: int = BATCH_SIZE) -> None:
        self.db = db
        self.dry_run = dry_run
        self.settings = settings
        self.zone = settings.zone
        self.files = files
        self.now = now
        self.batch_size = max(1, batch_size)
        self.report = ImportReport()
        self.read = ReadResult()            # full_urls for the whole run; resources/problems drained per record
        self.seen: dict[str, dict[str, tuple[str, int | None]]] = {t: {} for t in IMPORTED_TYPES}
        self.skipped_ids: dict[str, set[str]] = {t: set() for t in IMPORTED_TYPES}
        self.medications: dict[str, dict[str, Any]] = {}
        self.patients: dict[str, tuple[int, bool]] = {}      # FHIR id -> (row id, deceased)
        self.requests: dict[str, tuple[int, int, str | None, str | None]] = {}   # FHIR id -> (row id, patient row id,
        #                                                                       dose unit, medication text)
        self.deceased_ids: list[int] = []
        self.unreadable: set[int] = set()
        self.held: dict[int, list[Found]] = {}               # .json file index -> its orders and dispenses
        self.passes_of: dict[int, set[int]] = {}             # NDJSON file index -> the passes its lines need
        self.dosage_memo: dict[bytes, DosageMemo] = {}       # see mapping.map_dosage (bounded)
        self.zones: dict[int, ZoneInfo] = {}                  # patient row id -> their zone (see _patient_zone)
        self.concept_memo: dict[bytes, MedicationInfo | None] = {}  # medicationCodeableConcept -> its info (bounded)
        self.ignored: Counter = Counter()
        self.pseudonym_number = 0
        self.channel_names = settings.notifications.channels_for("patient")

    # -- reporting ---------------------------------------------------------------------------
    def skip(self, found: Found, path: str, problem: str) -> None:
        self.report.skipped.append(SkippedLine(found.loc.file, found.loc.line,
                                               f"{found.type} {found.loc.at(path)}: {problem}"))
        if found.id:
            self.skipped_ids[found.type].add(found.id)

    def warn(self, found: Found, path: str, problem: str) -> None:
        self.report.warnings.append(SkippedLine(found.loc.file, found.loc.line,
                                                f"{found.type} {found.loc.at(path)}: {problem}"))

    # -- reading -------------------------------------------------------------------------------
    def _records(self, pass_no: int) -> Iterator[Found]:
        """The resources pass ``pass_no`` handles, in input order, one at a time. Problems of the input
        are reported by the pass that owns the line (pass 1, or the pass of the line's sniffed type)."""
        sink = self.read
        for index, path in enumerate(self.files):
            if index in self.unreadable:
                continue
            name = str(path)
            if path.suffix.lower() not in NDJSON_SUFFIXES:
                if pass_no == 1:
                    if not read_json_file(path, sink):
                        self.unreadable.add(index)
                        self._drain_problems()
                        continue
                    self.report.files += 1
                    self.report.lines += sink.lines
                    sink.lines = 0
                    found_all, sink.resources = sink.resources, []
                    self._drain_problems()
                    for found in found_all:
                        if found.type in _PASS_OF:
                            self.held.setdefault(index, []).append(found)
                        else:
                            yield found
                else:
                    yield from (f for f in self.held.get(index, ()) if _PASS_OF.get(f.type) == pass_no)
                continue
            if pass_no == 1:
                needed = self.passes_of[index] = set()
            elif pass_no not in self.passes_of.get(index, (pass_no,)):
                continue   # pass 1 saw no line of this file for this pass (a bulk export has one type per file)
            try:
                for number, raw in ndjson_lines(path):
                    if pass_no == 1:
                        self.report.lines += 1
                    sniffed = sniff_type(raw)
                    owner = _PASS_OF.get(sniffed, 1) if sniffed is not None else None
                    if pass_no == 1 and owner is not None:
                        needed.add(owner)
                    if owner is not None and owner != pass_no:
                        continue
                    read_ndjson_line(name, number, raw, sink)
                    found_all, sink.resources = sink.resources, []
                    if sink.problems:
                        if owner is None and pass_no != 1:
                            sink.problems.clear()      # reported by pass 1
                        self._drain_problems()
                    for found in found_all:
                        found_pass = _PASS_OF.get(found.type, 1)
                        if pass_no == 1 and owner is None:
                            needed.add(found_pass)
                        if found_pass == pass_no:
                            yield found
            except OSError as exc:
                if pass_no == 1:
                    self.unreadable.add(index)
                    self.report.skipped.append(SkippedLine(
                        name, None, f"cannot read the file ({exc.strerror or type(exc).__name__});"
                                    " no resource of it imported"))
                continue
            if pass_no == 1:
                self.report.files += 1

    def _drain_problems(self) -> None:
        self.report.skipped.extend(SkippedLine(p.file, p.line, p.reason) for p in self.read.problems)
        self.read.problems.clear()

    def admit(self, found: Found) -> bool:
        """The checks every imported resource passes first: an id (FHIR grammar), no hostile value, not a
        duplicate of an id of its type seen earlier in the input. False after reporting it."""
        if not found.id:
            self.skip(found, "id", "missing")
            return False
        if not FHIR_ID.fullmatch(found.id):
            self.skip(found, "id", "not a FHIR id (1-64 letters, digits, '-' or '.')")
            return False
        problems = values.resource_problems(found.type, found.resource, storable=found.storable)
        if problems:
            path, problem = problems[0]
            more = f" (and {len(problems) - 1} more value problem(s))" if len(problems) > 1 else ""
            self.skip(found, path, problem + more)
            return False
        seen = self.seen[found.type]
        if found.id in seen:
            file, line = seen[found.id]
            where = f"{file}:{line}" if line is not None else file
            self.skip(found, "id", f"duplicate {found.type} id (first at {where}); this one not imported")
            return False
        seen[found.id] = (found.loc.file, found.loc.line)
        return True

    def _batches(self, pass_no: int, prepare: Callable[[Found], Any]) -> Iterator[list[Any]]:
        """Admitted resources of pass ``pass_no`` through ``prepare`` (None: reported and dropped), in
        lists of at most ``batch_size``; at least one list, maybe empty (every pass writes once)."""
        batch: list[Any] = []
        yielded = False
        for found in self._records(pass_no):
            if found.type not in IMPORTED_TYPES:
                self.ignored[found.type if found.type in R4_RESOURCE_TYPES else OTHER_TYPE] += 1
                continue
            if not self.admit(found):
                continue
            item = prepare(found)
            if item is None:
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield batch
                batch, yielded = [], True
        if batch or not yielded:
            yield batch

    # -- medication[x] -------------------------------------------------------------------------
    def medication(self, found: Found) -> MedicationInfo:
        res = found.resource
        if res.get("medicationCodeableConcept") is not None:
            concept = res["medicationCodeableConcept"]
            key = memo_key(concept)
            if key is None or key not in self.concept_memo:
                info = medication_from_concept(concept)
                if key is not None:
                    if len(self.concept_memo) >= MEMO_LIMIT:
                        self.concept_memo.clear()
                    self.concept_memo[key] = info
            else:
                info = self.concept_memo[key]
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
                med = self.medications.get(mid)
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

    def rejected(self, by_id: dict[str, Found], rejected: dict[str, str]) -> None:
        """Report rows the store refused one by one (each rolled back alone; see records.upsert_*)."""
        for fhir_id, what in rejected.items():
            self.skip(by_id[fhir_id], "", f"the store refused a value ({what}); not imported")

    def run(self) -> ImportReport:
        report = self.report
        try:
            with transaction(self.db):
                self.pseudonym_number = records.next_pseudonym_number(self.db)
                for batch in self._batches(1, self._prepare_patient):
                    self._write_patients(batch)
                report.ignored = dict(sorted(self.ignored.items()))
                report.medications = len(self.medications)
                for batch in self._batches(2, self._prepare_request):
                    self._write_requests(batch)
                report.orders_marked_deceased = records.mark_orders_deceased(self.db, self.deceased_ids, self.now)
                for batch in self._batches(3, self._prepare_dispense):
                    self._write_dispenses(batch)
                if self.dry_run:
                    raise _DryRun
        except _DryRun:
            report.dry_run = True
        return report

    # -- pass 1: patients (and Medication resources, and counting the other types) ----------------
    def _prepare_patient(self, found: Found) -> tuple[Found, dict[str, Any], str | None] | None:
        if found.type == "Medication":
            self.medications[found.id] = found.resource
            return None
        mapped = self.mapped_row(found, lambda: map_patient(found.resource, self.settings.zone))
        if mapped is None:
            return None
        channel = (preferred_channel(found.resource, self.channel_names, parse_iso(self.now))
                   if self.channel_names else None)
        return Found(found.type, found.id, {}, found.loc), mapped.row, channel

    def _write_patients(self, batch: list[tuple[Found, dict[str, Any], str | None]]) -> None:
        report = self.report
        rows = [row for _, row, _ in batch]
        ids, pc = records.upsert_patients(self.db, rows, self.now, first_number=self.pseudonym_number)
        self.pseudonym_number += pc.inserted
        self.rejected({f.id: f for f, _, _ in batch}, pc.rejected)
        wanted: dict[int, str] = {}
        for found, row, channel in batch:
            if found.id in pc.rejected:
                continue
            row_id = ids[found.id]
            self.patients[found.id] = (row_id, bool(row["deceased"]))
            if row["deceased"]:
                self.deceased_ids.append(row_id)
            if channel:
                wanted[row_id] = channel
            report.patients += 1
        report.patients_new += pc.inserted
        report.patients_changed += pc.updated
        report.preferences += self._preferences(wanted)

    def _preferences(self, wanted: dict[int, str]) -> int:
        """Preferred channels from Patient.telecom rank (``fhir.preferences``); never over staff's. Returns
        how many patients' preferences were set or changed."""
        if not wanted:
            return 0
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
        if row["status"] == "active" and row["not_to_give"]:
            report.orders_not_to_give += step     # in force, but an order NOT to give: never counted as active
        elif row["status"] == "active":
            report.orders_active += step
        else:
            report.orders_stopped += step
        status = row["schedule_status"]
        name = "deceased_orders" if status == "deceased" else status
        setattr(report, name, getattr(report, name) + step)

    def _uncount(self, row: dict[str, Any]) -> None:
        self._count(row, -1)

    # -- pass 2: medication requests -------------------------------------------------------------
    def _prepare_request(self, found: Found) -> tuple[Found, str] | None:
        try:
            return found, _ref_id(found.resource.get("subject"), "Patient", "subject", self.read.full_urls)
        except _Skip as exc:
            self.skip(found, exc.path, exc.problem)
            return None

    def _patient_zone(self, patient_id: int) -> ZoneInfo:
        """The zone a patient's dates are read in: their own (``patients.timezone``, set by the clinic), else the
        clinic's. Read once per patient (``_write_requests`` reads a batch's at once)."""
        zone = self.zones.get(patient_id)
        if zone is None:
            name = records.patient_zones(self.db, [patient_id]).get(patient_id)
            zone = self.zones[patient_id] = ZoneInfo(name) if name else self.zone
        return zone

    def _write_requests(self, batch: list[tuple[Found, str]]) -> None:
        report = self.report
        stored_patients = records.find_patients(self.db, {s for _, s in batch if s not in self.patients})
        wanted = {self.patients[s][0] if s in self.patients else stored_patients[s].id
                  for _, s in batch if s in self.patients or s in stored_patients}
        for pid, name in records.patient_zones(self.db, wanted - self.zones.keys()).items():
            self.zones[pid] = ZoneInfo(name) if name else self.zone
        rows: list[dict[str, Any]] = []
        by_id: dict[str, Found] = {}
        for found, subject in batch:
            try:
                if subject in self.patients:
                    patient_id, deceased = self.patients[subject]
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
                found.resource, self.medication(found), patient_id, deceased, self.settings, self.dosage_memo,
                self._patient_zone(patient_id)))
            if mapped is None:
                continue
            for path, problem in mapped.warnings:
                self.warn(found, path, problem)
            rows.append(mapped.row)
            by_id[found.id] = found
            self._count(mapped.row)
        request_ids, rc = records.upsert_medication_requests(self.db, rows, self.now)
        self.rejected(by_id, rc.rejected)
        for row in rows:
            if row["fhir_id"] in rc.rejected:
                self._uncount(row)
            else:
                self.requests[row["fhir_id"]] = (request_ids[row["fhir_id"]], row["patient_id"], row.get("dose_unit"),
                                                 row.get("medication_text"))
        report.orders_new += rc.inserted
        report.orders_changed += rc.updated

    # -- pass 3: dispenses -------------------------------------------------------------------------
    def _prepare_dispense(self, found: Found) -> tuple[Found, str, str | _Skip | None] | None:
        """(found, its order's FHIR id, its subject's FHIR id, or the _Skip saying why the subject cannot be
        read, or None when it names none), or None after reporting a dispense without a usable order."""
        res = found.resource
        auth = res.get("authorizingPrescription")
        try:
            if not isinstance(auth, list) or not auth:
                raise _Skip("authorizingPrescription", "missing; a dispense is stored against its order")
            request = _ref_id(auth[0], "MedicationRequest", "authorizingPrescription[0]", self.read.full_urls)
        except _Skip as exc:
            self.skip(found, exc.path, exc.problem)
            return None
        subject: str | _Skip | None = None
        if res.get("subject") is not None:
            try:
                subject = _ref_id(res["subject"], "Patient", "subject", self.read.full_urls)
            except _Skip as exc:
                subject = exc
        return found, request, subject

    def _write_dispenses(self, batch: list[tuple[Found, str, str | _Skip | None]]) -> None:
        report = self.report
        stored_requests = records.find_requests(self.db, {r for _, r, _ in batch if r not in self.requests})
        stored_patients = records.find_patients(self.db, {s for _, _, s in batch
                                                          if isinstance(s, str) and s not in self.patients})
        rows: list[dict[str, Any]] = []
        remove: list[str] = []
        by_id: dict[str, Found] = {}
        for found, request_fhir_id, subject in batch:
            res = found.resource
            try:
                status = res.get("status")
                if not isinstance(status, str) or not status:
                    raise _Skip("status", "missing")
                if status not in DISPENSE_IMPORTED_STATUSES:
                    remove.append(found.id)
                    raise _Skip("status", "not 'completed': not supply the patient has; not imported")
                if request_fhir_id in self.requests:
                    request_id, patient_id, dose_unit, medication_text = self.requests[request_fhir_id]
                elif request_fhir_id in stored_requests:
                    stored = stored_requests[request_fhir_id]
                    request_id, patient_id, dose_unit, medication_text = (stored.id, stored.patient_id, stored.dose_unit,
                                                                          stored.medication_text)
                elif request_fhir_id in self.skipped_ids["MedicationRequest"]:
                    raise _Skip("authorizingPrescription[0].reference", "its MedicationRequest was skipped")
                else:
                    raise _Skip("authorizingPrescription[0].reference",
                                "the MedicationRequest is neither in the input nor in the store")
                if isinstance(subject, _Skip):
                    raise subject
                if subject is not None:
                    subject_id = self.patients[subject][0] if subject in self.patients else (
                        stored_patients[subject].id if subject in stored_patients else None)
                    if subject_id != patient_id:
                        raise _Skip("subject.reference", "not the patient of the authorizing prescription")
            except _Skip as exc:
                self.skip(found, exc.path, exc.problem)
                continue
            mapped = self.mapped_row(found, lambda: map_dispense(res, request_id, patient_id, self.zone, dose_unit,
                                                                        medication_text))
            if mapped is None:
                continue
            for path, problem in mapped.warnings:
                self.warn(found, path, problem)
            rows.append(mapped.row)
            by_id[found.id] = found
        dc = records.upsert_dispenses(self.db, rows, self.now)
        self.rejected(by_id, dc.rejected)
        report.dispenses += len(rows) - len(dc.rejected)
        report.dispenses_new += dc.inserted
        report.dispenses_changed += dc.updated
        report.dispenses_removed += records.delete_dispenses(self.db, remove)


def import_paths(db: sqlite_utils.Database, settings: Settings, paths: list[Path], now: datetime, *,
                 dry_run: bool = False, batch_size: int = BATCH_SIZE) -> ImportReport:
    """Import FHIR R4 files into the store in ONE transaction and report what happened.

    ``paths``: .ndjson/.jsonl (bulk export, one resource per line) and .json (one resource or a
    Bundle) files, or directories holding them (not recursive). ``now``: aware datetime, written as
    UTC created_at/updated_at of new and changed rows. ``settings.clinic`` gives the administration-time
    table (Timing code -> local HH:MM) and the zone for dates without an offset (an order's ``authoredOn`` and
    dosage bounds are read in the patient's own zone when the clinic set one: ``mapping.map_request``). ``dry_run``: do
    everything, then roll the transaction back; the report (``dry_run=True``) counts what would change.

    The files are streamed in three passes (patients, then orders, then dispenses; see the module notes)
    and written ``batch_size`` resources at a time, all in ONE transaction: references resolve to a
    target anywhere in this input (any file, any order, an earlier batch) or already in the store
    (MedicationRequest.subject -> Patient, MedicationDispense.authorizingPrescription -> MedicationRequest);
    unusable resources are skipped and reported. Memory is bounded by ``batch_size`` resources plus the
    ids of the input, not by its size. Hostile
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
    files = expand_paths(list(paths))
    return _Importer(db, settings, files, now_text, dry_run=dry_run, batch_size=batch_size).run()
