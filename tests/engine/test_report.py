"""The validation report: VALIDATION.md's sections filled from live state, its figures the console's own,
no patient data, ending with the audit head and its own SHA-256."""

from __future__ import annotations

import re
from datetime import timedelta

import yaml

from medjobs_tui.console import Actor, Console, PermissionDenied
from medjobs_tui.console import report
from medjobs_tui.security import audit
from tests.engine.test_ticks import clinic, no_real_ticks, runners  # noqa: F401 - fixtures
from tests.engine.test_validation import START, deliver_every

REVIEWER = Actor("rev", "reviewer")


def yaml_blocks(text: str) -> list[dict]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def make_report(tmp_path, clock, runners, *, skip=()) -> tuple[Console, str]:
    runners.append(runner := clinic(tmp_path, clock))
    for job in ("supply_monitor", "medication_reminder"):
        deliver_every(runner, clock, job, START, START + timedelta(hours=2, minutes=10), skip=skip)
    clock.set(START + timedelta(hours=2, minutes=12))   # 14:00's reminder is the last one past its timeout
    console = Console(runner.settings, clock=clock)
    return console, console.validation_report(REVIEWER)


def test_the_report_has_validation_mds_sections_in_order_and_ends_with_its_own_sha256(tmp_path, clock, runners):
    console, text = make_report(tmp_path, clock, runners)
    headings = re.findall(r"^## (.*)$", text, re.M)
    assert headings == ["1. System overview", "2. Validation requirements", "3. Implementation status",
                        "4. Validation evidence", "5. Next steps", "6. Sign-off requirements"]
    assert report.verify_report_sha(text)
    assert not report.verify_report_sha(text.replace("medication_reminder", "medication_reminders", 1))
    head = audit.head(console.db)
    assert f"Audit head: entry {head['id'] - 1}, MAC " in text or f"Audit head: entry {head['id']}, MAC " in text


def test_the_reports_figures_are_the_consoles(tmp_path, clock, runners):
    console, text = make_report(tmp_path, clock, runners)
    metrics = {m.job_name: m for m in console.metrics()}
    checks = {v.job_name: v for v in console.validation()}
    blocks = yaml_blocks(text)
    job_metrics = [b["job_metrics"] for b in blocks if "job_metrics" in b]
    configs = [b["job_config"] for b in blocks if "job_config" in b]
    assert len(job_metrics) == len(configs) == len(console.settings.jobs)
    for name, got in zip(console.settings.jobs, job_metrics):
        m = metrics[name]
        assert got["success_rate"] == (None if m.success_rate is None else round(m.success_rate * 100, 1))
        assert (got["retry_count"], got["timeout_count"]) == (m.retry_count, m.timeout_count)
        assert got["validation_status"]["is_valid"] == checks[name].is_valid
    valid = sum(v.is_valid for v in checks.values())
    assert f"- [{'x' if valid == len(checks) else ' '}] Follows validation processes: {valid} of {len(checks)} jobs valid now" in text
    assert "| supply_monitor | valid | - | 3/3 | 3 | 100.0 |" in text


def test_boxes_follow_the_records(tmp_path, clock, runners):
    console, text = make_report(tmp_path, clock, runners, skip={START + timedelta(hours=1)})
    assert "- [x] Audit logging: audit trail OK" in text
    assert "- [x] Data encryption:" in text
    assert "- [ ] Retry policies: 0 retried attempt(s)" in text          # none recorded: not ticked
    assert "- [ ] Follows validation processes" in text                   # the reminder missed a tick
    assert "- medication_reminder is failing: 1 scheduled tick(s) missed" in text
    # a refusal of what was asked, as the console writes it, is no evidence of access control
    from medjobs_tui.security import audit as audit_log
    audit_log.record(console.db, key=console.keys.audit, actor="nurse.kim", role="operator", action="dose.record",
                     target="order:1", outcome="denied", at=clock.now(), detail={"reason": "too early"})
    assert "- [ ] Access control: 0 refusal(s) of access audited" in console.validation_report(REVIEWER)
    try:
        console.validation_report(Actor("op", "operator"))
    except PermissionDenied:
        pass
    again = console.validation_report(REVIEWER)
    assert "- [x] Access control: 1 refusal(s) of access audited" in again


def test_no_patient_data_in_the_report(tmp_path, clock, runners):
    console, text = make_report(tmp_path, clock, runners)
    html = console.validation_report(REVIEWER, "html")
    for doc in (text, html):
        assert not re.search(r"P-\d{5}", doc)
    assert html.startswith("<!doctype html>") and "<table>" in html and "<h2>4. Validation evidence</h2>" in html


def test_open_alerts_are_next_steps_until_acknowledged_without_the_patients_pseudonym(tmp_path, clock, runners):
    from medjobs_tui.notify.alerts import raise_alert

    console, _ = make_report(tmp_path, clock, runners)
    change = raise_alert(console.db, kind="supply_critical", scope="order 45 (P-00012)",
                         summary="2 day(s) of supply left (critical at 3 day(s) or less)", now=clock.now(), notify=False)
    text = console.validation_report(REVIEWER)
    steps = text.split("## 5. Next steps", 1)[1].split("## 6.", 1)[0]
    assert (f"- alert A-{change.alert_id} is open and not acknowledged (high, critical supply; order 45): about a "
            "patient's medication: see `medjobs alerts` (operators, admins, reviewers); acknowledge it or clear its "
            "cause (`medjobs alerts`)") in steps                  # the report is anyone's: no days of supply in it
    assert "P-00012" not in text
    console.acknowledge_alert(Actor("op", "operator"), change.alert_id)
    assert f"alert A-{change.alert_id} is open" not in console.validation_report(REVIEWER)
