"""A run created queued is read from its own row (no history row of its own: two pages fewer per trigger),
and the finished-instant index holds finished runs only; what the history and the readers show is unchanged."""

from __future__ import annotations

from datetime import timedelta

from medjobs_tui.clock import iso
from medjobs_tui.security.keys import load_keys
from medjobs_tui.store import connect, transaction
from medjobs_tui.store import clinical as store_clinical
from medjobs_tui.store import runs as store_runs
from tests.conftest import FIXED_NOW


def _insert(db, **extra):
    return store_runs.insert_run(db, job_name="backup", job_type="backup", queue="maintenance", priority=1,
                                 max_attempts=3, trigger="manual", scheduled_at=FIXED_NOW, created_by="nurse.kim",
                                 now=FIXED_NOW, **extra)


def test_a_queued_runs_creation_is_its_history_first_entry_read_from_its_row(settings):
    db = connect(settings.database_path, load_keys(settings).store)
    run_id = _insert(db)
    assert db.execute("SELECT count(*) FROM run_history WHERE run_id = ?", [run_id]).fetchone()[0] == 0
    later = FIXED_NOW + timedelta(seconds=5)
    store_runs.cancel_queued(db, run_id, "nurse.kim", later)
    story = store_runs.run_history(db, run_id)
    assert [(h["from_status"], h["to_status"], h["actor"], h["at"]) for h in story] == [
        (None, "queued", "nurse.kim", iso(FIXED_NOW)), ("queued", "cancelled", "nurse.kim", iso(later))]
    assert store_runs.run_history(db, run_id + 1) == []          # no such run: no story
    db.close()


def test_a_creation_with_a_note_or_another_status_keeps_its_own_row_and_is_not_shown_twice(settings):
    db = connect(settings.database_path, load_keys(settings).store)
    skipped = _insert(db, status="skipped", note="job paused")
    noted = _insert(db, note="catch-up run")
    for run_id, status, note in ((skipped, "skipped", "job paused"), (noted, "queued", "catch-up run")):
        story = store_runs.run_history(db, run_id)
        assert [(h["from_status"], h["to_status"], h["note"]) for h in story] == [(None, status, note)]
    # a run of an older store, whose creation was a row, is read once
    old = _insert(db)
    with transaction(db):
        db.execute("INSERT INTO run_history (run_id, from_status, to_status, at, actor) VALUES (?, NULL, 'queued', ?,"
                   " 'scheduler')", [old, iso(FIXED_NOW)])
    assert [(h["to_status"], h["actor"]) for h in store_runs.run_history(db, old)] == [("queued", "scheduler")]
    db.close()


def test_the_finished_instant_indexes_hold_finished_ones_and_serve_their_readers(settings):
    db = connect(settings.database_path, load_keys(settings).store)
    for index in ("ix_runs_finished", "ix_run_attempts_finished"):
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [index]).fetchone()[0]
        assert "WHERE finished_at IS NOT NULL" in sql
    for index, query in (
            ("ix_runs_finished", "SELECT job_name, status, duration_s FROM runs WHERE finished_at >= ? AND finished_at < ?"
                                 " ORDER BY id"),
            ("ix_run_attempts_finished", "SELECT substr(finished_at, 1, 16) AS minute, outcome, count(*) FROM"
                                         " run_attempts WHERE finished_at >= ? AND finished_at < ? AND outcome IS NOT"
                                         " NULL GROUP BY minute, outcome")):
        plan = " ".join(str(r) for r in db.execute("EXPLAIN QUERY PLAN " + query, ["a", "b"]).fetchall())
        assert index in plan
    # every reader of an attempt's finished instant, as the store asks it: through the index, never a sort of all
    from medjobs_tui.store import alerts as store_alerts
    from medjobs_tui.store import views as store_views
    traced: list[str] = []
    db.conn.set_trace_callback(traced.append)
    store_runs.attempts_by_job(db)
    store_runs.typical_durations(db, FIXED_NOW)
    store_views.attempts_per_minute(db, FIXED_NOW)
    store_views.job_attempts_since(db, "backup", FIXED_NOW)
    store_alerts.attempt_outcomes_since(db, FIXED_NOW)
    db.conn.set_trace_callback(None)
    assert len(traced) == 5
    for sql in traced:
        plan = " ".join(str(r) for r in db.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
        # attempts are read through an index (the finished-instant one, or by run for one job's), never a full scan
        assert "SCAN a" not in plan or "SCAN a USING INDEX ix_run_attempts_finished" in plan, (sql, plan)
        if sql == traced[0]:                     # attempts_by_job reads every attempt in the index's order: no sort
            assert "TEMP B-TREE FOR ORDER BY" not in plan, (sql, plan)
    done, waiting = _insert(db), _insert(db)
    with transaction(db):
        db.execute("UPDATE runs SET status = 'succeeded', finished_at = ? WHERE id = ?", [iso(FIXED_NOW), done])
    day = store_clinical.runs_finished_between(db, iso(FIXED_NOW - timedelta(hours=1)), iso(FIXED_NOW + timedelta(hours=1)))
    assert [r["status"] for r in day] == ["succeeded"] and waiting
    db.close()
