"""Fixtures for handler tests: a tmp clinic config and a copy of the demo clinic generated at a fixed instant.

The demo is generated once per session (at NOW) and its file copied into each test's tmp_path, so every test
gets its own store and the whole set stays fast.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from medjobs_tui.config import Settings, load_settings
from medjobs_tui.demo import DemoReport, generate_demo
from medjobs_tui.jobs import get_handler
from medjobs_tui.jobs.base import JobContext
from medjobs_tui.store import clinical as store_clinical
from medjobs_tui.store import connect, transaction
from tests.conftest import STORE_KEY, write_config

NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)
"""07:55 in New York (EST): the 08:00 doses are due within the 15-minute window."""


@dataclass
class Clinic:
    """A demo clinic in tmp_path: settings, an open store, the demo report, and a way to run jobs."""

    settings: Settings
    db: sqlite_utils.Database
    report: DemoReport

    def ctx(self, job_name: str, now: datetime = NOW, run_id: int | None = None, **options: Any) -> JobContext:
        """A JobContext for the configured job ``job_name`` with ``options`` merged over its own."""
        job = self.settings.jobs[job_name]
        if options:
            job = job.model_copy(update={"options": {**job.options, **options}})
        return JobContext(db=self.db, settings=self.settings, job_name=job_name, job=job, now=now, run_id=run_id)

    def run(self, job_name: str, now: datetime = NOW, run_id: int | None = None, **options: Any) -> dict[str, Any]:
        """Run the handler of ``job_name`` and return its summary."""
        ctx = self.ctx(job_name, now, run_id, **options)
        return get_handler(ctx.job.job_type)(ctx)

    def rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Query helper for assertions: rows as dicts."""
        cur = self.db.execute(sql, list(params))
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def scalar(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> Any:
        return self.db.execute(sql, list(params)).fetchone()[0]


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoReport]:
    """The demo clinic generated once at NOW (seed 7, 50 patients): (database file, report)."""
    folder = tmp_path_factory.mktemp("demo-template")
    settings = load_settings(write_config(folder))
    db = connect(settings.database_path, STORE_KEY)
    report = generate_demo(db, settings, NOW)
    db.close()
    return settings.database_path, report


@pytest.fixture
def clinic(tmp_path: Path, demo_template: tuple[Path, DemoReport]) -> Clinic:
    """A private copy of the demo clinic with its own config, backups and evidence under tmp_path."""
    template, report = demo_template
    settings = load_settings(write_config(tmp_path))
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, settings.database_path)
    db = connect(settings.database_path, STORE_KEY)
    yield Clinic(settings=settings, db=db, report=report)
    db.close()


def one_order_clinic(settings: Settings, medication: str, ingredient: str,
                     times_of_day: list[str]) -> tuple[sqlite_utils.Database, int]:
    """Write one patient (P-00001, clinic zone) with one active twice-a-day order of ``medication`` at the
    local ``times_of_day`` (HH:MM), both in the store since 1 Jan 2026 UTC; return (store, order id)."""
    db = connect(settings.database_path, STORE_KEY)
    since = "2026-01-01T00:00:00+00:00"
    with transaction(db):
        pid = store_clinical.insert_patient(db, pseudonym="P-00001", source="demo", birth_year=1950,
                                            deceased=False, timezone=None, reminders_opt_out=False,
                                            created_at=since)
        oid = store_clinical.insert_medication_request(
            db, patient_id=pid, status="active", medication_text=medication, ingredients=[ingredient],
            schedule_status="scheduled", times_of_day=times_of_day, doses_per_day=float(len(times_of_day)),
            dose_quantity=1.0, dose_unit="tablet", created_at=since, updated_at=since)
    return db, oid
