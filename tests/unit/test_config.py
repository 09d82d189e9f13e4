"""config.yaml is validated at start: a bad file stops start-up with one message naming key, line and what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from medjobs_tui.config import ConfigError, load_settings, parse_settings
from tests.conftest import REPO

GOOD = (REPO / "config.yaml").read_text()


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def error_for(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, Path("clinic.yaml"))
    return str(info.value)


def test_repository_config_describes_the_six_jobs():
    s = load_settings(REPO / "config.yaml")
    assert sorted(j.job_type for j in s.jobs.values()) == sorted(
        ["medication_reminder", "refill_check", "interaction_check", "supply_monitor", "analytics_rollup", "backup"])
    assert s.jobs["medication_reminder"].schedule.value == "*/15 * * * *"
    assert s.clinic.administration_times["BID"] == ["08:00", "20:00"]
    assert s.database_path == REPO / "data" / "medjobs.db"


def test_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "c.yaml").write_text(GOOD)
    s = load_settings(tmp_path / "c.yaml")
    assert s.database_path == tmp_path / "data" / "medjobs.db"
    assert s.evidence_dir == tmp_path / "evidence"


def test_config_env_var_chooses_the_file(tmp_path, monkeypatch):
    (tmp_path / "other.yaml").write_text(GOOD.replace("Riverside Family Clinic", "Hillside"))
    monkeypatch.setenv("MEDJOBS_CONFIG", str(tmp_path / "other.yaml"))
    assert load_settings().clinic.name == "Hillside"


def test_yaml_syntax_error_names_the_line():
    bad = GOOD.replace('QD:   ["09:00"]', 'QD:   ["09:00"')
    msg = error_for(bad)
    assert msg.startswith(f"clinic.yaml:{line_of(bad, 'QD:') + 1}: YAML syntax error")


def test_unknown_job_type_names_key_line_and_allowed_values():
    bad = GOOD.replace("job_type: backup", "job_type: backups")
    msg = error_for(bad)
    assert msg.startswith(f"clinic.yaml:{line_of(bad, 'job_type: backups')}: jobs.backup.job_type:")
    assert "'medication_reminder'" in msg and "'backups'" in msg


def test_bad_cron_expression_is_refused():
    bad = GOOD.replace('"0 7 * * *"', '"0 25 * * *"')
    msg = error_for(bad)
    assert msg.startswith(f"clinic.yaml:{line_of(bad, '0 25 * * *')}: jobs.refill_check.schedule:")
    assert "bad cron expression" in msg and "five fields" in msg


def test_negative_timeout_is_refused():
    bad = GOOD.replace("timeout: 600\n    validation_rules: {critical_path: true, evidence_required: true}\n"
                       "    monitoring_config: {metrics_enabled: true, alerts_enabled: true}\n\n  interaction_check",
                       "timeout: -5\n    validation_rules: {critical_path: true, evidence_required: true}\n"
                       "    monitoring_config: {metrics_enabled: true, alerts_enabled: true}\n\n  interaction_check")
    msg = error_for(bad)
    assert msg == f"clinic.yaml:{line_of(bad, 'timeout: -5')}: jobs.refill_check.timeout: " \
                  "Input should be greater than 0 (got -5)"


def test_unknown_priority_is_refused():
    bad = GOOD.replace("priority: low", "priority: urgent")
    msg = error_for(bad)
    assert msg.startswith(f"clinic.yaml:{line_of(bad, 'priority: urgent')}: jobs.analytics_rollup.priority:")
    assert "'critical', 'high', 'normal' or 'low'" in msg


def test_missing_key_is_named():
    bad = GOOD.replace("  timezone: America/New_York          # IANA zone; dose times below are local wall-clock times\n", "")
    msg = error_for(bad)
    assert msg.startswith(f"clinic.yaml:{line_of(bad, 'clinic:')}: clinic.timezone: is required but missing")


def test_unknown_time_zone_is_refused():
    msg = error_for(GOOD.replace("America/New_York", "America/Springfield"))
    assert "clinic.timezone" in msg and "IANA zone" in msg


def test_administration_table_must_match_the_code():
    msg = error_for(GOOD.replace('BID:  ["08:00", "20:00"]', 'BID:  ["08:00"]'))
    assert "BID: means 2 doses a day" in msg


def test_bad_config_stops_the_cli_with_one_line_and_no_traceback(tmp_path):
    (tmp_path / "config.yaml").write_text(GOOD.replace("priority: low", "priority: urgent"))
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(tmp_path / "config.yaml"),
                           "jobs"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "jobs.analytics_rollup.priority" in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing started, no store created


def test_infinite_or_day_long_timeout_is_refused():
    for value in (".inf", "1e400", "100000"):
        msg = error_for(GOOD.replace("timeout: 1800\n    validation_rules: {critical_path: false",
                                     f"timeout: {value}\n    validation_rules: {{critical_path: false"))
        assert "jobs.analytics_rollup.timeout" in msg, value


def test_yes_is_not_a_number_of_seconds():
    msg = error_for(GOOD.replace("timeout: 1800\n    validation_rules: {critical_path: false",
                                 "timeout: true\n    validation_rules: {critical_path: false"))
    assert "jobs.analytics_rollup" in msg and "expected a number, got true" in msg


def test_critical_supply_threshold_above_low_is_refused():
    msg = error_for(GOOD.replace("critical_supply_days: 3", "critical_supply_days: 30"))
    assert msg.startswith(f"clinic.yaml:{line_of(GOOD, 'thresholds:')}: clinic.thresholds:")
    assert "must not exceed low_supply_days" in msg


def test_a_key_given_twice_is_refused_not_silently_overwritten():
    bad = GOOD.replace("    priority: low\n", "    priority: low\n    priority: high\n")
    msg = error_for(bad)
    assert msg == f"clinic.yaml:{line_of(bad, 'priority: low') + 1}: jobs.analytics_rollup.priority: " \
                  "this key is given twice; give it once"


def test_job_routed_to_an_unknown_queue_is_reported_at_the_job():
    bad = GOOD.replace("    job_type: backup\n", "    job_type: backup\n    queue: nightly\n")
    msg = error_for(bad)
    assert msg.startswith(f"clinic.yaml:{line_of(bad, '  backup:')}: jobs.backup: routed to queue 'nightly'")
    assert "allowed: clinical, maintenance" in msg


def test_config_that_is_not_text_or_is_a_folder_gives_one_line(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not a text file"):
        load_settings(tmp_path / "bin.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_settings(tmp_path)


def test_backups_path_that_is_a_file_stops_start_up(tmp_path):
    (tmp_path / "c.yaml").write_text(GOOD.replace("backups: data/backups", "backups: not-a-folder"))
    (tmp_path / "not-a-folder").write_text("x")
    with pytest.raises(ConfigError, match="paths.backups: .*not-a-folder exists but is not a folder"):
        load_settings(tmp_path / "c.yaml")


def test_a_store_path_that_is_a_folder_is_one_error_not_also_the_key_files(tmp_path):
    """Found by a fresh user: ``paths.database: data`` (a folder) also said the key file lay "inside" the store's
    folder, the parent of that folder: a second error that only followed from the first."""
    (tmp_path / "c.yaml").write_text(GOOD.replace("database: data/medjobs.db", "database: data"))
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path / "c.yaml")
    assert "paths.database: " in str(raised.value) and "exists but is not a file" in str(raised.value)
    assert "key_file" not in str(raised.value)


def test_job_options_are_checked_against_the_job_type():
    bad = GOOD.replace("options: {window_minutes: 15}", "options: {window_minutes: -5}")
    msg = error_for(bad)
    assert msg.startswith(f"clinic.yaml:{line_of(bad, '  medication_reminder:')}: jobs.medication_reminder: "
                          "options.window_minutes:")
    msg = error_for(GOOD.replace("options: {window_minutes: 15}", "options: {window_minutez: 15}"))
    assert "options.window_minutez: is not an option of this job type" in msg and "window_minutes" in msg


def test_a_missing_knowledge_base_file_stops_start_up(tmp_path):
    text = GOOD.replace("    job_type: interaction_check\n",
                        "    job_type: interaction_check\n    options: {knowledge_base: licensed.yaml}\n")
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match="options.knowledge_base: no file 'licensed.yaml'"):
        load_settings(tmp_path / "c.yaml")
    (tmp_path / "licensed.yaml").write_text("rules: []\n")
    assert load_settings(tmp_path / "c.yaml").jobs["interaction_check"].options["knowledge_base"] == "licensed.yaml"


@pytest.mark.parametrize("content, problem", [
    (b"rules: []\nname: caf\xe9\n", "not UTF-8 text (byte 19)"),      # Latin-1, as a spreadsheet may save it
    (b"rules: [{id: X1}]\n", "rule X1: 'name' is required"),
    (b"- just a list\n", "needs a top-level 'rules' list"),
])
def test_a_knowledge_base_file_every_run_would_fail_on_stops_start_up(tmp_path, content, problem):
    """Found by a fresh user: a non-UTF-8 file passed check-config and then every interaction check failed, retried
    in vain; the file is now read when the config is."""
    text = GOOD.replace("    job_type: interaction_check\n",
                        "    job_type: interaction_check\n    options: {knowledge_base: licensed.yaml}\n")
    (tmp_path / "c.yaml").write_text(text)
    (tmp_path / "licensed.yaml").write_bytes(content)
    with pytest.raises(ConfigError, match="options.knowledge_base: 'licensed.yaml' cannot be used: ") as caught:
        load_settings(tmp_path / "c.yaml")
    assert problem in str(caught.value)


def test_retry_delay_is_bounded():
    msg = error_for(GOOD.replace("retry_policy: {max_attempts: 3, delay: 300}",
                                 "retry_policy: {max_attempts: 3, delay: 1e12}", 1))
    assert "jobs.medication_reminder.retry_policy.delay" in msg


# ------------------------------------------------------------- config that cannot hang or crash (issue 6 item 10)

ALIAS_BOMB = "\n".join(
    [f"{'a'}: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
    + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]) + "\n"


def test_a_yaml_alias_bomb_fails_at_once_with_one_line(tmp_path):
    assert len(ALIAS_BOMB.encode()) <= 400          # the billion-laughs bomb: 9**9 strings once expanded
    (tmp_path / "config.yaml").write_text(ALIAS_BOMB)
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(tmp_path / "config.yaml"),
                           "check-config"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "config.yaml:1: YAML syntax error: YAML anchors (&name) are not allowed" in proc.stderr


def test_an_alias_alone_is_refused_too():
    text = GOOD.replace("    retry_policy: {max_attempts: 3, delay: 600}\n",
                        "    retry_policy: &slow {max_attempts: 3, delay: 600}\n", 1)
    assert "anchors (&name) are not allowed" in error_for(text)
    text = GOOD.replace("    retry_policy: {max_attempts: 3, delay: 300}\n", "    retry_policy: *slow\n", 1)
    msg = error_for(text)
    assert msg.startswith(f"clinic.yaml:{line_of(text, '*slow')}: YAML syntax error: YAML aliases")


def test_an_interval_longer_than_a_year_is_refused_at_its_line():
    bad = GOOD.replace('schedule: {type: cron, value: "45 2 * * *"}', "schedule: {type: interval, value: 1000000000000}")
    msg = error_for(bad)
    assert msg.startswith(f"clinic.yaml:{line_of(bad, 'value: 1000000000000')}: jobs.backup.schedule:")
    assert "at most 31622400 seconds" in msg
    ok = GOOD.replace('schedule: {type: cron, value: "45 2 * * *"}', "schedule: {type: interval, value: 31622400}")
    assert parse_settings(ok, Path("clinic.yaml")).jobs["backup"].schedule.value == 31622400


@pytest.mark.parametrize("name", ["Backup", "9lives", "night\nly", "../../x", "a" * 65, "_hidden", "back-up"])
def test_a_job_name_must_be_an_identifier(name):
    import json

    key = json.dumps(name)                          # a double-quoted YAML scalar ("night\nly" is a newline)
    bad = GOOD.replace("\n  backup:\n", f"\n  {key}:\n")
    msg = error_for(bad)
    assert "is not a job name; allowed: a lower-case letter, then up to 63" in msg
    assert msg.startswith(f"clinic.yaml:{line_of(bad, '45 2 * * *') - 3}: jobs.")


def test_the_longest_job_name_is_accepted():
    name = "b" + "a" * 63
    assert name in parse_settings(GOOD.replace("\n  backup:\n", f"\n  {name}:\n"), Path("c.yaml")).jobs


@pytest.mark.parametrize("key,value", [("evidence", "/proc/self"), ("backups", "/sys/kernel"),
                                       ("database", "/dev/null"), ("evidence", "/dev/shm/ev")])
def test_paths_in_kernel_or_device_trees_are_refused(key, value):
    default = {"evidence": "evidence", "backups": "data/backups", "database": "data/medjobs.db"}[key]
    text = GOOD.replace(f"{key}: {default}", f"{key}: {value}")
    msg = error_for(text)
    assert f"paths.{key}:" in msg and "a kernel or device tree" in msg
    # named at the key's own line, not at the top of the file
    assert msg.startswith(f"clinic.yaml:{line_of(text, f'{key}: {value}')}: paths.{key}: "), msg


def test_a_symlink_into_proc_is_refused(tmp_path):
    (tmp_path / "ev").symlink_to("/proc/self")
    (tmp_path / "c.yaml").write_text(GOOD.replace("evidence: evidence", "evidence: ev"))
    with pytest.raises(ConfigError, match="paths.evidence: .* lies in /proc"):
        load_settings(tmp_path / "c.yaml")


def test_a_store_path_that_is_a_fifo_is_refused(tmp_path):
    import os

    (tmp_path / "data").mkdir()
    os.mkfifo(tmp_path / "data" / "medjobs.db")
    (tmp_path / "c.yaml").write_text(GOOD)
    with pytest.raises(ConfigError, match="paths.database: .*medjobs.db exists but is not a file"):
        load_settings(tmp_path / "c.yaml")


def test_every_mistake_is_reported_at_once_each_on_its_own_line_with_its_line_number():
    bad = (GOOD.replace("priority: low", "priority: urgent")
               .replace("timeout: 300\n    validation_rules: {critical_path: true", "timeout: -5\n"
                        "    validation_rules: {critical_path: true", 1)
               .replace("timezone: America/New_York", "timezone: Mars/Olympus")
               .replace("    job_type: refill_check\n", "    job_type: refill_check\n    job_type: backup\n"))
    lines = error_for(bad).splitlines()
    assert lines == sorted(lines, key=lambda l: int(l.split(":")[1]))     # in file order
    assert [l.split(": ", 1)[1].split(":")[0] for l in lines] == [
        "clinic.timezone", "jobs.medication_reminder.timeout", "jobs.refill_check.job_type",
        "jobs.analytics_rollup.priority"]
    assert lines[2] == f"clinic.yaml:{line_of(bad, 'job_type: backup')}: jobs.refill_check.job_type: " \
                       "this key is given twice; give it once"
    assert lines[1].startswith(f"clinic.yaml:{line_of(bad, 'timeout: -5')}: ")


def test_reporting_stops_after_twenty_problems():
    bad = GOOD
    for job in ("medication_reminder", "refill_check", "interaction_check", "supply_monitor",
                "analytics_rollup", "backup"):
        bad = bad.replace(f"    job_type: {job}\n", f"    job_type: {job}\n    colour: red\n    size: 3\n"
                                                    "    shape: round\n    smell: none\n")
    lines = error_for(bad).splitlines()
    assert len(lines) == 21
    assert all("is not a known key here" in l for l in lines[:20])
    assert lines[20] == "clinic.yaml: ... and 4 more problem(s)"
