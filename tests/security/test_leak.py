"""Leak test: import the Synthea sample, run every job (the backup among them), then search the bytes of the
store, its WAL, every evidence file, the logs (everything the commands printed), the backups and their
manifests for every patient's name, birth date, phone, address and FHIR id: nothing may be found."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.store import connect
from tests.conftest import ADMIN_NAME, SHARED_DATA, STORE_KEY, make_user, password_file, write_config

SYNTHEA = SHARED_DATA / "synthea-10"
pytestmark = [pytest.mark.shared_data,
              pytest.mark.skipif(not (SYNTHEA / "Patient.000.ndjson").exists(), reason="needs ../shared/data")]


def patient_secrets() -> set[str]:
    """Every identifying value of the Synthea patients, as the FHIR files hold them."""
    out: set[str] = set()
    for line in (SYNTHEA / "Patient.000.ndjson").read_text().splitlines():
        p = json.loads(line)
        out.add(p["id"])
        for name in p.get("name", []):
            out.update(n for n in [name.get("family"), *name.get("given", [])] if n)
            if name.get("family") and name.get("given"):
                out.add(f"{name['given'][0]} {name['family']}")
        if p.get("birthDate"):
            out.add(p["birthDate"])
        out.update(t["value"] for t in p.get("telecom", []) if t.get("value"))
        for a in p.get("address", []):
            out.update(a.get("line", []))
            out.update(a[k] for k in ("postalCode",) if a.get(k))
        out.update(i["value"] for i in p.get("identifier", []) if i.get("value"))
    return {s for s in out if len(s) >= 4}


def leaked(secret: str, data: bytes) -> bool:
    """Whether ``secret`` occurs in ``data``. A secret of digits only (a postal code such as 66018) counts
    where it stands alone, not inside a longer run of letters and digits: key material and SHA-256 digests
    in hex or base64 hold any five digits by chance now and then (one run in a few hundred found 66018 in
    the recovery copy), and a postal code written out by MedJobs would stand alone."""
    if not secret.isdigit():
        return secret.encode() in data
    return re.search(rb"(?<![A-Za-z0-9])" + secret.encode() + rb"(?![A-Za-z0-9])", data) is not None


def medjobs(config: Path, *args: str) -> subprocess.CompletedProcess:
    """The command as the clinic's admin (password from a file), or as the runner for `run`."""
    env = {k: v for k, v in os.environ.items() if k not in ("MEDJOBS_KEY_FILE",)}
    env["MEDJOBS_PASSWORD_FILE"] = str(password_file(config.parent))
    user = [] if args[0] == "run" else ["--user", ADMIN_NAME]
    return subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), *user, *args],
                          capture_output=True, text=True, timeout=600, env=env)


def test_no_patient_identifier_is_found_in_any_file_medjobs_writes(tmp_path):
    secrets = patient_secrets()
    assert len(secrets) > 60  # names, dates, phones, addresses, ids of the ten patients
    config = write_config(tmp_path)
    settings = load_settings(config)
    make_user(settings)
    holder = connect(settings.database_path, STORE_KEY)  # held open, so the WAL stays on disk to be searched
    logs = []
    for args in (["import", *sorted(str(p) for p in SYNTHEA.glob("*.ndjson"))], ["run", "--once"],
                 ["trigger", "backup", "--wait"], ["backup", "list"], ["runs"], ["notifications"],
                 ["audit", "verify"]):
        done = medjobs(config, *args)
        logs.append(done.stdout + done.stderr)
        if args[0] in ("import", "run", "trigger"):
            assert done.returncode == 0, done.stdout + done.stderr

    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "config.yaml"]
    names = {p.name for p in files}
    wal = Path(f"{settings.database_path}-wal")
    assert settings.database_path.name in names and wal.name in names and wal.stat().st_size > 0
    evidence = list(settings.evidence_dir.rglob("*.yaml"))
    backups = list(settings.backups_dir.glob("medjobs-*.db"))
    assert len(evidence) >= 6 and backups and list(settings.backups_dir.glob("*.manifest.json"))

    blobs = {str(p.relative_to(tmp_path)): p.read_bytes() for p in files}
    blobs["command output (the logs)"] = "\n".join(logs).encode()
    found = {where: [s for s in secrets if leaked(s, data)] for where, data in blobs.items()}
    # not vacuous: the store does hold the FHIR ids (to keep imports idempotent), only encrypted
    stored_ids = {r[0] for r in holder.execute("SELECT fhir_id FROM patients WHERE fhir_id IS NOT NULL")}
    holder.close()
    assert len(stored_ids) >= 10 and stored_ids <= secrets
    assert {where: hits for where, hits in found.items() if hits} == {}
    # and the store and backups are ciphertext, not a plain SQLite file an editor could open
    for p in [settings.database_path, *backups]:
        assert not p.read_bytes().startswith(b"SQLite format 3")
