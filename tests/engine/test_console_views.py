"""The console's operator views and bulk actions: every state findable, a run's whole story, a job's page,
the overview's figures, the runners alive, progress, bulk retry/cancel (each audited), exports (audited)."""

from __future__ import annotations

import csv
import json
import stat
from datetime import timedelta

import pytest

from medjobs_tui.console import Actor, Console, ConsoleError, PermissionDenied, RunFilter
from medjobs_tui.console.logbook import LogBook
from medjobs_tui.engine.runner import Runner
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.store import runs as store_runs
from tests.tui.conftest import seed_runs

OPERATOR = Actor("olga", "operator")
REVIEWER = Actor("rita", "reviewer")


@pytest.fixture
def console(settings, clock):
    """A console (no runner) over a store with seed_runs' history: runs 1-4 and 6 succeeded, 5 dead after
    3 attempts, 7 cancelled, 8 queued."""
    seed_runs(settings, clock)
    return Console(settings, clock=clock)


def audit_rows(console):
    return [tuple(r) for r in console.db.execute("SELECT action, target, outcome FROM audit_log ORDER BY id")]


def test_a_paused_jobs_skipped_tick_is_listed_and_filterable_by_status(console, settings, clock):
    console.pause(OPERATOR, "backup")
    runner = Runner(settings, clock=clock)
    skipped = runner.tick("backup", clock.now().replace(second=0, microsecond=0))
    runner.stop()
    assert store_runs.get_run(console.db, skipped)["status"] == "skipped"
    assert skipped in [r.id for r in console.runs(include_skipped=True)]         # every state is visible
    assert skipped not in [r.id for r in console.runs()]                          # the CLI's default hides it
    assert skipped in [r.id for r in console.snapshot(views={"queue"}).runs]     # the Queue shows it
    assert [r.id for r in console.runs(run_filter=RunFilter(statuses=("skipped",)))] == [skipped]
    assert [r.status for r in console.runs(run_filter=RunFilter(statuses=("cancelled", "dead")))] == [
        "cancelled", "dead"]


def test_runs_filter_by_job_since_and_text(console, clock):
    assert {r.job_name for r in console.runs(run_filter=RunFilter(job="supply_monitor"))} == {"supply_monitor"}
    recent = console.runs(run_filter=RunFilter(since=clock.now() - timedelta(minutes=1)))
    assert [r.id for r in recent] == [8, 7, 6]                 # scheduled in the last minute, newest first
    assert [r.id for r in console.runs(run_filter=RunFilter(text="E-TEST"))] == [5]
    with pytest.raises(ConsoleError, match="no job named 'nope'"):
        console.runs(run_filter=RunFilter(job="nope"))


def test_a_waiting_run_is_listed_however_many_newer_runs_there_are(console):
    assert 8 in [r.id for r in console.runs(limit=1)] and len(console.runs(limit=1)) == 1
    console.trigger(OPERATOR, "backup")
    ids = [r.id for r in console.runs(limit=1)]
    assert ids == [9, 8]                                     # the newest, and the older run still queued


def test_asking_for_queued_runs_lists_every_one_however_small_the_limit(console):
    waiting = [r.id for r in console.runs(run_filter=RunFilter(statuses=("queued",)))]
    for _ in range(3):
        waiting.insert(0, console.trigger(OPERATOR, "backup"))
    assert [r.id for r in console.runs(limit=2, run_filter=RunFilter(statuses=("queued",)))] == waiting
    assert len(console.runs(limit=2, run_filter=RunFilter(statuses=("dead",)))) <= 2     # others keep the limit


def test_the_story_of_a_dead_run_has_every_state_change_and_attempt_and_its_evidence(console):
    story = console.run_story(5)
    assert story.created_by == "tester" and story.run.trigger == "manual"
    moves = [(h.from_status, h.to_status) for h in story.history]
    assert moves == [(None, "queued"), ("queued", "running"), ("running", "failed"), ("failed", "queued"),
                     ("queued", "running"), ("running", "failed"), ("failed", "queued"),
                     ("queued", "running"), ("running", "failed"), ("failed", "dead")]
    assert [h.actor for h in story.history][:1] == ["tester"]
    assert [(a.attempt, a.outcome, a.error) for a in story.attempts] == [
        (n, "failed", "handler error (ref E-TEST)") for n in (1, 2, 3)]
    assert story.evidence_valid is True and story.evidence_path.endswith("/5.yaml")
    with pytest.raises(ConsoleError, match="no run 999"):
        console.run_story(999)


def test_a_jobs_page_gives_five_fire_times_policy_and_seven_days(console, settings, clock):
    page = console.job_page("refill_check")
    assert len(page.next_fires) == 5
    assert [f.astimezone(settings.zone).strftime("%m-%d %H:%M") for f in page.next_fires] == [
        "11-30 07:00", "12-01 07:00", "12-02 07:00", "12-03 07:00", "12-04 07:00"]     # cron 0 7 * * *, clinic time
    assert dict(page.policy)["retry"].startswith("3 attempts, 600 s apart")
    assert len(page.days) == 7 and page.days[-1].day == "2026-11-29"
    assert (page.days[-1].failed, page.days[-1].succeeded) == (3, 0)
    assert page.dead_run_ids == [5] and [r.id for r in page.runs] == [5]


def test_the_overview_counts_attempts_per_minute_queue_depth_dead_runs_and_runners(console, settings, clock):
    overview = console.overview()
    assert len(overview.minutes) == 60 and overview.minutes[-1] == clock.now().replace(second=0, microsecond=0)
    assert sum(overview.succeeded) == 5 and sum(overview.failed) == 3 and sum(overview.timed_out) == 0
    assert {q.queue: (q.queued, q.running) for q in overview.queues}["maintenance"] == (1, 0)
    assert overview.dead_runs == 1 and overview.runners == []
    runner = Runner(settings, clock=clock)
    runner.recover()                                  # registers it: its heartbeat is in the store
    try:
        alive = Console(settings, clock=clock, runner=runner).runners_alive()
        assert [(r.id, r.this_console) for r in alive] == [(runner.id, True)]
        assert [(r.id, r.this_console) for r in console.runners_alive()] == [(runner.id, False)]
    finally:
        runner.stop()
    assert console.runners_alive() == []                # a stopped runner is gone


def test_a_running_run_reports_progress_and_the_console_estimates_the_time_left(console, settings, clock):
    run_id = console.trigger(OPERATOR, "supply_monitor")
    console.cancel(OPERATOR, 8)                          # leave the queue to this run
    claimed = store_runs.claim_next(console.db, {"clinical": 2, "maintenance": 1}, clock.now())
    assert claimed["id"] == run_id
    ctx = JobContext(db=console.db, settings=settings, job_name="supply_monitor",
                     job=settings.jobs["supply_monitor"], now=clock.now(), run_id=run_id)
    assert ctx.progress(1, 40) is True
    assert ctx.progress(2, 40) is False                  # throttled: at most one write a second
    assert ctx.progress(40, 40) is True                  # the last one always
    row = console.run(run_id)
    assert row.progress == (40, 40)
    store_runs.set_progress(console.db, run_id, 10, 40, clock.now())
    clock.advance(20)
    row = console.run(run_id)
    assert row.progress == (10, 40) and row.eta_s(clock.now()) == pytest.approx(60.0)   # 20 s for 10, 30 left
    assert JobContext(db=console.db, settings=settings, job_name="x", job=settings.jobs["backup"],
                      now=clock.now()).progress(1, 2) is False                            # outside the engine


def test_bulk_retry_retries_what_it_can_reports_the_rest_and_audits_each(console):
    result = console.retry_many(OPERATOR, [5, 6, 5])
    assert result.done == [5] and [run_id for run_id, _ in result.refused] == [6]
    assert "only a dead run" in result.refused[0][1]
    assert store_runs.get_run(console.db, 5)["status"] == "queued"
    assert [r for r in audit_rows(console) if r[0] == "run.retry"] == [("run.retry", "run:5", "ok")]


def test_bulk_cancel_is_refused_whole_for_a_reviewer_and_the_refusal_is_audited(console):
    with pytest.raises(PermissionDenied, match="may not cancel runs"):
        console.cancel_many(REVIEWER, [8])
    assert store_runs.get_run(console.db, 8)["status"] == "queued"
    assert audit_rows(console)[-1] == ("run.cancel", "runs:1", "denied")
    assert console.cancel_many(OPERATOR, [8]).done == [8]


def test_all_dead_runs_of_a_job(console):
    assert console.dead_runs("refill_check") == [5] and console.dead_runs("backup") == []


def test_export_writes_csv_or_json_and_is_audited(console, tmp_path):
    columns, rows = ["run", "status"], [["5", "dead"], ["8", "queued"]]
    path = console.export_table(REVIEWER, "queue", columns, rows, tmp_path / "out" / "runs.csv")
    assert list(csv.reader(path.open())) == [["run", "status"], ["5", "dead"], ["8", "queued"]]
    path = console.export_table(REVIEWER, "queue", columns, rows, tmp_path / "runs.json")
    assert json.loads(path.read_text()) == [{"run": "5", "status": "dead"}, {"run": "8", "status": "queued"}]
    assert audit_rows(console)[-2:] == [("view.export", "view:queue", "ok")] * 2
    with pytest.raises(ConsoleError, match="csv or json"):
        console.export_table(REVIEWER, "queue", columns, rows, tmp_path / "runs.xlsx")
    with pytest.raises(ConsoleError, match="cannot write"):
        console.export_table(REVIEWER, "queue", columns, rows, tmp_path / "runs.json" / "x.csv")
    assert not list(tmp_path.glob("**/*.part"))                                  # nothing half-written


def test_the_logbook_keeps_the_newest_lines_by_level():
    import logging

    book = LogBook(capacity=3)
    logger = logging.getLogger("medjobs_tui.test_logbook")
    logger.addHandler(book)
    logger.setLevel(logging.INFO)
    try:
        for n in range(4):
            logger.info("run %s succeeded", n)
        logger.error("heartbeat failed: %s", "OperationalError")
    finally:
        logger.removeHandler(book)
    assert [line.message for line in book.lines()] == [
        "heartbeat failed: OperationalError", "run 3 succeeded", "run 2 succeeded"]
    assert [line.level for line in book.lines("error")] == ["ERROR"]
    with pytest.raises(ValueError, match="unknown log level"):
        book.lines("loud")


def test_a_snapshot_reads_only_the_views_asked_for(console):
    snap = console.snapshot(views={"queue"})
    assert snap.runs and snap.jobs == [] and snap.evidence == [] and snap.overview is None
    assert snap.status_counts["dead"] == 1 and snap.views == frozenset({"queue"})


def test_export_never_replaces_a_file_unless_told_to(console, tmp_path):
    columns, rows = ["run", "status"], [["5", "=cmd|' /C calc'!A0"]]
    target = tmp_path / "runs.csv"
    target.write_text("keep me\n")
    with pytest.raises(ConsoleError, match="already exists"):
        console.export_table(REVIEWER, "queue", columns, rows, target)
    assert target.read_text() == "keep me\n" and not list(tmp_path.glob("*.part"))
    assert audit_rows(console)[-1] == ("view.export", "view:queue", "error")          # the refusal is audited
    console.export_table(REVIEWER, "queue", columns, rows, target, overwrite=True)
    assert list(csv.reader(target.open())) == [["run", "status"], ["5", "'=cmd|' /C calc'!A0"]]


def test_a_retry_policy_reads_as_the_engine_applies_it():
    """Found by a fresh user: a fixed backoff read "fixed backoff (at most 3600 s)", a cap that applies only to an
    exponential one."""
    from medjobs_tui.config import RetryPolicy
    from medjobs_tui.console.views import retry_words

    assert retry_words(RetryPolicy(max_attempts=3, delay=300)) == "3 attempts, 300 s apart"
    assert retry_words(RetryPolicy(max_attempts=5, delay=60, backoff="exponential", max_delay=900, jitter=True)) == (
        "5 attempts, 60 s before the second, doubling each time, at most 900 s (full jitter: a random wait up to that)")


@pytest.mark.parametrize("overwrite", [False, True])
def test_export_never_follows_a_link_planted_at_its_temporary_name(console, tmp_path, overwrite):
    """Another local user plants ``runs.csv.part -> victim`` (the old fixed temporary name) in a shared folder:
    the export must neither write through it nor follow any link; its temporary file is new, 0600, random."""
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch\n")
    (tmp_path / "runs.csv.part").symlink_to(victim)
    target = tmp_path / "runs.csv"
    if overwrite:
        target.write_text("old\n")
    console.export_table(REVIEWER, "queue", ["run", "status"], [["5", "dead"]], target, overwrite=overwrite)
    assert victim.read_text() == "do not touch\n" and "dead" in target.read_text()
    assert not target.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_the_temporary_file_is_never_opened_through_an_existing_name(tmp_path, monkeypatch):
    from medjobs_tui.console import views

    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch\n")
    names = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(views.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".out.csv.aaaa.part").symlink_to(victim)             # a guessed name, planted: skipped
    tmp = views.write_temp_beside(tmp_path / "out.csv", "x\n")
    assert tmp.name == ".out.csv.bbbb.part" and tmp.read_text() == "x\n"
    assert victim.read_text() == "do not touch\n" and stat.S_IMODE(tmp.stat().st_mode) == 0o600
