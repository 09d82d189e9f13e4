"""Every long handler reports its progress (orders, patients, pages) so the Queue and a run's screen show a
bar and the time left: counted at the outer loop, ending with all items done."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext


@dataclass
class RecordingContext(JobContext):
    """A JobContext that keeps every progress report instead of writing it to a run's row."""

    reports: list[tuple[int, int | None]] = field(default_factory=list)

    def progress(self, done: int, total: int | None = None) -> bool:
        self.reports.append((done, total))
        return True


def run_recording(clinic, job_name: str) -> tuple[dict, list[tuple[int, int | None]]]:
    ctx = clinic.ctx(job_name)
    recording = RecordingContext(db=ctx.db, settings=ctx.settings, job_name=ctx.job_name, job=ctx.job, now=ctx.now)
    return get_handler(ctx.job.job_type)(recording), recording.reports


@pytest.mark.parametrize("job_name, counted", [
    ("refill_check", lambda c, s: c.scalar("SELECT count(*) FROM medication_requests WHERE status = 'active'")),
    ("supply_monitor", lambda c, s: c.scalar("SELECT count(*) FROM medication_requests WHERE status = 'active'")),
    ("analytics_rollup", lambda c, s: c.scalar("SELECT count(*) FROM medication_requests WHERE status = 'active'")),
    ("medication_reminder", lambda c, s: s["orders_eligible"]),
    ("interaction_check", lambda c, s: s["patients_checked"]),
])
def test_each_long_handler_reports_items_done_of_all_ending_at_all(clinic, job_name, counted):
    summary, reports = run_recording(clinic, job_name)
    total = counted(clinic, summary)
    assert total > 0
    assert reports[-1] == (total, total)                     # the last report: every item done
    assert {t for _, t in reports} == {total}                # the total is known from the start
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[0] >= 1             # never goes back


def test_backup_reports_pages_copied_of_the_live_stores_pages(clinic):
    summary, reports = run_recording(clinic, "backup")
    assert summary["verified"] is True
    pages = clinic.scalar("PRAGMA page_count")
    done = [d for d, _ in reports]
    assert reports[-1] == (pages, pages)
    assert {t for _, t in reports} == {pages}
    assert done == sorted(done)
    print(reports); assert len(reports) > 1                                  # reported while the export runs, not only at the end


@pytest.mark.parametrize("job_name", ["backup", "interaction_check"])
def test_under_a_claimed_run_the_last_report_is_on_the_runs_row(clinic, job_name):
    """The reports reach the run's row in the store (the Queue and the run's screen read them from there)."""
    from medjobs_tui.store import runs as store_runs
    from tests.jobs.conftest import NOW

    job = clinic.settings.jobs[job_name]
    run_id = store_runs.insert_run(clinic.db, job_name=job_name, job_type=job.job_type, queue="maintenance",
                                   priority=0, max_attempts=1, trigger="manual", scheduled_at=NOW,
                                   created_by="tester", now=NOW)
    assert store_runs.claim_next(clinic.db, {"maintenance": 1}, NOW, only=[run_id])["id"] == run_id
    summary = clinic.run(job_name, run_id=run_id)
    row = store_runs.get_run(clinic.db, run_id)
    expected = clinic.scalar("PRAGMA page_count") if job_name == "backup" else summary["patients_checked"]
    assert (row["progress_done"], row["progress_total"]) == (expected, expected)
