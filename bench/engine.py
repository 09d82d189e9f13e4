"""Bench: the runner's throughput and start latency against Huey's SqliteHuey, measured side by side in one run.

Run: .venv/bin/pip install -e '.[bench]' (once: Huey is only for this bench), then
     .venv/bin/python bench/engine.py [--runs 2000] [--huey-runs 2000] [--samples 40] [--folder DIR]

Both sides' files go under ``--folder`` (default ``bench/.cache``, in the project as the shipped config keeps the
clinic; the cost of creating a file there is printed: each MedJobs run's evidence record is a new file).

MedJobs: the runner as ``medjobs run`` runs it (APScheduler, dispatcher, the worker pool of processes,
outcome recording with evidence on), one queue of concurrency 2, a no-op handler. Huey: SqliteHuey with
a consumer of 2 process workers (``-k process -w 2``), polling from 10 ms up to 500 ms when idle.

- throughput: no-op runs per second from the first enqueue to the last recorded outcome (Huey: result).
  On both sides the bench process enqueues and the consumer is another process: Huey's ``huey_consumer``,
  MedJobs' runner started by this file's ``--serve`` (the runner of ``medjobs run``, with the no-op
  handler; the bench inserts queued runs as ``Runner.enqueue`` does, and the runner, polling every 50 ms as
  Huey's consumer polls every 10 ms, finds them as it would a ``medjobs trigger`` from another terminal);
- trigger-to-start: from a manual trigger (Huey: enqueue) to the handler's first line, p50/p95;
- tick-to-start: from a schedule tick's fire time to the handler's first line, p50/p95.

Ends with one line: ``engine: throughput_ratio=R tick_p50_ms=T trigger_p50_ms=U`` (R = MedJobs / Huey).
Timings vary with the machine and its load; the ratios are measured in the same run. Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_FOLDER = BENCH / ".cache"
"""Where the bench clinics and Huey's store go by default: in the project, as the shipped ``config.yaml`` keeps
the clinic's store (``data/``) and evidence (``evidence/``) in the project's folder. Not the system's temporary
folder: on this project's machine creating a file under /tmp cost 96-179 us of CPU against 20 us elsewhere on the
same file system (2026-11-30), and each run's evidence record is a new file (``file_create_us``)."""
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

JOB_TYPES = ["medication_reminder", "refill_check", "interaction_check", "supply_monitor", "analytics_rollup",
             "backup"]


def make_clinic(folder: Path, tick_every_s: int | None, poll_interval: float = 1.0) -> Path:
    """A clinic with one queue (concurrency 2) and two no-op jobs: ``manual`` (never scheduled in the bench's
    window) and, with ``tick_every_s``, ``ticking`` on an interval; the runner polls every ``poll_interval`` s."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    def base():
        return {"priority": "normal", "retry_policy": {"max_attempts": 1, "delay": 0}, "timeout": 30,
                "queue": "bench"}

    jobs = {"manual": {**base(), "job_type": "supply_monitor", "schedule": {"type": "cron", "value": "0 3 1 1 *"}}}
    if tick_every_s:
        jobs["ticking"] = {**base(), "job_type": "backup", "schedule": {"type": "interval", "value": tick_every_s}}
    data["jobs"] = jobs
    data["runner"] = {"poll_interval": poll_interval, "queues": {"bench": {"concurrency": 2}}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    from medjobs_tui.config import load_settings
    from medjobs_tui.security import keys

    keys.write_key_file(load_settings(path), keys.new_keys("bench")[0])
    return path


def serve(config: Path) -> int:
    """``--serve CONFIG``: run the bench clinic's runner in this process until standard input closes."""
    runner = start_runner(config)
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        runner.stop()
    return 0


def start_runner(config: Path):
    from medjobs_tui.config import load_settings
    from medjobs_tui.engine.pool import WorkerPool
    from medjobs_tui.engine.runner import Runner

    settings = load_settings(config)
    pool = WorkerPool(settings, {t: "bench_handlers:noop" for t in JOB_TYPES})
    runner = Runner(settings, executor=pool)
    runner.start()
    return runner


def wait_succeeded(db, n: int, limit_s: float = 300) -> None:
    deadline = time.monotonic() + limit_s
    while db.execute("SELECT count(*) FROM runs WHERE status = 'succeeded'").fetchone()[0] < n:
        if time.monotonic() > deadline:
            raise TimeoutError("runs did not finish")
        time.sleep(0.005)


def medjobs_figures(folder: Path, runs: int, samples: int, tick_seconds: float) -> dict[str, float]:
    import json

    from medjobs_tui.engine.evidence import is_valid
    from medjobs_tui.security.keys import load_keys
    from medjobs_tui.store import connect as connect_keyed

    def connect(path):
        return connect_keyed(path, load_keys(runner.settings).store)

    from datetime import datetime, timezone

    from medjobs_tui.config import load_settings
    from medjobs_tui.store import runs as store_runs

    out: dict[str, float] = {}
    # throughput: the runner in its own process (as ``medjobs run``), this process enqueues; no schedule fires
    config = make_clinic(folder / "medjobs-a", None, poll_interval=0.05)
    settings = load_settings(config)
    server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(config)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    db = connect_keyed(settings.database_path, load_keys(settings).store)
    job = settings.jobs["manual"]

    def enqueue() -> None:          # Runner.enqueue's insert, from another process
        now = datetime.now(timezone.utc)
        store_runs.insert_run(db, job_name="manual", job_type=job.job_type, queue=job.queue_name,
                              priority=job.priority_rank, max_attempts=job.retry_policy.max_attempts,
                              trigger="manual", scheduled_at=now, created_by="bench", now=now)
    try:
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the bench runner did not start")
        enqueue()                                   # warm-up: the pool's workers are up
        wait_succeeded(db, 1)
        started = time.perf_counter()
        for _ in range(runs):
            enqueue()
        wait_succeeded(db, runs + 1)
        out["throughput"] = runs / (time.perf_counter() - started)
        rows = db.execute("SELECT evidence_path, evidence_sha256 FROM runs WHERE status = 'succeeded'").fetchall()
        out["evidence_ok"] = sum(is_valid(settings.evidence_dir, p, s) for p, s in rows) / len(rows)
        out["batched"] = db.execute("SELECT count(*) FROM runs WHERE claim_batch IS NOT NULL").fetchone()[0] / len(rows)
    finally:
        server.stdin.close()
        server.wait(60)
        db.close()
    # trigger-to-start: a user's trigger in the runner's own process (the dashboard's), which wakes it
    config = make_clinic(folder / "medjobs-c", None)
    runner = start_runner(config)
    db = connect(runner.settings.database_path)
    try:
        runner.enqueue("manual", "bench")          # warm-up: the pool's workers are up
        wait_succeeded(db, 1)
        latencies = []
        for i in range(samples):
            t0 = time.time()
            run_id = runner.enqueue("manual", "bench")
            wait_succeeded(db, 2 + i)
            latencies.append(json.loads(db.execute("SELECT summary FROM runs WHERE id = ?", [run_id]).fetchone()[0])
                             ["t"] - t0)
            time.sleep(0.05)
        out["trigger_p50"], out["trigger_p95"] = p50_p95(latencies)
    finally:
        runner.stop()
        db.close()
    # tick-to-start: a job ticking every second
    from medjobs_tui.clock import parse_iso

    config = make_clinic(folder / "medjobs-b", 1)
    runner = start_runner(config)
    db = connect(runner.settings.database_path)
    try:
        time.sleep(tick_seconds)
    finally:
        runner.stop()
    rows = db.execute("SELECT scheduled_at, summary FROM runs WHERE job_name = 'ticking' AND status = 'succeeded'"
                      " ORDER BY id").fetchall()[1:]          # the first tick may race the pool's start
    db.close()
    ticks = [json.loads(s)["t"] - parse_iso(at).timestamp() for at, s in rows]
    out["tick_p50"], out["tick_p95"] = p50_p95(ticks)
    out["ticks"] = len(ticks)
    return out


def huey_figures(folder: Path, runs: int, samples: int) -> dict[str, float]:
    db_path = folder / "huey.db"
    env = {**os.environ, "BENCH_HUEY_DB": str(db_path), "PYTHONPATH": str(BENCH)}
    os.environ["BENCH_HUEY_DB"] = str(db_path)
    import bench_handlers

    huey, noop_task = bench_handlers.make_huey()
    consumer = subprocess.Popen(
        [shutil.which("huey_consumer") or str(Path(sys.executable).parent / "huey_consumer"),
         "bench_handlers.huey", "-k", "process", "-w", "2", "-d", "0.01", "-m", "0.5", "-n", "-q"],
        cwd=BENCH, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, float] = {}
    try:
        noop_task().get(blocking=True, timeout=60)      # warm-up: the consumer's workers are up
        started = time.perf_counter()
        results = [noop_task() for _ in range(runs)]
        for r in results:
            r.get(blocking=True, timeout=300, backoff=1.0, max_delay=0.005)
        out["throughput"] = runs / (time.perf_counter() - started)
        latencies = []
        for _ in range(samples):
            t0 = time.time()
            value = noop_task().get(blocking=True, timeout=30, backoff=1.0, max_delay=0.001)
            latencies.append(value - t0)
            time.sleep(0.05)
        out["enqueue_p50"], out["enqueue_p95"] = p50_p95(latencies)
    finally:
        consumer.terminate()
        consumer.wait(30)
    return out


def file_create_us(folder: Path, n: int = 300) -> float:
    """CPU microseconds to create (and remove) one empty file in a fresh sub-folder of ``folder``: what each
    run's evidence record costs the file system there. On ext4 it depends on the folder: this machine measured
    7 us on a tmpfs, 20-24 us in a folder made at the root of its ext4 file system, 480-820 us under /tmp and
    /work (the same file system; ext4 puts a file in its folder's block group and, where that group has no
    free blocks, searches the others for every file). See docs/performance-engine.md."""
    probe = Path(tempfile.mkdtemp(prefix="create-probe-", dir=folder))
    try:
        started = time.process_time()
        for i in range(n):
            os.close(os.open(probe / f"{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        spent = time.process_time() - started
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return spent / n * 1e6


def p50_p95(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="no-op runs for MedJobs' throughput")
    parser.add_argument("--huey-runs", type=int, default=2000, help="no-op tasks for Huey's throughput")
    parser.add_argument("--samples", type=int, default=40, help="latency samples per kind")
    parser.add_argument("--tick-seconds", type=float, default=12.0, help="how long a job ticks every second")
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER,
                        help="where the bench clinics and Huey's store go (default: bench/.cache in the project, as"
                        " the shipped config keeps the clinic's store and evidence in the project's folder); the"
                        " evidence records' file creation depends on it (printed)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)   # the runner process of the throughput
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    try:
        import huey  # noqa: F401
    except ImportError:
        print("Huey is missing: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
        return 2
    args.folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="medjobs-bench-", dir=args.folder) as tmp:
        folder = Path(tmp)
        create_us = file_create_us(folder)
        (folder / "medjobs-a").mkdir()
        (folder / "medjobs-b").mkdir()
        (folder / "medjobs-c").mkdir()
        mj = medjobs_figures(folder, args.runs, args.samples, args.tick_seconds)
        hy = huey_figures(folder, args.huey_runs, args.samples)
    ms = 1000.0
    print(f"cpus: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
          f"  file creation in {folder.parent}: {create_us:.0f} us CPU")
    print(f"throughput (no-op runs/s):   medjobs {mj['throughput']:8.1f}   huey {hy['throughput']:8.1f}"
          f"   ratio {mj['throughput'] / hy['throughput']:.3f}   (medjobs evidence valid: {mj['evidence_ok']:.0%},"
          f" claimed in batches: {mj['batched']:.0%})")
    print(f"trigger-to-start p50/p95 ms: medjobs {mj['trigger_p50'] * ms:6.1f} / {mj['trigger_p95'] * ms:6.1f}"
          f"   huey enqueue-to-start {hy['enqueue_p50'] * ms:6.1f} / {hy['enqueue_p95'] * ms:6.1f}"
          f"   ratio p50 {mj['trigger_p50'] / hy['enqueue_p50']:.2f}")
    print(f"tick-to-start p50/p95 ms:    medjobs {mj['tick_p50'] * ms:6.1f} / {mj['tick_p95'] * ms:6.1f}"
          f"   ({mj['ticks']} ticks)   ratio p50 to huey enqueue-to-start {mj['tick_p50'] / hy['enqueue_p50']:.2f}")
    print(f"engine: throughput_ratio={mj['throughput'] / hy['throughput']:.3f} tick_p50_ms={mj['tick_p50'] * ms:.1f}"
          f" trigger_p50_ms={mj['trigger_p50'] * ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
