"""The CLI's views, as the dashboard's: filters on `runs`, `runs show ID`, `--format csv|json` on every view,
bulk retry/cancel, friendly words for bad ids and empty views, one percentage format."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.console import Actor, Console
from medjobs_tui.engine.runner import Runner
from medjobs_tui.config import load_settings
from tests.conftest import make_user, password_file
from tests.tui.conftest import seed_runs


@pytest.fixture
def cli(clinic_config, settings, clock, monkeypatch):
    """``cli("runs", "--status", "dead")`` -> (exit code, output) against the seeded clinic, as an operator."""
    seed_runs(settings, clock)
    make_user(settings, "olga", "operator")
    monkeypatch.setenv("MEDJOBS_USER", "olga")
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(clinic_config.parent)))
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(clinic_config), *args])
        return result.exit_code, result.output

    return run


def test_runs_filters_by_status_job_and_since(cli):
    code, out = cli("runs", "--status", "dead,cancelled", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["run"], r["status"]) for r in rows] == [("7", "cancelled"), ("5", "dead")]
    code, out = cli("runs", "--job", "supply_monitor", "--format", "json")
    assert {r["job"] for r in json.loads(out)} == {"supply_monitor"}
    code, out = cli("runs", "--since", "2026-11-29T08:10", "--format", "json")     # clinic time (EST)
    assert [r["run"] for r in json.loads(out)] == ["8", "7", "6"]


def test_runs_shows_skipped_ticks_of_a_paused_job(cli, settings, clock):
    assert cli("pause", "backup")[0] == 0
    runner = Runner(settings, clock=clock)
    skipped = runner.tick("backup", clock.now().replace(second=0, microsecond=0))
    runner.stop()
    code, out = cli("runs", "--status", "skipped", "--format", "json")
    assert [(r["run"], r["status"]) for r in json.loads(out)] == [(str(skipped), "skipped")]


def test_runs_with_a_bad_filter_says_what_is_allowed(cli):
    code, out = cli("runs", "--status", "exploded")
    assert code == 2 and "unknown state exploded; states: queued, running" in out
    code, out = cli("runs", "--since", "yesterday")
    assert code == 2 and "30m, 2h, 7d, 1w" in out
    code, out = cli("runs", "--status", "dead", "--job", "backup")
    assert code == 0 and "no runs match these filters" in out


def test_runs_show_tells_the_whole_story(cli):
    code, out = cli("runs", "show", "5")
    assert code == 0
    for text in ("refill_check", "dead", "3 of 3", "created by", "tester", "attempts exhausted",
                 "handler error (ref E-TEST)", "SHA-256 matches", "medjobs evidence 5"):
        assert text in out, text
    code, out = cli("runs", "show", "5", "--format", "json")
    story = json.loads(out)
    assert story["run"]["status"] == "dead" and [h["to"] for h in story["history"]][-1] == "dead"
    assert len(story["attempts"]) == 3
    retries = [h["note"] for h in story["history"] if h["note"].startswith("retry at")]
    assert len(retries) == 2                                   # backoff instants in clinic time, UTC beside
    assert all(re.fullmatch(r"retry at (2026-11-29 )?\d\d:\d\d:\d\d EST \(\d\d:\d\d:\d\d UTC\)", n) for n in retries), retries
    code, out = cli("runs", "show", "99")
    assert code == 1 and "no run 99" in out


@pytest.mark.parametrize("args", [("cancel", "abc"), ("retry", "abc"), ("runs", "show", "abc"), ("evidence", "0"), ("retry", "x1")])
def test_a_bad_run_id_gets_a_friendly_message(cli, args):
    code, out = cli(*args)
    assert code == 2 and "is not a run id" in out and "valid integer" not in out


def test_bulk_retry_and_cancel(cli, settings):
    code, out = cli("retry", "--dead-of", "refill_check")
    assert code == 0 and "1 run(s) queued again: 5" in out
    code, out = cli("cancel", "5", "8")
    assert code == 0 and "2 run(s) cancelled: 5, 8" in out
    code, out = cli("cancel", "5", "6")
    assert code == 1 and "run 5 left as it was" in out and "run 6 left as it was" in out
    audit = Console(settings).db.execute(
        "SELECT action, target, outcome FROM audit_log WHERE actor = 'olga' AND action LIKE 'run.%' ORDER BY id").fetchall()
    assert [tuple(a) for a in audit] == [("run.retry", "run:5", "ok"), ("run.cancel", "run:5", "ok"),
                                         ("run.cancel", "run:8", "ok")]


def test_every_view_prints_csv_and_json(cli):
    for view in ("jobs", "runs", "metrics", "evidence", "notifications"):
        code, out = cli(view, "--format", "json")
        assert code == 0, view
        assert isinstance(json.loads(out), list), view
        code, out = cli(view, "--format", "csv")
        assert code == 0 and out.splitlines()[0].count(",") >= 2, view


def test_empty_views_say_so_in_words(tmp_path, monkeypatch):
    from tests.conftest import write_config

    (tmp_path / "empty").mkdir()
    config = write_config(tmp_path / "empty")
    make_user(load_settings(config), "olga", "operator")
    monkeypatch.setenv("MEDJOBS_USER", "olga")
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path / "empty")))
    for view, words in (("notifications", "no notifications yet"), ("runs", "no runs yet"),
                        ("evidence", "no evidence records yet")):
        result = CliRunner().invoke(main, ["--config", str(config), view])
        assert result.exit_code == 0 and words in result.output, view


def test_percentages_read_the_same_in_the_cli_as_on_screen(cli):
    code, out = cli("metrics", "--format", "json")
    rows = {r["job"]: r for r in json.loads(out)}
    assert rows["backup"]["success"] == "100.0 %" and rows["refill_check"]["errors"] == "100.0 %"


def test_evidence_names_the_priority(cli, settings):
    code, out = cli("evidence", "5")
    assert code == 0 and "priority: normal" in out


def test_a_jobs_last_status_is_its_last_run_that_ran_not_a_cancelled_queued_or_skipped_one(cli):
    """Seeded: backup succeeded (run 1), then a manual backup was queued (run 8); analytics_rollup's only run
    was cancelled. Cancelling run 8 leaves backup's last status 'succeeded'; a job that never ran has none."""
    assert cli("cancel", "8")[0] == 0
    code, out = cli("jobs", "--format", "json")
    last = {j["job"]: j["last status"] for j in json.loads(out)}
    assert code == 0
    assert last["backup"] == "succeeded" and last["analytics_rollup"] == "-" and last["refill_check"] == "dead"


def test_csv_cells_a_spreadsheet_would_run_are_escaped_in_every_csv(cli, settings):
    """OWASP CSV injection: a cell beginning with = + - @ tab or CR gets a leading single quote (in `--format csv`
    of every view, which all go through render_table); plain numbers and the lone '-' stay as they are."""
    from medjobs_tui.console import render_table
    from medjobs_tui.store import connect
    from tests.conftest import STORE_KEY

    cells = ["=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "-3", "+1.5", "a=b", ""]
    row = list(csv.reader(io.StringIO(render_table(["c"] * len(cells), [cells], "csv"), newline="")))[1]
    assert row == ["'=1+2", "'+cmd", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "-", "-3", "+1.5", "a=b", ""]
    db = connect(settings.database_path, STORE_KEY)
    db.execute("UPDATE runs SET error = '=HYPERLINK(\"http://x\",\"see\")' WHERE id = 5")
    db.close()
    code, out = cli("runs", "--format", "csv")
    errors = [r["error"] for r in csv.DictReader(io.StringIO(out)) if r["run"] == "5"]
    assert code == 0 and errors == ["'=HYPERLINK(\"http://x\",\"see\")"]


def test_report_o_refuses_a_file_that_exists_unless_force(cli, settings, tmp_path):
    make_user(settings, "ada", "admin")
    target = tmp_path / "report.md"
    target.write_text("mine\n")
    code, out = cli("--user", "ada", "report", "-o", str(target))
    assert code == 1 and "already exists" in out and "--force" in out and target.read_text() == "mine\n"
    code, out = cli("--user", "ada", "report", "-o", str(target), "--force")
    assert code == 0 and target.read_text().startswith("#")


@pytest.mark.parametrize("args", [("dose", "history", "abc", "2026-11-29 08:00"), ("doses", "--order", "0"),
                                  ("order", "critical", "x1")])
def test_a_bad_order_id_is_called_an_order_id(cli, args):
    code, out = cli(*args)
    assert code == 2 and "is not an order id" in out and "run id" not in out


def _interaction_alert(settings) -> int:
    """One open interaction alert (as the interaction check writes it) on the first patient of the demo clinic."""
    from medjobs_tui.store import connect
    from medjobs_tui.store import interactions as store_interactions
    from tests.conftest import STORE_KEY

    db = connect(settings.database_path, STORE_KEY)
    try:
        if db.execute("SELECT count(*) FROM patients").fetchone()[0] == 0:
            from medjobs_tui.demo import generate_demo
            from tests.tui.conftest import NOW

            generate_demo(db, settings, NOW, seed=7)
        patient = db.execute("SELECT id FROM patients ORDER BY id LIMIT 1").fetchone()[0]
        return store_interactions.insert_alert(
            db, patient_id=patient, rule_id="onc-1", drug_a="a", drug_b="b", pair_key="a|b", severity="major",
            source="ONC", medication_request_ids=[1, 2], med_list_hash="h", run_id=None,
            created_at="2026-11-29T12:00:00+00:00")
    finally:
        db.close()


def test_the_two_alert_lists_are_told_apart_by_their_prefix_shown_and_typed(cli, settings):
    """MedJobs' own alerts are A-N, interaction alerts I-N; each ack takes its own prefix or the bare number and
    refuses the other list's, naming the command that takes it."""
    interaction = _interaction_alert(settings)
    code, out = cli("interactions", "list")
    assert code == 0 and f"I-{interaction}" in out
    code, out = cli("alerts", "--format", "json")
    dead = next(a["alert"] for a in json.loads(out) if a["kind"] == "run_dead")
    assert re.fullmatch(r"A-\d+", dead)
    code, out = cli("alerts", "ack", f"I-{interaction}")
    assert code == 2 and f"I-{interaction} is an interaction alert" in out
    assert f"medjobs interactions ack I-{interaction}" in out
    code, out = cli("interactions", "ack", dead)
    assert code == 2 and f"{dead} is a MedJobs alert" in out and f"medjobs alerts ack {dead}" in out
    code, out = cli("alerts", "ack", dead.lower())
    assert code == 0 and f"alert {dead} (dead run" in out
    code, out = cli("interactions", "ack", str(interaction))                 # the bare number: its own list
    assert code == 0 and f"interaction alert I-{interaction} (P-" in out
    code, out = cli("alerts", "ack", "B-3")
    assert code == 2 and "give it as shown, e.g. A-4" in out


def test_audit_list_shows_the_outcome_early_and_each_entrys_detail(cli, settings):
    make_user(settings, "ada", "admin")
    assert cli("trigger", "backup")[0] == 0                      # olga's trigger: detail {"run_id": ...}
    code, out = cli("--user", "ada", "audit", "list", "--action", "job.trigger")
    header = next(line for line in out.splitlines() if "outcome" in line)
    assert code == 0 and header.index("outcome") < header.index("actor") and "detail" in header
    assert '"run_id"' in out
    code, out = cli("--user", "ada", "audit", "list", "--action", "job.trigger", "--format", "json")
    [entry] = json.loads(out)                                   # for scripts, as every other listing
    assert code == 0 and (entry["actor"], entry["action"], entry["outcome"]) == ("olga", "job.trigger", "ok")
    assert entry["at_utc"].endswith("+00:00") and json.loads(entry["detail"])["run_id"] > 0


def test_a_trigger_says_whether_a_runner_will_run_it(cli, settings):
    """A fresh user read "the console or `medjobs run` executes it" while none was running, and waited."""
    from datetime import datetime, timezone

    from medjobs_tui.store import connect
    from medjobs_tui.store import runs as store_runs
    from tests.conftest import STORE_KEY

    code, out = cli("trigger", "backup")
    assert code == 0 and "no runner is running now" in out and "medjobs trigger --wait" in out
    db = connect(settings.database_path, STORE_KEY)
    store_runs.register_runner(db, "workstation:4242:a1b2", datetime.now(timezone.utc))
    db.close()
    code, out = cli("trigger", "backup")
    assert code == 0 and "a runner of the clinic is alive and will run it" in out
