"""A synthetic FHIR R4 bulk export (NDJSON) of N patients for the import bench: Patient, MedicationRequest and
MedicationDispense files shaped like Synthea's (US Core), with interacting pairs (warfarin + aspirin,
simvastatin + clarithromycin) for about one patient in five. Deterministic for a seed; no real patient data.

Run: .venv/bin/python bench/fhir_export.py OUT_DIR --patients 10000 [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

DRUGS = [  # (RxNorm, text, times a day, dose)
    ("314231", "Simvastatin 10 MG Oral Tablet", 1, 1), ("314076", "lisinopril 10 MG Oral Tablet", 1, 1),
    ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", 2, 1),
    ("197361", "Amlodipine 5 MG Oral Tablet", 1, 1), ("313782", "Acetaminophen 325 MG Oral Tablet", 4, 2),
    ("855332", "Warfarin Sodium 5 MG Oral Tablet", 1, 1), ("243670", "aspirin 81 MG Oral Tablet", 1, 1),
    ("197517", "clarithromycin 500 MG Oral Tablet", 2, 1),
]
PAIRS = [("855332", "243670"), ("314231", "197517")]
NOW = datetime(2026, 3, 10, 14, 0, tzinfo=timezone.utc)


def _patient(pid: str, rng: random.Random) -> dict:
    born = 1930 + rng.randrange(80)
    return {"resourceType": "Patient", "id": pid,
            "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
            "name": [{"use": "official", "family": f"Synth{rng.randrange(10_000)}", "given": ["Pat"]}],
            "gender": rng.choice(["male", "female"]), "birthDate": f"{born}-{1 + rng.randrange(12):02d}-15",
            "telecom": [{"system": "phone", "value": f"555-{rng.randrange(10_000):04d}", "use": "home"}]}


def _request(rid: str, pid: str, drug: tuple, authored: datetime) -> dict:
    rx, text, per_day, dose = drug
    return {"resourceType": "MedicationRequest", "id": rid, "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": rx, "display": text}], "text": text},
            "subject": {"reference": f"Patient/{pid}"}, "authoredOn": authored.isoformat(),
            "dosageInstruction": [{"sequence": 1, "timing": {"repeat": {"frequency": per_day, "period": 1.0,
                                                                        "periodUnit": "d"}},
                                   "asNeededBoolean": False,
                                   "doseAndRate": [{"doseQuantity": {"value": float(dose)}}]}],
            "dispenseRequest": {"numberOfRepeatsAllowed": 3, "quantity": {"value": 30.0 * per_day * dose},
                                "expectedSupplyDuration": {"value": 30, "unit": "days",
                                                           "system": "http://unitsofmeasure.org", "code": "d"}}}


def _dispense(did: str, pid: str, rid: str, drug: tuple, at: datetime) -> dict:
    _, text, per_day, dose = drug
    return {"resourceType": "MedicationDispense", "id": did, "status": "completed",
            "medicationCodeableConcept": {"text": text}, "subject": {"reference": f"Patient/{pid}"},
            "authorizingPrescription": [{"reference": f"MedicationRequest/{rid}"}],
            "quantity": {"value": 30.0 * per_day * dose}, "daysSupply": {"value": 30, "unit": "d"},
            "whenHandedOver": at.isoformat()}


def write_export(out: Path, patients: int, seed: int = 7) -> int:
    """Write Patient/MedicationRequest/MedicationDispense .ndjson files for ``patients`` patients into ``out``;
    returns the number of resources written."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    with (out / "Patient.000.ndjson").open("w") as fp, (out / "MedicationRequest.000.ndjson").open("w") as fr, \
            (out / "MedicationDispense.000.ndjson").open("w") as fd:
        for i in range(patients):
            pid = f"bench-p{i}"
            fp.write(json.dumps(_patient(pid, rng)) + "\n")
            total += 1
            drugs = rng.sample(DRUGS[:5], k=1 + rng.randrange(3))
            if rng.random() < 0.2:
                pair = rng.choice(PAIRS)
                drugs += [d for d in DRUGS if d[0] in pair and d not in drugs]
            for k, drug in enumerate(drugs):
                rid = f"bench-r{i}-{k}"
                authored = NOW - timedelta(days=30 + rng.randrange(300), hours=rng.randrange(24))
                fr.write(json.dumps(_request(rid, pid, drug, authored)) + "\n")
                total += 1
                fills = 1 + rng.randrange(4)
                for f in range(fills):
                    at = NOW - timedelta(days=30 * (fills - f) - rng.randrange(5), hours=rng.randrange(10))
                    fd.write(json.dumps(_dispense(f"bench-d{i}-{k}-{f}", pid, rid, drug, at)) + "\n")
                    total += 1
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(write_export(args.out, args.patients, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
