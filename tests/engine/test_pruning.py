"""Pruning: finished runs past the retention are folded into daily metrics and removed; evidence files stay."""

from __future__ import annotations

import logging
from datetime import timedelta

from medjobs_tui.console import Actor, Console
from medjobs_tui.store import pruning as store_pruning
from medjobs_tui.store import runs as store_runs
from tests.engine.test_runner import make_runner

NURSE = Actor("nurse.kim", "operator")


def metrics_of(console, job):
    return {m.job_name: m for m in console.metrics()}[job]


def test_runs_older_than_the_retention_are_folded_into_daily_metrics_and_removed(tmp_path, clock, caplog):
    caplog.set_level(logging.INFO)
    runner, console = make_runner(tmp_path, clock, "fail_until_third", retry={"max_attempts": 3, "delay": 0})
    old = console.trigger(NURSE, "backup")              # 3 attempts: 2 failed, then succeeded
    runner.drain(timeout=60)
    old_evidence = runner.settings.evidence_dir / store_runs.get_run(runner.db, old)["evidence_path"]
    before = metrics_of(console, "backup")
    assert (before.runs, before.attempts, before.retry_count) == (1, 3, 2)

    clock.advance(89 * 86400)
    recent = console.trigger(NURSE, "backup")
    runner.drain(timeout=60)
    clock.advance(2 * 86400)                            # the first run is now 91 days old, the second 2
    assert runner.prune() == 1

    assert store_runs.get_run(runner.db, old) is None
    assert store_runs.run_attempts(runner.db, old) == [] and store_runs.run_history(runner.db, old) == []
    assert store_runs.get_run(runner.db, recent)["status"] == "succeeded"
    assert old_evidence.exists()                        # the record stays
    [day] = store_pruning.daily_metrics(runner.db, "backup")
    assert (day["day"], day["runs"], day["succeeded_runs"], day["attempts"], day["succeeded_attempts"],
            day["error_attempts"], day["retries"], day["invalid_evidence"]) == ("2026-11-29", 1, 1, 3, 1, 2, 2, 0)
    after = metrics_of(console, "backup")               # metrics still cover the whole history
    assert (after.runs, after.attempts, after.retry_count, after.validation_status) == (2, 6, 4, "valid")
    assert after.success_rate == 2 / 6 and after.error_rate == 4 / 6
    assert "pruned 1 finished run(s) older than 90 days" in caplog.text
    runner.stop()


def test_pruning_keeps_active_runs_and_runs_inside_the_retention(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    queued = console.trigger(NURSE, "backup")           # never run: still queued 200 days later
    clock.advance(200 * 86400)
    assert runner.prune() == 0
    assert store_runs.get_run(runner.db, queued)["status"] == "queued"
    runner.stop()


def test_pruning_in_batches_adds_to_the_same_day_and_tick_rows_go_too(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    console.pause(NURSE, "backup")
    skipped = runner.tick("backup", clock.now().replace(hour=7, minute=45))    # a skipped tick row
    console.resume(NURSE, "backup")
    first, second = console.trigger(NURSE, "backup"), console.trigger(NURSE, "backup")
    runner.drain()
    clock.advance(91 * 86400)
    before = clock.now() - timedelta(days=90)
    ok = lambda path, sha: True   # noqa: E731
    assert [store_pruning.prune_batch(runner.db, before, ok, limit=2) for _ in range(3)] == [2, 1, 0]
    assert [store_runs.get_run(runner.db, i) for i in (skipped, first, second)] == [None, None, None]
    [day] = store_pruning.daily_metrics(runner.db, "backup")
    assert (day["runs"], day["succeeded_runs"], day["other_rows"], day["attempts"]) == (2, 2, 1, 2)
    runner.stop()


def test_a_tampered_record_still_counts_as_invalid_after_its_run_is_pruned(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    path = runner.settings.evidence_dir / store_runs.get_run(runner.db, run_id)["evidence_path"]
    path.write_text(path.read_text().replace("succeeded", "failed"))
    clock.advance(91 * 86400)
    runner.prune()
    assert metrics_of(console, "backup").validation_status == "invalid: 1"
    runner.stop()


def test_retention_comes_from_the_config(tmp_path, clock):
    from tests.conftest import write_config
    from medjobs_tui.config import load_settings

    settings = load_settings(write_config(tmp_path, runner={"retention_days": 7}))
    assert settings.runner.retention_days == 7
    assert load_settings(write_config(tmp_path)).runner.retention_days == 90


def test_pruned_runs_keep_their_evidence_chain_links_and_the_chain_still_checks(tmp_path, clock):
    from medjobs_tui.engine.validation import check_chain
    from medjobs_tui.store import validation as store_validation

    runner, console = make_runner(tmp_path, clock, "ok")
    run_id = console.trigger(NURSE, "backup")
    runner.drain()
    links = store_validation.chain_links(runner.db)
    assert [link["run_id"] for link in links] == [run_id]
    clock.advance(91 * 86400)
    assert runner.prune() == 1
    assert store_runs.get_run(runner.db, run_id) is None
    assert store_validation.chain_links(runner.db) == links          # the record's link stays
    check = check_chain(runner.db, runner.settings.evidence_dir)
    assert check.chain_problems == [] and check.run_problems == {}
    assert runner.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    runner.stop()


OLD_EVIDENCE_CHAIN = (   # as migration 90 made it before migration 32 existed
    "CREATE TABLE evidence_chain (seq INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    " path TEXT NOT NULL, sha256 TEXT NOT NULL, prev_sha256 TEXT, written_at TEXT NOT NULL)")


def chain_keys(db):
    return db.execute("SELECT count(*) FROM pragma_foreign_key_list('evidence_chain')").fetchone()[0]


def test_a_new_store_has_no_foreign_key_from_the_evidence_chain_to_runs(tmp_path, clock):
    runner, _ = make_runner(tmp_path, clock, "ok")
    assert chain_keys(runner.db) == 0
    runner.stop()


def test_migration_32_drops_the_chains_foreign_key_keeps_its_links_and_pruning_runs_with_keys_on(tmp_path, clock):
    from medjobs_tui.engine.validation import check_chain
    from medjobs_tui.store import migrate, transaction
    from medjobs_tui.store import validation as store_validation

    runner, console = make_runner(tmp_path, clock, "ok")
    first, second = console.trigger(NURSE, "backup"), console.trigger(NURSE, "supply_monitor")
    runner.drain()
    db = runner.db
    links = store_validation.chain_links(db)
    assert sorted(link["run_id"] for link in links) == [first, second]     # in the order they finished
    with transaction(db):                               # the store as it was before migration 32
        db.execute("DROP TABLE evidence_chain")
        db.execute(OLD_EVIDENCE_CHAIN)
        db.execute("CREATE INDEX ix_evidence_chain_run ON evidence_chain(run_id, seq)")
        for link in links:
            db.execute("INSERT INTO evidence_chain VALUES (?, ?, ?, ?, ?, ?)", [link[k] for k in (
                "seq", "run_id", "path", "sha256", "prev_sha256", "written_at")])
        db.execute("DELETE FROM schema_version WHERE version = 32")
    assert chain_keys(db) == 1

    migrate(db)

    assert chain_keys(db) == 0
    assert store_validation.chain_links(db) == links                  # every link, same seq and values
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'ix_evidence_chain_run'").fetchone()
    clock.advance(91 * 86400)
    assert runner.prune() == 2                          # with foreign keys on: nothing else refers to runs
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert store_validation.chain_links(db) == links
    check = check_chain(db, runner.settings.evidence_dir)
    assert check.chain_problems == [] and check.run_problems == {}
    runner.stop()
