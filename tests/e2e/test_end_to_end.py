"""End to end through the real `medjobs` command: import real FHIR data or generate the demo, run every job once,
check the evidence records, their hashes, and that no patient identifier reached evidence, notifications or output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medjobs_tui.config import load_settings
from medjobs_tui.engine.evidence import file_sha256
from medjobs_tui.store import connect
from tests.conftest import STORE_KEY, SHARED_DATA, make_user, password_file, write_config

SYNTHEA = SHARED_DATA / "synthea-10"
JOB_NAMES = ["interaction_check", "medication_reminder", "backup", "refill_check", "supply_monitor",
             "analytics_rollup"]


def medjobs(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout)


def check_every_job_ran_green_with_valid_evidence(config: Path) -> dict[str, dict]:
    settings = load_settings(config)
    db = connect(settings.database_path, STORE_KEY)
    runs = {r[0]: r for r in db.execute(
        "SELECT job_name, status, evidence_path, evidence_sha256, summary FROM runs WHERE trigger = 'once'")}
    assert sorted(runs) == sorted(JOB_NAMES)
    summaries = {}
    for name, (_, status, path, sha, summary) in runs.items():
        assert status == "succeeded", name
        record = settings.evidence_dir / path
        assert file_sha256(record) == sha
        doc = yaml.safe_load(record.read_text())
        assert doc["run"]["status"] == "succeeded" and doc["run"]["job_name"] == name
        summaries[name] = json.loads(summary)
    return summaries


def patient_identifiers(resources_file: Path) -> set[str]:
    """Family and given names and birth dates of the Patient resources: none may leave the importer."""
    out = set()
    for line in resources_file.read_text().splitlines():
        p = json.loads(line)
        for name in p.get("name", []):
            out.update(n for n in [name.get("family"), *name.get("given", [])] if n and len(n) > 3)
        if p.get("birthDate"):
            out.add(p["birthDate"])
    return out


def test_demo_clinic_runs_all_six_jobs_green(tmp_path):
    config = write_config(tmp_path)
    made = medjobs(config, "demo")
    assert made.returncode == 0, made.stderr
    again = medjobs(config, "demo", "--if-empty")
    assert again.returncode == 0 and "demo not written" in again.stdout
    once = medjobs(config, "run", "--once")
    assert once.returncode == 0, once.stdout + once.stderr
    for name in JOB_NAMES:
        assert name in once.stdout
    summaries = check_every_job_ran_green_with_valid_evidence(config)
    db = connect(load_settings(config).database_path, STORE_KEY)   # `run` needs no password: it is the runner identity
    assert {r[0] for r in db.execute("SELECT created_by FROM runs WHERE trigger = 'once'")} == {"runner"}
    db.close()
    # the demo gives every job real work
    assert summaries["interaction_check"]["alerts_new"] >= 2
    assert summaries["supply_monitor"]["critical"] >= 1


@pytest.mark.skipif(not SYNTHEA.exists(), reason="../shared/data/synthea-10 is not present (a user's clone)")
def test_synthea_import_then_every_job_runs_green_without_leaking_identifiers(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    make_user(load_settings(config), "nurse.kim", "operator")
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path)))
    imported = medjobs(config, "--user", "nurse.kim", "import", *sorted(str(p) for p in SYNTHEA.glob("*.ndjson")))
    assert imported.returncode == 0, imported.stderr
    once = medjobs(config, "run", "--once")
    assert once.returncode == 0, once.stdout + once.stderr
    check_every_job_ran_green_with_valid_evidence(config)

    settings = load_settings(config)
    identifiers = patient_identifiers(SYNTHEA / "Patient.000.ndjson")
    assert len(identifiers) > 20
    evidence_text = "\n".join(p.read_text() for p in settings.evidence_dir.rglob("*.yaml"))
    db = connect(settings.database_path, STORE_KEY)
    messages = "\n".join(r[0] for r in db.execute("SELECT message FROM notifications"))
    for ident in identifiers:
        assert ident not in evidence_text
        assert ident not in messages
        assert ident not in once.stdout


def test_headless_runner_fires_schedules_and_stops_cleanly_on_interrupt(tmp_path):
    """`medjobs run`: APScheduler ticks queue runs, workers execute them, Ctrl+C stops without a traceback."""
    import signal
    import time

    config = write_config(tmp_path, jobs={"backup": {
        "priority": "normal", "job_type": "backup", "schedule": {"type": "interval", "value": 1},
        "retry_policy": {"max_attempts": 1, "delay": 0}, "timeout": 60}})
    # started as from a terminal: Ctrl+C not ignored, even when the suite itself runs in the background (a
    # background job of a non-interactive shell ignores SIGINT, its children inherit that, and Python then never
    # raises KeyboardInterrupt)
    proc = subprocess.Popen([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    settings = load_settings(config)
    deadline = time.monotonic() + 30
    succeeded = 0
    try:
        while time.monotonic() < deadline and succeeded < 2:
            time.sleep(0.2)
            if settings.database_path.exists():
                db = connect(settings.database_path, STORE_KEY)
                succeeded = db.execute("SELECT count(*) FROM runs WHERE job_name = 'backup' AND trigger = 'schedule'"
                                       " AND status = 'succeeded'").fetchone()[0]
                db.close()
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert succeeded >= 2, stdout + stderr
    assert proc.returncode == 0
    assert "Traceback" not in stderr and "runner stopped" in stdout
