"""Fixtures of the dashboard tests: a temporary clinic (config, store, evidence) at a fixed instant."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from medjobs_tui.clock import FixedClock, parse_iso
from medjobs_tui.config import Settings, load_settings
from medjobs_tui.console import Actor, Console
from medjobs_tui.engine.pool import Outcome
from medjobs_tui.engine.runner import Runner
from medjobs_tui.notify import outbox
from medjobs_tui.store import connect, transaction
from medjobs_tui.store import runs as store_runs
from tests.conftest import STORE_KEY, write_test_keys

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"
NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)   # 07:55 in America/New_York
OPERATOR = Actor("tester", "operator")

try:  # the demo clinic generator is written by another team; until it lands the clinic is empty
    from medjobs_tui.demo import generate_demo
except ImportError:  # pragma: no cover - depends on the tree
    generate_demo = None


@dataclass
class Clinic:
    """A temporary clinic: settings, fixed clock, console (with or without a runner), acting operator."""

    settings: Settings
    clock: FixedClock
    console: Console
    runner: Runner | None
    actor: Actor = OPERATOR


def write_config(tmp_path: Path, **runner: Any) -> Settings:
    """The repo's config.yaml with every path inside ``tmp_path`` (and runner overrides), loaded."""
    data = yaml.safe_load(REPO_CONFIG.read_text(encoding="utf-8"))
    data["paths"] = {"database": "data/medjobs.db", "backups": "data/backups", "evidence": "evidence"}
    data.setdefault("runner", {}).update(runner)
    data["security"] = {**data.get("security", {}), "password_hash": {"memory_kib": 8, "iterations": 1, "lanes": 1}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    write_test_keys(tmp_path)
    return load_settings(path)


@pytest.fixture(autouse=True)
def no_animations(monkeypatch: pytest.MonkeyPatch) -> None:
    """No animations in the dashboard tests: nothing to wait for, nothing caught half-way in a snapshot."""
    monkeypatch.setattr("textual.constants.TEXTUAL_ANIMATIONS", "none")


@pytest.fixture(autouse=True)
def own_ui_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps its dashboard settings (the theme) in its own file, never the user's."""
    path = tmp_path / "ui" / "dashboard.json"
    monkeypatch.setenv("MEDJOBS_UI_SETTINGS", str(path))
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A temp clinic's settings, its store seeded by the demo generator when there is one."""
    s = write_config(tmp_path, poll_interval=0.2)
    if generate_demo is not None:
        db = connect(s.database_path, STORE_KEY)
        generate_demo(db, s, NOW, seed=7)
        db.close()
    return s


@pytest.fixture
def clock() -> FixedClock:
    """The clinic's clock, standing at 2026-11-29 12:55 UTC."""
    return FixedClock(NOW)


@pytest.fixture
def clinic(settings: Settings, clock: FixedClock) -> Clinic:
    """A clinic whose console has no runner: runs are queued in the store and stay there."""
    return Clinic(settings, clock, Console(settings, clock=clock), None)


@pytest.fixture
def live_clinic(settings: Settings, clock: FixedClock):
    """A clinic with a real runner (worker processes); the app under test starts and stops it."""
    runner = Runner(settings, clock=clock)
    yield Clinic(settings, clock, Console(settings, runner=runner), runner)
    runner.stop()


class FixedExecutor:
    """An executor whose attempts take no time and whose outcome per job type is fixed in advance."""

    def __init__(self, outcomes: dict[str, Outcome], default: Outcome) -> None:
        self.outcomes = outcomes
        self.default = default

    def execute(self, run: dict[str, Any], now: datetime, timeout_s: float) -> Outcome:
        return self.outcomes.get(run["job_type"], self.default)


def seed_runs(settings: Settings, clock: FixedClock) -> None:
    """Deterministic history: successes with fixed durations, a failure retried to death, a cancelled
    run and a queued one. Every instant comes from ``clock``, which ends after the last backoff."""
    executor = FixedExecutor(
        {"refill_check": Outcome("failed", 0.75, error="handler error (ref E-TEST)"),
         "supply_monitor": Outcome("succeeded", 1.25, summary={"items": 3}),
         "interaction_check": Outcome("succeeded", 2.5, summary={"pairs": 4})},
        default=Outcome("succeeded", 0.5, summary={"ok": 1}),
    )
    runner = Runner(settings, clock=clock, executor=executor)
    runner.id = "clinic-pc:4242:a1b2c3"     # a fixed runner id: the run history names it
    try:
        for name in ("backup", "supply_monitor", "interaction_check", "medication_reminder", "refill_check"):
            runner.enqueue(name, "tester")
        runner.drain(timeout=30)
        failing = next(r for r in store_runs.recent_runs(runner.db) if r["job_name"] == "refill_check")
        while (run := store_runs.get_run(runner.db, failing["id"]))["status"] == "queued":
            clock.set(parse_iso(run["available_at"]))     # jump over the backoff to the next attempt
            runner.drain(timeout=30)
        runner.enqueue("supply_monitor", "tester")
        runner.drain(timeout=30)
        cancelled = runner.enqueue("analytics_rollup", "tester")
        store_runs.cancel_queued(runner.db, cancelled, "tester", clock.now())
        clock.advance(5)
        runner.enqueue("backup", "tester")      # stays queued: nobody drains it
    finally:
        runner.stop()


def seed_notifications(settings: Settings) -> None:
    """One notification of four kinds (patient, staff and prescriber audiences) about the demo clinic's
    first orders, queued at NOW as the handlers would; the longest template (reminder_missed) among them."""
    db = connect(settings.database_path, STORE_KEY)
    try:
        orders = [(r["id"], r["patient_id"]) for r in db.query(
            "SELECT id, patient_id FROM medication_requests ORDER BY id LIMIT 4")]
        pseudonyms = {r["id"]: r["pseudonym"] for r in db.query("SELECT id, pseudonym FROM patients")}
        due = datetime(2026, 11, 29, 13, 30, tzinfo=timezone.utc)
        with transaction(db):
            for (order, patient), (kind, params) in zip(orders, (
                ("dose_reminder", {"local_time": "08:30", "dose": "1 tablet"}),
                ("reminder_missed", {"catch_up_minutes": 60}),
                ("supply_critical", {"days_remaining": 1, "threshold_days": 3}),
                ("renewal_needed", {"days_remaining": 2}),
            )):
                params = {"order": order, **params}
                if "{patient}" in outbox.TEMPLATES[kind].text:
                    params["patient"] = pseudonyms[patient]
                outbox.queue(db, kind=kind, key=f"{kind}:{order}:test", now=NOW, params=params, patient_id=patient,
                             medication_request_id=order, due_at=due if kind == "dose_reminder" else None)
    finally:
        db.close()


@pytest.fixture
def seeded_clinic(settings: Settings, clock: FixedClock) -> Clinic:
    """A clinic with the deterministic run history of ``seed_runs`` and the notifications of
    ``seed_notifications``; its console has no runner."""
    seed_runs(settings, clock)
    if generate_demo is not None:
        seed_notifications(settings)
    return Clinic(settings, clock, Console(settings, clock=clock), None)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (Pilot needs one; no asyncio plugin is installed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True
