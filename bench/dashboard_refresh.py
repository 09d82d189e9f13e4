"""Bench: the dashboard's first paint and refresh time with 10,000 runs in the store (not part of the tests).

Run: .venv/bin/python bench/dashboard_refresh.py [--runs 10000] [--refreshes 20]

A clinic of its own in a temporary folder (SQLCipher store with a key file, the demo clinic) gets ``--runs``
runs spread over the last 7 days (succeeded, failed then retried, dead, cancelled, skipped, a few queued),
each with its attempt and state history, as the runner writes them. Then, headless at 120x40:

- first paint: from the app's start to its first snapshot painted (the Overview, and the Queue);
- refresh: one live refresh of a tab, from asking to painted (fetch in the worker thread, then the table
  synced by row key on the event loop), median and p95 over ``--refreshes``;
- fetch: the console's snapshot of just the visible tab, against one of every view at once (what each
  refresh read before issue 8), medians; the ratio is measured in the same run.

Ends with one line: ``dashboard_refresh: runs=N first_paint_ms=.. queue_refresh_ms=.. overview_refresh_ms=..``.
Timings vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))


def make_clinic(folder: Path) -> Path:
    """The repository's config with every path in ``folder``, its key file, and the demo clinic."""
    from medjobs_tui.config import load_settings
    from medjobs_tui.security import keys

    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["paths"] = {"database": "data/medjobs.db", "backups": "data/backups", "evidence": "evidence"}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    settings = load_settings(path)
    keys.write_key_file(settings, keys.new_keys("bench")[0])
    return path


def fill_runs(settings, n: int, now) -> None:
    """``n`` runs of the configured jobs over the 7 days before ``now``, with attempts and history rows."""
    from medjobs_tui.clock import iso
    from medjobs_tui.security.keys import load_keys
    from medjobs_tui.store import connect, transaction

    rng = random.Random(8)
    db = connect(settings.database_path, load_keys(settings).store)
    jobs = list(settings.jobs.items())
    outcomes = ["succeeded"] * 80 + ["dead"] * 4 + ["cancelled"] * 3 + ["skipped"] * 8 + ["failed_then_ok"] * 5
    runs, attempts, history = [], [], []
    for i in range(1, n + 1):
        name, job = jobs[i % len(jobs)]
        at = now - timedelta(seconds=(n - i) * 7 * 86400 / n)
        kind = "queued" if i > n - 3 else rng.choice(outcomes)
        status = {"failed_then_ok": "succeeded"}.get(kind, kind)
        tries = 2 if kind == "failed_then_ok" else 3 if kind == "dead" else 0 if kind in ("cancelled", "skipped",
                                                                                          "queued") else 1
        duration = round(rng.uniform(0.2, 3.0), 3)
        runs.append((i, name, job.job_type, job.queue_name, job.priority_rank, status, max(tries, 1),
                     job.retry_policy.max_attempts, "schedule", f"{name}@{iso(at)}#{i}", iso(at), iso(at),
                     iso(at) if tries else None, iso(at + timedelta(seconds=duration)) if tries else None,
                     duration if tries else None, "handler error (ref E-BENCH)" if kind == "dead" else None,
                     "runner", iso(at)))
        history.append((i, None, "queued" if kind != "skipped" else "skipped", iso(at), "runner", None))
        for a in range(1, tries + 1):
            outcome = "succeeded" if (kind != "dead" and a == tries) else "failed"
            attempts.append((i, a, iso(at), iso(at + timedelta(seconds=duration)), duration, outcome,
                             None if outcome == "succeeded" else "handler error (ref E-BENCH)"))
            history.append((i, "queued", "running", iso(at), "bench-runner", f"attempt {a}"))
            history.append((i, "running", outcome, iso(at + timedelta(seconds=duration)), "runner", None))
        if kind in ("dead", "cancelled"):
            history.append((i, "queued" if kind == "cancelled" else "failed", kind, iso(at), "runner", None))
    with transaction(db):
        db.conn.executemany(
            "INSERT INTO runs (id, job_name, job_type, queue, priority, status, attempt, max_attempts, trigger,"
            " dedupe_key, scheduled_at, available_at, started_at, finished_at, duration_s, error, created_by,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
        db.conn.executemany("INSERT INTO run_attempts (run_id, attempt, started_at, finished_at, duration_s, outcome,"
                            " error) VALUES (?, ?, ?, ?, ?, ?, ?)", attempts)
        db.conn.executemany("INSERT INTO run_history (run_id, from_status, to_status, at, actor, note)"
                            " VALUES (?, ?, ?, ?, ?, ?)", history)
    db.close()


def ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000


async def app_figures(console, actor, refreshes: int) -> dict[str, float]:
    from medjobs_tui.tui.app import MedJobsApp

    out: dict[str, float] = {}
    for tab in ("overview", "queue"):
        app = MedJobsApp(console, actor, refresh_interval=3600, tab=tab)
        started = time.perf_counter()
        async with app.run_test(size=(120, 40)) as pilot:
            while app.refresh_count < 1:
                await pilot.pause(0.001)
            await pilot.pause()
            out[f"first_paint_{tab}"] = time.perf_counter() - started
            cycles = []
            for _ in range(refreshes):
                target = app.refresh_count + 1
                t0 = time.perf_counter()
                app.refresh_now()
                while app.refresh_count < target:
                    await pilot.pause(0.001)
                await pilot.pause()
                cycles.append(time.perf_counter() - t0)
            out[f"refresh_{tab}"], out[f"refresh_{tab}_p95"] = ms(cycles)
            if tab == "queue":
                out["queue_rows"] = app.table("queue").row_count
    return out


def fetch_figures(console, actor, refreshes: int) -> dict[str, float]:
    out = {}
    for label, views in (("queue", {"queue"}), ("overview", {"overview"}), ("all_views", None)):
        times = []
        for _ in range(max(3, refreshes // 2)):
            t0 = time.perf_counter()
            console.snapshot(views=views, actor=actor)
            times.append(time.perf_counter() - t0)
        out[f"fetch_{label}"] = statistics.median(times) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--refreshes", type=int, default=20)
    args = parser.parse_args()

    from medjobs_tui.clock import SystemClock
    from medjobs_tui.config import load_settings
    from medjobs_tui.console import Actor, Console

    with tempfile.TemporaryDirectory(prefix="medjobs-dash-bench-") as tmp:
        config = make_clinic(Path(tmp))
        settings = load_settings(config)
        actor = Actor("bench", "operator")
        console = Console(settings, clock=SystemClock())
        console.write_demo(actor)
        t0 = time.perf_counter()
        fill_runs(settings, args.runs, console.clock.now())
        print(f"store: {args.runs} runs written in {time.perf_counter() - t0:.1f} s "
              f"({console.status_counts()})")
        fetch = fetch_figures(console, actor, args.refreshes)
        figures = asyncio.run(app_figures(console, actor, args.refreshes))
        console.close()
    print(f"first paint, Overview first: {figures['first_paint_overview'] * 1000:.0f} ms "
          f"(app start to first snapshot painted, headless 120x40)")
    print(f"first paint, Queue first:    {figures['first_paint_queue'] * 1000:.0f} ms "
          f"({figures['queue_rows']:.0f} rows shown)")
    print(f"refresh, Queue:    median {figures['refresh_queue']:.1f} ms, p95 {figures['refresh_queue_p95']:.1f} ms "
          f"(fetch in the worker + sync by row key)")
    print(f"refresh, Overview: median {figures['refresh_overview']:.1f} ms, p95 "
          f"{figures['refresh_overview_p95']:.1f} ms")
    print(f"fetch only: Queue {fetch['fetch_queue']:.1f} ms, Overview {fetch['fetch_overview']:.1f} ms, "
          f"every view at once {fetch['fetch_all_views']:.1f} ms "
          f"(visible tab only: {fetch['fetch_all_views'] / fetch['fetch_queue']:.1f}x less than all views)")
    print(f"dashboard_refresh: runs={args.runs} first_paint_ms={figures['first_paint_overview'] * 1000:.0f} "
          f"queue_refresh_ms={figures['refresh_queue']:.1f} overview_refresh_ms={figures['refresh_overview']:.1f}")


if __name__ == "__main__":
    main()
