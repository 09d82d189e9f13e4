"""Staged evidence records left by a worker killed while it wrote one (``<id>.yaml.<hex>.tmp``) are removed
when a runner starts, once they are older than an hour; a fresher one may be another runner's attempt in
flight and stays."""

from __future__ import annotations

import os
import time

from medjobs_tui.engine import evidence
from tests.engine.test_runner import NURSE, make_runner


def _staged(folder, name: str, age_s: float):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("run: {}\n")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_a_runner_start_removes_staged_records_older_than_an_hour_and_keeps_fresh_ones(tmp_path, clock):
    runner, console = make_runner(tmp_path, clock, "ok")
    runner.stop()
    day = runner.settings.evidence_dir / "jobs" / "backup" / "2026" / "11" / "29"
    old = _staged(day, "7.yaml.0a1b2c3d.tmp", evidence.STALE_STAGING_S + 60)
    fresh = _staged(day, "8.yaml.4e5f6a7b.tmp", 30)
    record = _staged(day, "6.yaml", evidence.STALE_STAGING_S * 24)          # a record: never touched
    other = _staged(day, "notes.tmp", evidence.STALE_STAGING_S * 24)        # not a staged record's name
    again, _ = make_runner(tmp_path, clock, "ok")
    try:
        again.start()
        assert not old.exists()
        assert fresh.exists() and record.exists() and other.exists()
    finally:
        again.stop()


def test_remove_stale_staging_counts_what_it_removed(tmp_path):
    day = tmp_path / "jobs" / "supply_monitor" / "2026" / "01" / "02"
    _staged(day, "1.yaml.deadbeef.tmp", 7200)
    _staged(day, "2.yaml.cafebabe.tmp", 10)
    assert evidence.remove_stale_staging(tmp_path, time.time()) == 1
    assert evidence.remove_stale_staging(tmp_path, time.time()) == 0
    assert [p.name for p in day.iterdir()] == ["2.yaml.cafebabe.tmp"]
