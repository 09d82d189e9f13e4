"""The console's data commands and integrity checks: who may import, write the demo or run the runner;
demo data never replaces imported data; tampered evidence is flagged; error references lead to details."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from medjobs_tui.console import Actor, Console, ConsoleError, PermissionDenied
from medjobs_tui.engine.runner import Runner
from medjobs_tui.security.audit import verify_chain
from medjobs_tui.config import load_settings
from tests.conftest import SHARED_DATA, TEST_KEYS, make_user, password_file, write_config
from tests.engine.test_runner import NURSE, make_runner

ADMIN = Actor("ada", "admin")
AUDITOR = Actor("audrey", "auditor")


@pytest.fixture
def console(settings, clock):
    return Console(settings, clock=clock)


def synthea_patient_file(tmp_path):
    """Three real Synthea patients (as NDJSON) and their medication requests, or skip."""
    src = SHARED_DATA / "synthea-10"
    if not src.exists():
        pytest.skip("../shared/data/synthea-10 is not present")
    patients = (src / "Patient.000.ndjson").read_text().splitlines()[:3]
    ids = {json.loads(p)["id"] for p in patients}
    orders = [line for line in (src / "MedicationRequest.000.ndjson").read_text().splitlines()
              if json.loads(line)["subject"]["reference"].split("/")[-1] in ids]
    path = tmp_path / "few.ndjson"
    path.write_text("\n".join(patients + orders + ['{"resourceType": "MedicationRequest", "id": "broken"']) + "\n")
    return path, len(patients), len(orders)


def test_auditor_may_not_import_write_the_demo_or_run_the_runner(console, tmp_path):
    with pytest.raises(PermissionDenied, match="may not import patient data; that needs the admin or operator"):
        console.import_fhir(AUDITOR, [tmp_path / "x.ndjson"])
    with pytest.raises(PermissionDenied, match="may not write the demo clinic"):
        console.write_demo(AUDITOR)
    with pytest.raises(PermissionDenied, match="may not run the job runner"):
        console.authorise(AUDITOR, "runner.run")
    denied = [e for e in console.db.execute("SELECT action, outcome FROM audit_log")]
    assert denied == [("data.import", "denied"), ("data.demo", "denied"), ("runner.run", "denied")]


def test_demo_never_replaces_imported_patients(console, tmp_path):
    path, n_patients, _ = synthea_patient_file(tmp_path)
    console.import_fhir(NURSE, [path])
    with pytest.raises(PermissionDenied):
        console.write_demo(NURSE, replace=True)          # replacing needs an admin
    with pytest.raises(ConsoleError, match=f"holds {n_patients} imported patient"):
        console.write_demo(ADMIN, replace=True)          # and never real data
    assert console.write_demo(NURSE, if_empty=True) is None
    assert console.db.execute("SELECT count(*) FROM patients WHERE source = 'fhir'").fetchone()[0] == n_patients


def test_import_reports_the_bad_line_keeps_the_rest_and_is_audited(console, tmp_path):
    path, n_patients, n_orders = synthea_patient_file(tmp_path)
    report = console.import_fhir(NURSE, [path])
    assert (report.patients, len(report.skipped)) == (n_patients, 1)
    assert report.skipped[0].line == n_patients + n_orders + 1
    [(detail,)] = console.db.execute("SELECT detail FROM audit_log WHERE action = 'data.import'").fetchall()
    assert json.loads(detail)["skipped"] == 1
    assert verify_chain(console.db, TEST_KEYS.audit) == (True, None)


def test_cli_import_with_a_skipped_line_exits_1_after_importing_the_rest(tmp_path, monkeypatch):
    path, n_patients, _ = synthea_patient_file(tmp_path)
    config = write_config(tmp_path)
    make_user(load_settings(config), "nurse.kim", "operator")
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path)))
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "--user", "nurse.kim",
                           "import", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert f"Patients: {n_patients}" in proc.stdout and "Skipped: 1" in proc.stdout


def test_cli_refuses_a_signed_in_auditor_writing_the_demo(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    make_user(load_settings(config), "audrey", "auditor")
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path)))
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "--user", "audrey",
                           "demo"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "may not write the demo clinic" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_grants_nothing_to_a_declared_user_or_role(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    make_user(load_settings(config), "audrey", "auditor")
    monkeypatch.setenv("MEDJOBS_ROLE", "admin")
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "--user", "ada.admin",
                           "error", "E-000000"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "no password for ada.admin" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "jobs"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "sign in first" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_tampered_evidence_is_shown_with_a_warning(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    assert console.evidence_valid(run_id)
    assert not console.read_evidence(AUDITOR, run_id).startswith("# WARNING")
    path = runner.settings.evidence_dir / console.evidence()[0].path
    path.write_text(path.read_text().replace("succeeded", "failed"))
    text = console.read_evidence(AUDITOR, run_id)
    assert text.startswith("# WARNING: this record does not match the SHA-256")
    assert not console.evidence_valid(run_id)
    runner.stop()


def test_an_error_reference_leads_an_admin_to_the_masked_detail(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "fail", retry={"max_attempts": 1, "delay": 0})
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    error = console.run(run_id).error
    ref = error.split("(ref ")[1].rstrip(")")
    with pytest.raises(PermissionDenied):
        console.error_detail(NURSE, ref)
    detail = console.error_detail(ADMIN, ref)
    assert "RuntimeError" in detail and "Traceback" in detail   # the detail an admin needs
    assert "Jane" not in error                                   # and the operator never saw
    runner.stop()


def test_runner_console_sees_the_same_store_as_a_cli_console(settings, clock):
    runner = Runner(settings, clock=clock)
    cli_console = Console(settings, clock=clock)
    run_id = Console(settings, runner=runner).trigger(NURSE, "backup")
    assert cli_console.run(run_id).status == "queued"
    runner.stop()


def test_a_user_name_with_a_line_break_is_refused_before_it_reaches_the_audit_log(console):
    with pytest.raises(ConsoleError, match="user name"):
        console.sign_in("x\nadmin", "whatever-password")
    assert console.db.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
