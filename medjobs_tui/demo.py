"""A deterministic synthetic demo clinic: pseudonymous patients, real RxNorm drugs, fills, counts and a dose log.

``generate_demo(db, settings, now, seed=7, patients=50)`` writes, in one transaction, a clinic in which
every job has real work at ``now``: doses due in the next minutes, doses past the catch-up limit with no
confirmation, refills and a renewal due, critical/low/unknown supply, three interacting pairs, yesterday's
dose log for the analytics and fills for PDC. The same seed and ``now`` give identical data
(``random.Random(seed)``; nothing reads the wall clock).

No real patient data: patients are ``P-00001``.. with a birth year only, source 'demo'. Drugs are real
RxNorm clinical drugs (code and name), so ingredient matching works as on imported data. One code is left
empty on purpose (see FORMULARY) rather than guessed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TYPE_CHECKING
from zoneinfo import ZoneInfo


from medjobs_tui.clinical.dosing import dose_instants
from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text
from medjobs_tui.clock import iso
from medjobs_tui.config import Settings
from medjobs_tui.store import clinical as store
from medjobs_tui.store.db import transaction

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils

MIN_PATIENTS = 12
DOSE_LOG_DAYS = 21
FILL_HISTORY_DAYS = 95
TAKEN_RATE = 0.85


class DemoError(Exception):
    """The demo clinic cannot be written (the store already has patients, or bad arguments)."""


@dataclass(frozen=True)
class Drug:
    """A formulary entry: RxNorm code (None where not verified) and clinical-drug name, dose unit, usual codes."""

    key: str
    rxnorm: str | None
    text: str
    unit: str
    codes: tuple[str, ...]          # timing codes it is given with; empty = PRN only
    prn: bool = False               # may be ordered as needed


# RxNorm codes below were checked against Synthea's bundled data, the eCQM value sets or NDC crosswalks.
FORMULARY: dict[str, Drug] = {d.key: d for d in (
    Drug("lisinopril", "314076", "lisinopril 10 MG Oral Tablet", "tablet", ("QD",)),
    Drug("amlodipine", "197361", "amlodipine 5 MG Oral Tablet", "tablet", ("QD",)),
    Drug("hctz", "310798", "Hydrochlorothiazide 25 MG Oral Tablet", "tablet", ("QD",)),
    Drug("metformin", "861007", "metformin hydrochloride 500 MG Oral Tablet", "tablet", ("BID",)),
    Drug("metoprolol", "866412", "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet", "tablet", ("QD",)),
    Drug("levothyroxine", "966222", "levothyroxine sodium 0.05 MG Oral Tablet", "tablet", ("QD",)),
    Drug("simvastatin10", "314231", "Simvastatin 10 MG Oral Tablet", "tablet", ("QD",)),
    Drug("warfarin", "855332", "warfarin sodium 5 MG Oral Tablet", "tablet", ("QD",)),
    Drug("sertraline", "312941", "sertraline 50 MG Oral Tablet", "tablet", ("QD",)),
    Drug("escitalopram", "349332", "escitalopram 10 MG Oral Tablet", "tablet", ("QD",)),
    Drug("acetaminophen", "313782", "Acetaminophen 325 MG Oral Tablet", "tablet", ("QID",), prn=True),
    Drug("ibuprofen", "310965", "Ibuprofen 200 MG Oral Tablet", "tablet", ("TID",), prn=True),
    Drug("albuterol", "745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "actuation", (),
         prn=True),
    # Seeded interacting drugs (given only to the seeded patients, never drawn at random):
    Drug("simvastatin20", "312961", "Simvastatin 20 MG Oral Tablet", "tablet", ("QD",)),
    Drug("clarithromycin", "197517", "clarithromycin 500 MG Oral Tablet", "tablet", ("BID",)),
    Drug("phenelzine", "312347", "phenelzine 15 MG Oral Tablet", "tablet", ("TID",)),
    Drug("ciprofloxacin", "309309", "ciprofloxacin 500 MG Oral Tablet", "tablet", ("BID",)),
    # tizanidine's RxNorm code could not be verified offline: left empty rather than guessed.
    Drug("tizanidine", None, "tizanidine 4 MG Oral Tablet", "tablet", ("TID",)),
    # Ordered without any dosage instruction (as many Synthea orders are): "no schedule".
    Drug("alendronate", "904419", "Alendronic acid 10 MG Oral Tablet", "tablet", ()),
)}
ROUTINE = ("lisinopril", "amlodipine", "hctz", "metformin", "metoprolol", "levothyroxine", "simvastatin10",
           "warfarin", "sertraline", "escitalopram", "acetaminophen", "ibuprofen", "albuterol")
"""Drugs drawn at random: none of them interacts with another under the ONC baseline."""
SEEDED_PAIRS = (("simvastatin20", "clarithromycin"), ("sertraline", "phenelzine"), ("tizanidine", "ciprofloxacin"))
"""Interacting pairs given to one patient each (ONC pairs 25, 8 and 28)."""
OTHER_ZONES = ("America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix")


@dataclass
class DemoReport:
    """What ``generate_demo`` wrote: counts, and the pseudonyms of the seeded scenarios (no other data)."""

    seed: int
    now: str
    patients: int = 0
    deceased: int = 0
    opted_out: int = 0
    other_zone: int = 0
    orders: int = 0
    scheduled_orders: int = 0
    prn_orders: int = 0
    no_schedule_orders: int = 0
    dispenses: int = 0
    supply_counts: int = 0
    dose_log: int = 0
    supply_targets: dict[str, int] = field(default_factory=dict)
    interacting_patients: dict[str, str] = field(default_factory=dict)   # "drug+drug" -> pseudonym
    unconfirmed_orders: list[int] = field(default_factory=list)          # last ~20 h left out of the dose log
    renewal_orders: list[int] = field(default_factory=list)              # no fills left, supply low/critical
    counted_30_bid_order: int | None = None                              # staff count of 30 units at now, BID

    def __str__(self) -> str:
        return (f"{self.patients} patients ({self.deceased} deceased, {self.opted_out} opted out, "
                f"{self.other_zone} in other zones), {self.orders} active orders ({self.scheduled_orders} scheduled, "
                f"{self.prn_orders} PRN, {self.no_schedule_orders} without schedule), {self.dispenses} dispenses, "
                f"{self.supply_counts} supply counts, {self.dose_log} dose-log entries "
                f"(seed {self.seed})")


def has_patients(db: sqlite_utils.Database) -> bool:
    """True if the store already holds patients (``medjobs demo --if-empty`` then does nothing)."""
    return store.has_patients(db)


def generate_demo(db: sqlite_utils.Database, settings: Settings, now: datetime, seed: int = 7, patients: int = 50,
                  replace: bool = False) -> DemoReport:
    """Write a deterministic demo clinic of ``patients`` patients as of ``now`` (aware) in ONE transaction.

    Refuses (DemoError) when the store already has patients, unless ``replace`` (then the clinic's patient
    data is deleted first, in the same transaction; users, runs and the audit log stay). Raises DemoError
    for fewer than MIN_PATIENTS patients or a naive ``now``. Returns a DemoReport of counts.
    """
    if now.tzinfo is None:
        raise DemoError("generate_demo needs an aware 'now' (UTC)")
    if patients < MIN_PATIENTS:
        raise DemoError(f"the demo clinic needs at least {MIN_PATIENTS} patients (got {patients})")
    rng = random.Random(seed)
    report = DemoReport(seed=seed, now=iso(now))
    with transaction(db):
        if store.has_patients(db):
            if not replace:
                raise DemoError("the store already has patients; the demo is written only to an empty store "
                                "(or over an earlier demo, with --replace)")
            store.clear_clinic_data(db)
        _Builder(db, settings, now, rng, report).build(patients)
    return report


class _Builder:
    def __init__(self, db: sqlite_utils.Database, settings: Settings, now: datetime, rng: random.Random,
                 report: DemoReport) -> None:
        self.db, self.settings, self.now, self.rng, self.report = db, settings, now, rng, report
        self.stamp = iso(now)
        self.orders: list[dict[str, Any]] = []

    # ---------------------------------------------------------------------------------- patients
    def build(self, n: int) -> None:
        rng = self.rng
        indices = list(range(1, n + 1))
        special = rng.sample(indices, len(SEEDED_PAIRS) + 2 + 2 + len(OTHER_ZONES) + 1)
        seeded = special[:len(SEEDED_PAIRS)]
        deceased = set(special[3:5])
        opted_out = set(special[5:7])
        zones = dict(zip(special[7:7 + len(OTHER_ZONES)], OTHER_ZONES))
        no_schedule_patient = special[-1]

        for i in indices:
            pid = store.insert_patient(
                self.db, pseudonym=f"P-{i:05d}", source="demo",
                birth_year=rng.randint(1928, 1960) if i in deceased else rng.randint(1935, 2004),
                deceased=i in deceased, timezone=zones.get(i), reminders_opt_out=i in opted_out,
                created_at=self.stamp,
            )
            patient = {"id": pid, "pseudonym": f"P-{i:05d}", "deceased": i in deceased, "opted_out": i in opted_out,
                       "zone": zones.get(i)}
            self.report.patients += 1
            self.report.deceased += int(i in deceased)
            self.report.opted_out += int(i in opted_out)
            self.report.other_zone += int(i in zones)

            drugs: list[str] = []
            if i in seeded:
                pair = SEEDED_PAIRS[seeded.index(i)]
                drugs.extend(pair)
                self.report.interacting_patients["+".join(FORMULARY[k].key for k in pair)] = patient["pseudonym"]
                routine = [k for k in ROUTINE if k not in pair]
                drugs.extend(rng.sample(routine, rng.choice((0, 1, 1, 2))))
            else:
                drugs.extend(rng.sample(ROUTINE, rng.choice((1, 2, 2, 3, 3, 4))))
            if i == no_schedule_patient:
                drugs.append("alendronate")
            for key in drugs:
                self._order(patient, FORMULARY[key])

        self._supply()
        self._dose_log()

    # ------------------------------------------------------------------------------------ orders
    def _order(self, patient: dict[str, Any], drug: Drug) -> None:
        rng = self.rng
        prn = (drug.prn and not drug.codes) or (drug.prn and rng.random() < 0.5)
        code = None if prn or not drug.codes else rng.choice(drug.codes)
        times = list(self.settings.clinic.administration_times[code]) if code else []
        per_day = float(len(times)) if code else None
        dose_qty = 2.0 if drug.key == "albuterol" else (2.0 if drug.key == "metformin" and rng.random() < 0.3 else 1.0)
        acute = drug.key in ("clarithromycin", "ciprofloxacin")
        if drug.key == "alendronate":
            schedule, dose_qty = "no_schedule", None
        elif prn:
            schedule = "prn"
        else:
            schedule = "scheduled"
        authored = self.now - timedelta(days=rng.randint(3, 6) if acute else rng.randint(100, 400),
                                        hours=rng.randint(0, 8))
        usage = dose_qty * per_day if (dose_qty and per_day) else None
        if acute:
            stated_days, quantity = 14.0, (usage or 2.0) * 14
        elif drug.key == "albuterol":
            stated_days, quantity = 30.0, 200.0
        else:
            stated_days = rng.choice((30.0, 30.0, 30.0, 90.0))
            quantity = (usage or 1.0) * stated_days
            if usage and stated_days == 30.0 and rng.random() < 0.08:
                quantity = usage * 28          # a 28-day pack stated as 30 days: a supply-duration mismatch
        oid = store.insert_medication_request(
            self.db, patient_id=patient["id"], status="active", rxnorm=drug.rxnorm, medication_text=drug.text,
            ingredients=ingredients_from_rxnorm_text(drug.text), schedule_status=schedule, timing_code=code,
            frequency=per_day, period=1.0 if code else None, period_unit="d" if code else None, times_of_day=times,
            doses_per_day=per_day, dose_quantity=dose_qty, dose_unit=drug.unit, authored_on=iso(authored),
            bounds_start=iso(authored) if acute else None,
            bounds_end=iso(authored + timedelta(days=14)) if acute else None,
            dispense_quantity=quantity, expected_supply_days=stated_days,
            repeats_allowed=0 if acute else rng.choice((1, 2, 3, 5, 11)),
            prescriber_ref=f"Practitioner/demo-{rng.randint(1, 6)}", created_at=iso(authored), updated_at=self.stamp,
        )
        self.report.orders += 1
        self.report.scheduled_orders += int(schedule == "scheduled")
        self.report.prn_orders += int(schedule == "prn")
        self.report.no_schedule_orders += int(schedule == "no_schedule")
        self.orders.append(dict(id=oid, patient=patient, drug=drug, schedule=schedule, code=code, times=times,
                                usage=usage, quantity=quantity, stated_days=stated_days, authored=authored,
                                acute=acute))

    # ------------------------------------------------------------------------------------ supply
    def _supply(self) -> None:
        """Fills over the last ~90 days and staff counts that give each scheduled order a target status."""
        rng = self.rng
        live = [o for o in self.orders if o["schedule"] == "scheduled" and not o["patient"]["deceased"]
                and not o["acute"]]
        order = live[:]
        rng.shuffle(order)
        targets: dict[int, str] = {}
        forced = ["critical", "critical", "low", "low", "low", "low", "unknown", "unknown", "unknown", "unknown"]
        for o, t in zip(order, forced):
            targets[o["id"]] = t
        for o in order[len(forced):]:
            targets[o["id"]] = rng.choices(("ok", "low", "critical", "unknown"), weights=(80, 8, 4, 8))[0]
        counts = {t: list(targets.values()).count(t) for t in ("ok", "low", "critical", "unknown")}
        self.report.supply_targets = counts

        th = self.settings.clinic.thresholds
        renewal_left = 2
        for o in self.orders:
            target = targets.get(o["id"])
            if o["schedule"] == "prn" and o["drug"].key == "albuterol":
                self._fill(o, self.now - timedelta(days=rng.randint(5, 40), hours=rng.randint(0, 9)))
                continue
            if o["acute"]:                       # a short course, filled once when prescribed
                self._fill(o, o["authored"] + timedelta(hours=2))
                continue
            if target is None or target == "unknown" or o["usage"] is None:
                continue
            effective = min(o["stated_days"], o["quantity"] / o["usage"])
            if target == "critical":
                d = rng.randint(0, th.critical_supply_days)
            elif target == "low":
                d = rng.randint(th.critical_supply_days + 1, th.low_supply_days)
            else:
                d = rng.randint(th.low_supply_days + 1, max(th.low_supply_days + 1, int(effective) - 1))
            d = min(d, int(effective) - 1)
            frac = rng.uniform(0.3, 0.7)
            last = self.now - timedelta(days=effective - d - frac)
            fills = [last]
            at = last
            while True:
                at = at - timedelta(days=o["stated_days"] + rng.uniform(-3, 5))
                if at < max(self.now - timedelta(days=FILL_HISTORY_DAYS), o["authored"]):
                    break
                fills.append(at)
            for when in sorted(fills):
                self._fill(o, when)
            used = len(fills)
            repeats = max(used - 1, rng.choice((1, 2, 3, 5, 11)))
            if target in ("critical", "low") and renewal_left > 0:
                repeats, renewal_left = used - 1, renewal_left - 1      # no fills left: renewal needed
                self.report.renewal_orders.append(o["id"])
            store.set_repeats_allowed(self.db, o["id"], repeats)
            # about a third of known supplies also have a recent staff count, consistent with the fills
            since = (self.now - last).total_seconds() / 86400
            if since > 1.5 and rng.random() < 0.35:
                k = rng.uniform(0.5, since - 0.5)
                on_hand = (d + frac + k) * o["usage"]
                store.insert_supply_count(self.db, medication_request_id=o["id"], quantity=float(round(on_hand)),
                                          counted_at=iso(self.now - timedelta(days=k)), source="staff")
                self.report.supply_counts += 1

        # the seed example, on the demo: a BID order counted at 30 units right now -> 15 days left (ok)
        for o in order:
            if targets[o["id"]] == "ok" and o["code"] == "BID" and o["usage"] == 2.0:
                store.insert_supply_count(self.db, medication_request_id=o["id"], quantity=30.0, counted_at=self.stamp,
                                          source="staff")
                self.report.supply_counts += 1
                self.report.counted_30_bid_order = o["id"]
                break

    def _fill(self, o: dict[str, Any], when: datetime) -> None:
        store.insert_dispense(self.db, medication_request_id=o["id"], patient_id=o["patient"]["id"],
                              quantity=o["quantity"], days_supply=o["stated_days"], handed_over_at=iso(when),
                              created_at=self.stamp)
        self.report.dispenses += 1

    # ---------------------------------------------------------------------------------- dose log
    def _dose_log(self) -> None:
        """~85 % taken over the last 21 days up to now; a few orders left unconfirmed for the last ~20 h."""
        rng = self.rng
        live = [o for o in self.orders if o["schedule"] == "scheduled" and not o["patient"]["deceased"]]
        candidates = [o for o in live if not o["patient"]["opted_out"] and o["code"] not in (None, "QD")]
        unconfirmed = {o["id"] for o in rng.sample(candidates, min(3, len(candidates)))}
        self.report.unconfirmed_orders = sorted(unconfirmed)
        cut = self.now - timedelta(hours=20)
        rows: list[tuple[int, int, str, str, str]] = []
        for o in live:
            zone = ZoneInfo(o["patient"]["zone"]) if o["patient"]["zone"] else self.settings.zone
            start = max(self.now - timedelta(days=DOSE_LOG_DAYS), o["authored"])
            end = cut if o["id"] in unconfirmed else self.now
            for instant in dose_instants(o["times"], zone, start, end):
                status = "taken" if rng.random() < TAKEN_RATE else "missed"
                recorded = min(self.now, instant + timedelta(minutes=rng.randint(0, 90)))
                rows.append((o["id"], o["patient"]["id"], iso(instant), status, iso(recorded)))
        self.report.dose_log = store.insert_dose_log_many(self.db, rows)


__all__ = ["DemoError", "DemoReport", "FORMULARY", "generate_demo", "has_patients"]
