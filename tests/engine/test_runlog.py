"""The runner's log on disk (engine.runlog) and `medjobs log`: every runner writes its masked lines to
<data folder>/logs/runner.log (0600, rotated, bounded), and any console reads them, a headless runner's too."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest
from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.console import Console
from medjobs_tui.console.logbook import logbook
from medjobs_tui.engine import runlog
from tests.conftest import make_user, password_file

OTHER = "clinic-pc:4242"
"""Another process's source (a headless `medjobs run`)."""


@pytest.fixture
def installed(settings):
    """The clinic's runner log file handler in this process, taken off after the test."""
    handler = runlog.install(settings)
    yield handler
    runlog.uninstall(handler)


def other_runner_writes(settings, level: str, message: str, at: str = "2026-11-29T12:50:00.000+00:00") -> None:
    """A line as another process's runner writes it (its own host:pid)."""
    path = runlog.log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\t".join((at, level, OTHER, "medjobs_tui.engine.runner", message)) + "\n")


def test_a_runners_lines_go_to_a_private_file_redacted(settings, installed):
    logging.getLogger("medjobs_tui.engine.runner").warning("run 7 failed for jane.doe@example.org:\tboom\nagain")
    logging.getLogger("medjobs_tui.engine.runner").debug("not kept: below INFO")
    path = runlog.log_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    [line] = runlog.read_lines(settings)
    assert line.level == "WARNING" and line.source == runlog.SOURCE and line.logger == "medjobs_tui.engine.runner"
    assert "jane.doe" not in line.message and "[email]" in line.message
    assert line.message.endswith("boom again")                                # one record, one line


def test_the_file_is_rotated_and_bounded(settings, monkeypatch):
    monkeypatch.setattr(runlog, "LOG_FILE_BYTES", 2000)
    handler = runlog.install(settings)
    try:
        source = logging.getLogger("medjobs_tui.engine.runner")
        for n in range(400):
            source.info("run %d of backup attempt 1 succeeded in 0.50 s: now succeeded", n)
    finally:
        runlog.uninstall(handler)
    files = sorted(runlog.log_path(settings).parent.iterdir())
    assert [f.name for f in files] == ["runner.log", "runner.log.1", "runner.log.2", "runner.log.3"]
    assert all(f.stat().st_size <= 2000 and stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    newest = runlog.read_lines(settings, limit=5)
    assert "run 399 of backup" in newest[0].message and len(newest) == 5


def test_a_console_shows_its_own_lines_and_another_runners_with_the_level_filter(settings, clock, installed):
    logbook()                                                    # this process's lines in memory, as the dashboard has
    other_runner_writes(settings, "INFO", "run 41 of backup attempt 1 succeeded in 0.50 s: now succeeded")
    other_runner_writes(settings, "ERROR", "executor failed for run 42: OSError", at="2026-11-29T12:51:00.000+00:00")
    logging.getLogger("medjobs_tui.engine.runner").warning("heartbeat failed: OperationalError")
    console = Console(settings, clock=clock)
    lines = console.log_lines("INFO")
    mine = [line for line in lines if not line.source]
    assert any("heartbeat failed" in line.message for line in mine)
    assert not any("heartbeat failed" in line.message for line in lines if line.source)    # not twice
    assert [line.message for line in lines if line.source == OTHER] == [
        "executor failed for run 42: OSError", "run 41 of backup attempt 1 succeeded in 0.50 s: now succeeded"]
    assert {line.source for line in console.log_lines("ERROR")} == {OTHER}
    assert len({line.key for line in lines}) == len(lines)


def test_follow_yields_lines_as_they_are_written_and_across_a_rotation(settings):
    console = Console(settings)
    other_runner_writes(settings, "INFO", "before: not followed")
    script = [lambda: other_runner_writes(settings, "INFO", "run 1 started"),
              lambda: other_runner_writes(settings, "ERROR", "run 1 failed"),
              lambda: runlog.log_path(settings).rename(runlog.log_path(settings).with_suffix(".log.1")),
              lambda: other_runner_writes(settings, "WARNING", "run 2 retried, after the rotation")]

    def sleep(_seconds: float) -> None:
        if not script:
            raise KeyboardInterrupt
        script.pop(0)()

    seen = []
    with pytest.raises(KeyboardInterrupt):
        for line in console.follow_log("WARNING", poll_s=0, sleep=sleep):
            seen.append(line.message)
    assert seen == ["run 1 failed", "run 2 retried, after the rotation"]


def test_medjobs_log_prints_the_runners_lines_by_level_as_text_json_or_csv(settings, clinic_config, monkeypatch):
    make_user(settings, "rita", "reviewer")
    monkeypatch.setenv("MEDJOBS_USER", "rita")
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(clinic_config.parent)))
    cli = CliRunner()

    def run(*args):
        result = cli.invoke(main, ["--config", str(clinic_config), "log", *args])
        return result.exit_code, result.output

    code, out = run()
    assert code == 0 and "no runner log lines yet" in out
    other_runner_writes(settings, "INFO", "run 41 of backup attempt 1 succeeded in 0.50 s: now succeeded")
    code, out = run("--level", "WARNING")                    # lines there are, none that high
    assert code == 0 and "no runner log lines at WARNING or above (lower levels: --level INFO)" in out
    other_runner_writes(settings, "ERROR", "executor failed for run 42: OSError", at="2026-11-29T12:51:00.000+00:00")
    code, out = run()
    assert code == 0
    assert out.splitlines() == [
        f"2026-11-29 07:50:00 EST  INFO     {OTHER}  engine.runner: run 41 of backup attempt 1 succeeded in 0.50 s: "
        "now succeeded",
        f"2026-11-29 07:51:00 EST  ERROR    {OTHER}  engine.runner: executor failed for run 42: OSError"]
    code, out = run("--level", "error", "--format", "json")
    assert [r["message"] for r in json.loads(out)] == ["executor failed for run 42: OSError"]
    code, out = run("--format", "csv")
    assert out.splitlines()[0] == "time,level,source,logger,message" and len(out.splitlines()) == 3
    code, out = run("--level", "LOUD")
    assert code == 2 and "unknown log level" in out


def test_the_headless_runner_writes_the_file_a_console_reads(settings, clinic_config):
    """`medjobs run --once` (the runner service identity, no person) leaves its lines for `medjobs log`."""
    result = CliRunner().invoke(main, ["--config", str(clinic_config), "run", "--once"])
    try:
        assert result.exit_code in (0, 1), result.output
        lines = runlog.read_lines(settings)
        assert any("backup" in line.message for line in lines)
        assert stat.S_IMODE(runlog.log_path(settings).stat().st_mode) == 0o600
    finally:
        for handler in list(runlog._INSTALLED.values()):
            runlog.uninstall(handler)


def test_a_log_file_and_folder_found_with_wider_modes_are_narrowed(settings):
    path = runlog.log_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text("")
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o644)                       # as a copy or a checkout leaves it
    handler = runlog.install(settings)
    try:
        logging.getLogger("medjobs_tui.engine.runner").warning("run 1 of backup failed")
    finally:
        runlog.uninstall(handler)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_run_once_leaves_a_paused_job_alone_and_says_so(settings, clinic_config):
    """A fresh user saw `run --once` run a job an operator had paused, without a word."""
    from medjobs_tui.store import connect
    from medjobs_tui.store import runs as store_runs
    from tests.conftest import FIXED_NOW, STORE_KEY

    db = connect(settings.database_path, STORE_KEY)
    store_runs.sync_jobs(db, {name: job.job_type for name, job in settings.jobs.items()})
    store_runs.set_paused(db, "backup", True, "olga", FIXED_NOW)
    result = CliRunner().invoke(main, ["--config", str(clinic_config), "run", "--once"])
    try:
        assert "paused, not run: backup (medjobs resume JOB)" in result.output
        ran = {r[0] for r in db.execute("SELECT job_name FROM runs WHERE trigger = 'once'")}
        assert "backup" not in ran and "medication_reminder" in ran
    finally:
        db.close()
        for handler in list(runlog._INSTALLED.values()):
            runlog.uninstall(handler)
