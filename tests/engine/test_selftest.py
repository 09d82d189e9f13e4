"""`medjobs selftest`: the validation exercise on a scratch copy of the demo clinic, recorded as evidence in the
live clinic, which it leaves otherwise untouched; a broken check fails it (exit 1); the report's Technical
Review boxes follow the latest self-test.

The exercise starts real worker processes, so it runs twice in this module (one pass, one deliberately
broken), each a few seconds; everything else reads those two results or records synthetic ones.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.clock import FixedClock
from medjobs_tui.config import load_settings
from medjobs_tui.console import Actor, Console, PermissionDenied
from medjobs_tui.console import report
from medjobs_tui.console import selftest as st
from medjobs_tui.demo import generate_demo
from medjobs_tui.engine import evidence as evidence_mod
from medjobs_tui.jobs import JobContext, get_handler
from medjobs_tui.security import audit
from medjobs_tui.store import connect
from medjobs_tui.store import selftest as store_selftest
from tests.conftest import ADMIN_NAME, FIXED_NOW, STORE_KEY, make_user, password_file, write_config

pytestmark = pytest.mark.timeout(90)

LIVE_TABLES = ("patients", "medication_requests", "dispenses", "dose_log", "notifications", "runs", "run_attempts",
               "run_history", "evidence_chain", "backups", "interaction_alerts", "supply_status", "runners")
"""What the self-test must not change in the live store (it adds one selftest_results row and audit entries)."""


def demo_clinic(folder: Path):
    settings = load_settings(write_config(folder))
    db = connect(settings.database_path, STORE_KEY)
    generate_demo(db, settings, FIXED_NOW)
    db.close()
    make_user(settings)
    return settings


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
        if folder.is_dir() else {}


@pytest.fixture(scope="module")
def passed(tmp_path_factory):
    """The demo clinic after one self-test by its admin: (console, result, live state before, scratch root)."""
    folder = tmp_path_factory.mktemp("selftest")
    settings = demo_clinic(folder)
    console = Console(settings, clock=FixedClock(FIXED_NOW))
    # a live backup of the same day: the scratch backup job's retention would remove it, were the copy's
    # backups rows not pointed at the scratch folder
    job = settings.jobs["backup"]
    get_handler("backup")(JobContext(db=console.db, settings=settings, job_name="backup", job=job, now=FIXED_NOW))
    before = {"rows": store_selftest.row_counts(console.db, LIVE_TABLES),
              "evidence": files_under(settings.evidence_dir), "backups": files_under(settings.backups_dir),
              "audit": audit.head(console.db)["id"]}
    scratch_root = folder / "scratch-parent"
    scratch_root.mkdir()
    result = st.run_selftest(console, Actor(ADMIN_NAME, "admin"), scratch_root=scratch_root)
    yield console, result, before, scratch_root
    console.close()


def test_a_selftest_on_the_demo_clinic_passes_every_check(passed):
    _, result, _, _ = passed
    assert result.passed and result.performance_ok and result.security_ok, [c for c in result.failed]
    names = {c.name for c in result.checks}
    jobs = ("medication_reminder", "refill_check", "interaction_check", "supply_monitor", "analytics_rollup", "backup")
    assert {f"job:{j}" for j in jobs} | {f"timing:{j}" for j in jobs} <= names
    assert {"forced:retry", "forced:timeout", "forced:crash", "evidence:hashes", "evidence:chain", "audit:chain",
            "security:encryption", "security:access"} <= names
    forced = {c.name: c.detail for c in result.checks if c.name.startswith("forced:")}
    assert "failed -> succeeded" in forced["forced:retry"]
    assert "timed_out -> succeeded" in forced["forced:timeout"]
    assert "crashed -> succeeded" in forced["forced:crash"]
    for job in jobs:
        d = result.durations[job]
        assert d["status"] == "succeeded" and 0 < d["duration_s"] <= d["timeout_s"] and d["within_timeout"]


def test_the_result_is_recorded_live_as_a_row_an_evidence_record_and_an_audit_entry(passed):
    console, result, before, _ = passed
    row = store_selftest.latest_result(console.db)
    assert row["id"] == result.id and row["passed"] and row["config_sha256"] == st.validated_config_sha256(console.settings)
    assert {c["name"]: c["passed"] for c in row["checks"]} == {c.name: c.passed for c in result.checks}
    path = console.settings.evidence_dir / result.evidence_path
    assert result.evidence_path.startswith("selftest/2026/11/29/")
    assert evidence_mod.file_sha256(path) == result.evidence_sha256 == row["evidence_sha256"]
    text = path.read_text()
    doc = yaml.safe_load(text)
    assert doc["kind"] == "selftest" and doc["verdicts"] == {
        "tests_passing": True, "performance_verified": True, "security_validated": True}
    assert doc["audit_head"]["id"] == before["audit"]
    assert "P-0" not in text and "Patient" not in text     # pseudonyms and counts only, and not even those
    entry = audit.entries(console.db, action="selftest.run", limit=1)[0]
    assert (entry["actor"], entry["outcome"], entry["target"]) == (ADMIN_NAME, "ok", f"selftest:{result.id}")
    assert json.loads(entry["detail"])["sha256"] == result.evidence_sha256
    assert audit.verify(console.db, console.keys.audit).ok


def test_the_live_store_keeps_its_patients_runs_outbox_and_files(passed):
    console, _, before, scratch_root = passed
    assert store_selftest.row_counts(console.db, LIVE_TABLES) == before["rows"]
    assert len(before["backups"]) >= 2 and files_under(console.settings.backups_dir) == before["backups"]
    after = files_under(console.settings.evidence_dir)
    assert {k: v for k, v in after.items() if not k.startswith("selftest/")} == before["evidence"]
    assert len([k for k in after if k.startswith("selftest/")]) == 1
    assert list(scratch_root.iterdir()) == []                 # the scratch copy is gone
    # the live audit trail gained the selftest.run entry only (the probe's refusal was in the copy)
    assert audit.head(console.db)["id"] == before["audit"] + 1


def test_selftest_last_prints_each_check_and_exits_0_after_a_pass(passed, monkeypatch, tmp_path):
    console, result, _, _ = passed
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path)))
    out = CliRunner().invoke(main, ["--config", str(console.settings.source), "--user", ADMIN_NAME,
                                    "selftest", "--last"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    for c in result.checks:
        assert any(line.startswith("PASS") and c.name in line for line in lines), c.name
    assert f"self-test {result.id} PASSED" in out.output


def test_a_tampered_record_and_a_broken_audit_chain_in_the_scratch_copy_fail_it_and_exit_1(tmp_path, monkeypatch):
    settings = demo_clinic(tmp_path)
    real_exercise = st.run_exercise

    def tampered(*args, **kwargs):
        ex = real_exercise(*args, **kwargs)
        run = ex.runs["backup"]
        (ex.settings.evidence_dir / run["evidence_path"]).write_text("run: edited after the fact\n")
        return ex

    def broken_verify(db, key, checkpoints=()):
        return audit.Verdict(False, 1, 1, "0" * 64, bad_id=2, problem="its MAC does not fit its content")

    monkeypatch.setattr(st, "run_exercise", tampered)
    monkeypatch.setattr(st.audit, "verify", broken_verify)
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path)))
    out = CliRunner().invoke(main, ["--config", str(settings.source), "--user", ADMIN_NAME, "selftest"])
    assert out.exit_code == 1, out.output
    failed = {line.split()[1] for line in out.output.splitlines() if line.startswith("FAIL")}
    assert failed == {"evidence:hashes", "evidence:chain", "audit:chain"}
    assert "self-test 1 FAILED" in out.output
    console = Console(settings)
    try:
        row = store_selftest.latest_result(console.db)
        assert not row["passed"] and not row["security_ok"] and row["performance_ok"]
        assert audit.entries(console.db, action="selftest.run", limit=1)[0]["outcome"] == "error"
    finally:
        console.close()


def test_a_job_past_its_timeout_fails_performance():
    job = type("Job", (), {"timeout": 2.0})
    live = type("Live", (), {"jobs": {"backup": job, "refill_check": job}})
    ex = st.Exercise(settings=None, runs={"backup": {"status": "succeeded", "duration_s": 2.5, "attempt": 1},
                                          "refill_check": {"status": "succeeded", "duration_s": 1.5, "attempt": 1}})
    checks, durations = st._job_checks(ex, live)
    timing = {c.name: c.passed for c in checks if c.group == "performance"}
    assert timing == {"timing:backup": False, "timing:refill_check": True}
    assert durations["backup"]["within_timeout"] is False


# ------------------------------------------------------------------ the report follows the latest self-test


@pytest.fixture
def small_clinic(tmp_path):
    settings = load_settings(write_config(tmp_path))
    make_user(settings)
    clock = FixedClock(FIXED_NOW)
    console = Console(settings, clock=clock)
    yield console, clock
    console.close()


def reviewer(console):
    """A reviewer of the clinic (made on first use): the console acts only for its users."""
    from medjobs_tui.store import users as store_users

    if store_users.get(console.db, "rev") is None:
        make_user(console.settings, "rev", "reviewer")
    return Actor("rev", "reviewer")


def record(console, *, security=True, performance=True, when=None):
    checks = [st.SelfTestCheck("job:backup", "tests", True, "ok"),
              st.SelfTestCheck("timing:backup", "performance", performance, "0.1 s of 300 s"),
              st.SelfTestCheck("audit:chain", "security", security, "ok" if security else "broken"),
              st.SelfTestCheck("security:encryption", "security", True, "ok"),
              st.SelfTestCheck("security:access", "security", True, "ok")]
    when = when or console.clock.now()
    return st.record_result(console, Actor(ADMIN_NAME, "admin"), started=when, finished=when, duration_s=3.0,
                            checks=checks, durations={}, passed=all(c.passed for c in checks),
                            performance_ok=performance, security_ok=security)


def boxes(console) -> dict[str, str]:
    text = console.validation_report(reviewer(console))
    section = text.split("### Self-test backing the Technical Review", 1)[1].split("###", 1)[0]
    return {item: next(line for line in section.splitlines() if f"] {item}:" in line)
            for item in ("Tests passing", "Performance verified", "Security validated")}


def test_the_reports_technical_review_boxes_follow_the_latest_selftest(small_clinic):
    console, clock = small_clinic
    assert all(line.startswith("- [ ]") and "no self-test recorded" in line for line in boxes(console).values())
    record(console)
    assert all(line.startswith("- [x]") for line in boxes(console).values())
    record(console, security=False)          # the latest counts: a later failure unticks
    got = boxes(console)
    assert got["Performance verified"].startswith("- [x]")
    assert got["Security validated"].startswith("- [ ]") and "audit:chain" in got["Security validated"]
    assert got["Tests passing"].startswith("- [ ]")
    text = console.validation_report(reviewer(console))
    assert "\"Security validated\" is not backed by a passing self-test" in text   # next steps say so
    record(console, performance=False)
    assert boxes(console)["Performance verified"].startswith("- [ ]")


def test_a_selftest_older_than_the_review_period_or_of_other_jobs_or_altered_backs_nothing(small_clinic, tmp_path):
    console, clock = small_clinic
    result = record(console)
    clock.advance(timedelta(days=report.REVIEW_DAYS, hours=1).total_seconds())
    assert all(line.startswith("- [ ]") and "older than the 30-day review period" in line
               for line in boxes(console).values())
    result = record(console)
    path = console.settings.evidence_dir / result.evidence_path
    path.write_text(path.read_text() + "# edited\n")
    assert all("evidence record is missing or altered" in line for line in boxes(console).values())
    record(console)
    changed = console.settings.model_copy(update={"jobs": {
        **console.settings.jobs, "backup": console.settings.jobs["backup"].model_copy(update={"timeout": 301})}})
    other = Console(changed, clock=clock)
    try:
        assert all(line.startswith("- [ ]") and "validated configuration changed" in line for line in boxes(other).values())
    finally:
        other.close()


def test_an_auditor_may_not_run_the_selftest_and_nothing_is_recorded(small_clinic):
    console, _ = small_clinic
    auditor = make_user(console.settings, "aud", "auditor")
    with pytest.raises(PermissionDenied, match="may not run the self-test"):
        console.selftest(auditor)
    assert store_selftest.latest_result(console.db) is None
    denied = audit.entries(console.db, actor="aud", action="selftest.run", limit=1)
    assert denied and denied[0]["outcome"] == "denied"


def test_medjobs_selftest_refuses_an_auditor_with_exit_1_before_running(small_clinic, tmp_path, monkeypatch):
    console, _ = small_clinic
    make_user(console.settings, "aud", "auditor")
    monkeypatch.setattr(st, "run_selftest", lambda *a, **k: pytest.fail("the exercise must not start"))
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path)))
    out = CliRunner().invoke(main, ["--config", str(console.settings.source), "--user", "aud", "selftest"])
    assert out.exit_code == 1 and "may not run the self-test" in out.output
    assert "running the self-test" not in out.output
    assert store_selftest.latest_result(console.db) is None
