"""Chaos: the headless runner on a demo clinic with a fast schedule is SIGKILLed 15 times at random moments (and,
separately, one of its workers), restarted each time; afterwards nothing is stuck, nothing happened twice, every
finished run has valid evidence and the store is intact."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.engine.evidence import is_valid
from medjobs_tui.engine.runner import Runner
from medjobs_tui.store import connect
from tests.conftest import STORE_KEY, write_config

KILLS = 15
SEED = int(os.environ.get("MEDJOBS_CHAOS_SEED", "20261129"))
FAST = {   # every job every 1-3 s, retried at once: a lot happens between kills
    "medication_reminder": 1, "refill_check": 2, "interaction_check": 2, "supply_monitor": 2,
    "analytics_rollup": 3, "backup": 2,
}
FINISHED = ("succeeded", "dead")
SETTLED = ("succeeded", "dead", "queued", "skipped", "cancelled", "coalesced")


def children_of(pid: int) -> list[int]:
    """Every live process whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def until_a_run_is_running(settings, limit_s: float = 3.0) -> bool:
    """Wait (up to ``limit_s``) until some run is ``running`` in the store, so the kill that follows lands
    mid-run: on an idle machine the demo clinic's handlers take milliseconds, and a kill at a random moment
    alone almost never finds one in flight."""
    db = connect(settings.database_path, STORE_KEY)
    try:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if db.execute("SELECT 1 FROM runs WHERE status = 'running' LIMIT 1").fetchone():
                return True
            time.sleep(0.005)
        return False
    finally:
        db.close()


def burst(settings, n: int = 12) -> None:
    """Queue ``n`` manual runs of the reminder job at once (as ``medjobs trigger`` does from another terminal):
    short runs waiting together, which the runner claims in batches."""
    from datetime import datetime, timezone

    from medjobs_tui.store import runs as store_runs

    db = connect(settings.database_path, STORE_KEY)
    try:
        job = settings.jobs["medication_reminder"]
        for _ in range(n):
            now = datetime.now(timezone.utc)
            store_runs.insert_run(db, job_name="medication_reminder", job_type=job.job_type, queue=job.queue_name,
                                  priority=job.priority_rank, max_attempts=job.retry_policy.max_attempts,
                                  trigger="manual", scheduled_at=now, created_by="chaos", now=now)
    finally:
        db.close()


def workers_of(runner_pid: int) -> list[int]:
    """The runner's pool workers: the children of its forkserver (grandchildren of the runner)."""
    return [w for child in children_of(runner_pid) for w in children_of(child)]


def wait_until_working(settings, proc, limit_s: float = 60.0) -> bool:
    """Wait until the runner ``proc`` has registered (its recovery is done) and its workers are up: from then
    on it does work (on a loaded machine start-up alone can take seconds)."""
    from medjobs_tui.store import runs as store_runs

    deadline = time.monotonic() + limit_s
    registered = False
    while time.monotonic() < deadline and proc.poll() is None:
        if not registered:
            db = connect(settings.database_path, STORE_KEY)
            try:
                registered = any(f":{proc.pid}:" in r["id"] for r in store_runs.runners(db))
            finally:
                db.close()
        if registered and workers_of(proc.pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(240)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="walks /proc to find the workers")
@pytest.mark.parametrize("patients,kills", [
    (1000, KILLS),   # each handler takes a tenth of a second or more: runs are claimed one by one
    (20, 8),         # handlers of milliseconds: runs waiting together in a queue are claimed in batches
], ids=["one-by-one", "batches"])
def test_runner_and_workers_killed_15_times_leave_no_run_stuck_no_effect_twice_and_valid_evidence(
        tmp_path, patients, kills):
    jobs = {}
    config = write_config(tmp_path)
    import yaml

    data = yaml.safe_load(config.read_text())
    for name, every in FAST.items():
        job = data["jobs"][name]
        job.update(schedule={"type": "interval", "value": every}, retry_policy={"max_attempts": 3, "delay": 0},
                   timeout=20)
        jobs[name] = job
    config = write_config(tmp_path, jobs=jobs, runner={**data["runner"], "poll_interval": 0.2})
    made = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "demo", "--patients",
                           str(patients)], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    settings = load_settings(config)

    rng = random.Random(SEED)
    started = time.monotonic()
    runner_kills = worker_kills = 0
    for cycle in range(kills):
        proc = subprocess.Popen([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "run"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_until_working(settings, proc), proc.stderr.read().decode()[-2000:]
            time.sleep(rng.uniform(0.3, 2.5))
            if patients < 100:                              # a burst of short runs, killed while in batches
                burst(settings)
                time.sleep(rng.uniform(0.0, 0.05))
            if cycle % 2 == 1:                              # separately: a worker dies under its runner
                workers = workers_of(proc.pid)
                if workers:
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    worker_kills += 1
                time.sleep(rng.uniform(0.2, 1.0))
            if cycle % 3 == 0:                              # every third kill waits for a run in flight
                until_a_run_is_running(settings)
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        finally:
            proc.kill()                                     # SIGKILL: no clean stop
            proc.wait(30)
        runner_kills += 1
    elapsed = time.monotonic() - started

    # the next runner to start recovers at once: the killed one's process is gone
    recovering = Runner(settings)
    recovered = recovering.recover()
    recovering.stop()

    db = connect(settings.database_path, STORE_KEY)
    runs = [dict(zip(("id", "status", "evidence_path", "evidence_sha256", "job_name"), r)) for r in db.execute(
        "SELECT id, status, evidence_path, evidence_sha256, job_name FROM runs")]
    statuses = Counter(r["status"] for r in runs)
    attempts = Counter(r[0] for r in db.execute("SELECT outcome FROM run_attempts"))
    errors = Counter(r[0] for r in db.execute("SELECT error FROM run_attempts WHERE outcome IN ('failed', 'crashed')"))
    print(f"\nchaos: errors {dict(errors)}")
    print(f"\nchaos ({patients} patients): {runner_kills} runner kills, {worker_kills} worker kills in {elapsed:.0f} s; runs {dict(statuses)};"
          f" attempts {dict(attempts)}; recovered after the last kill: {len(recovered)}")

    assert runner_kills == kills and worker_kills >= 3
    assert statuses["succeeded"] >= 5, statuses              # the runner got work done between kills
    assert statuses["running"] == 0                           # nothing stuck
    assert set(statuses) <= set(SETTLED), statuses            # every run finished or queued
    assert attempts["interrupted"] >= 1                       # kills did land mid-run
    batched = db.execute("SELECT count(*) FROM runs WHERE claim_batch IS NOT NULL").fetchone()[0]
    print(f"chaos: runs last claimed in a batch: {batched}")
    if patients < 100:
        assert batched >= 2, "no runs were claimed in a batch"   # the kills found batches to break

    # every finished run has evidence whose hash matches
    invalid = [r["id"] for r in runs if r["status"] in FINISHED
               and not is_valid(settings.evidence_dir, r["evidence_path"], r["evidence_sha256"])]
    assert invalid == []

    # no effect twice: one backup per run, and no backup file that no committed run owns
    backups = db.execute("SELECT run_id, path FROM backups").fetchall()
    kept = {r[0] for r in db.execute("SELECT path FROM backups WHERE removed_at IS NULL")}   # not pruned
    per_run = Counter(run_id for run_id, _ in backups)
    assert [r for r, n in per_run.items() if n > 1] == []
    on_disk = {str(p) for p in Path(settings.backups_dir).glob("medjobs-*.db")}
    waiting = {r["id"] for r in runs if r["status"] == "queued"}
    unowned = {p for p in on_disk - {path for _, path in backups}
               if int(Path(p).stem.split("-run")[1].split("-")[0]) not in waiting}
    # (a file renamed by an attempt killed just before its commit is removed by the run's next attempt)
    assert unowned == set()
    assert kept <= on_disk
    for table, key in (("notifications", "idempotency_key"), ("dose_log", "medication_request_id, dose_instant")):
        total, distinct = db.execute(f"SELECT count(*), count(DISTINCT {key.split(',')[0]} || '|' || "
                                     f"{key.split(',')[-1].strip()}) FROM {table}").fetchone()
        assert total == distinct, table
    dead_alerts = Counter(r[0] for r in db.execute(
        "SELECT run_id FROM notifications WHERE kind = 'job_failed'"))
    assert all(n == 1 for n in dead_alerts.values())

    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    summary = {"runner_kills": runner_kills, "worker_kills": worker_kills, "runs": dict(statuses),
               "attempts": dict(attempts), "recovered": len(recovered), "seconds": round(elapsed)}
    (tmp_path / "chaos.json").write_text(json.dumps(summary))
