"""Metrics out: the Prometheus text exposition parses with prometheus_client's own parser and says what the
console says; the runner's minutely pass rewrites the textfile and alerts on failing critical jobs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from medjobs_tui.cli import main
from medjobs_tui.config import load_settings
from medjobs_tui.engine import exposition
from medjobs_tui.engine.runner import Runner
from tests.engine.test_ticks import InstantExecutor, clinic, no_real_ticks, runners  # noqa: F401 - fixtures
from tests.engine.test_validation import START, deliver_every

UTC = timezone.utc


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of an exposition, parsed by prometheus_client."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_exposition_parses_and_matches_the_console_metrics_and_validation(tmp_path, clock, runners):
    runners.append(runner := clinic(tmp_path, clock))
    deliver_every(runner, clock, "supply_monitor", START, START + timedelta(hours=3, minutes=10))
    clock.set(START + timedelta(hours=3, minutes=20))
    got = samples(exposition.exposition(runner.db, runner.settings, clock.now))
    assert got[("medjobs_job_runs_total", (("job", "supply_monitor"),))] == 4      # 12:05 .. 15:05
    assert got[("medjobs_job_attempts_total", (("job", "supply_monitor"),))] == 4
    assert got[("medjobs_job_success_ratio", (("job", "supply_monitor"),))] == 1.0
    assert got[("medjobs_job_retries_total", (("job", "supply_monitor"),))] == 0
    assert got[("medjobs_job_validation_status", (("job", "supply_monitor"), ("status", "valid")))] == 1
    assert got[("medjobs_job_validation_status", (("job", "supply_monitor"), ("status", "stale")))] == 0
    assert got[("medjobs_job_validation_status", (("job", "backup"), ("status", "stale")))] == 1   # never ran
    assert got[("medjobs_job_last_run_timestamp_seconds", (("job", "supply_monitor"),))] == \
        datetime(2026, 11, 28, 15, 5, tzinfo=UTC).timestamp()
    assert ("medjobs_job_success_ratio", (("job", "backup"),)) not in got     # no attempts: no ratio, not 0
    assert got[("medjobs_runs_waiting", ())] == 0


def test_medjobs_metrics_format_prometheus_prints_the_exposition(tmp_path, clock, runners):
    from tests.conftest import make_user, password_file

    runners.append(runner := clinic(tmp_path, clock))
    make_user(runner.settings, "auditor1", "auditor")
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "--user", "auditor1", "metrics",
                                       "--format", "prometheus"], env={"MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))})
    assert result.exit_code == 0, result.output
    families = {f.name: f for f in text_string_to_metric_families(result.output)}
    assert families["medjobs_job_runs"].type == "counter"
    assert {s.labels["job"] for s in families["medjobs_job_runs"].samples} == set(runner.settings.jobs)


def test_the_runner_rewrites_the_textfile_and_alerts_on_a_failing_critical_job(tmp_path, clock, runners):
    runners.append(first := clinic(tmp_path, clock))
    deliver_every(first, clock, "medication_reminder", START, START + timedelta(hours=1),
                  skip={START + timedelta(minutes=30)})
    first.stop()
    text = (tmp_path / "config.yaml").read_text().replace("paths:", "paths:\n  metrics_textfile: prom/medjobs.prom", 1)
    (tmp_path / "config.yaml").write_text(text)
    settings = load_settings(tmp_path / "config.yaml")
    runners.append(runner := Runner(settings, clock=clock, executor=InstantExecutor()))
    clock.set(START + timedelta(hours=1, minutes=10))
    runner.minutely()
    got = samples((tmp_path / "prom" / "medjobs.prom").read_text())
    assert got[("medjobs_job_validation_status", (("job", "medication_reminder"), ("status", "failing")))] == 1
    alerts = runner.db.execute("SELECT count(*) FROM notifications WHERE idempotency_key = "
                               "'ops_alert:critical_job_failing:medication_reminder@2026-11-28'").fetchone()[0]
    assert alerts == 1
