"""Bench: the runner's memory while the six jobs run on the 10,000-patient clinic (issue 10 item 6; not a test).

Run: .venv/bin/python bench/runner_rss.py [--patients 10000] [--cache /work/bench-cache] [--interval 0.05] [--slots N]

The suite's cached clinic of ``--patients`` patients (built with the project's generator when missing, as
bench/suite.py does; same cache key) is copied fresh, then a child process runs what ``medjobs run --once`` runs
(``cli._run_once``: every configured job once, in priority order, through the real runner and its worker
pool, then the notifications' delivery pass), with the runner's clock started at the clinic's instant and
moving as the wall clock does, so the handlers find the clinic's due doses, supplies and refills. Meanwhile
/proc is sampled every ``--interval`` seconds:

- runner: the runner process's peak resident memory (``os.wait4``'s ``ru_maxrss`` of the child: exact, not
  sampled). Target (issue 10): < 150 MB;
- worker: the largest peak (VmHWM, last sampled) of any worker process (the handlers run there);
- tree: the largest sum of the processes' proportional set size (Pss from ``smaps_rollup``: pages shared
  between the runner and its forked workers counted once), sampled.

MB = 10^6 bytes. Ends with one line: ``runner_rss: patients=N runner_peak_mb=.. worker_peak_mb=.. tree_pss_peak_mb=..
jobs_ok=6/6 seconds=..``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

CHILD = """
import sys, time
from datetime import timedelta
sys.path.insert(0, {repo!r})
from medjobs_tui import cli
from medjobs_tui.config import load_settings
from medjobs_tui.console import RUNNER, Console
from medjobs_tui.engine.runner import Runner
from suite import NOW


class FromClinicInstant:
    \"\"\"The clinic's instant at start, then moving with the wall clock (backoffs and timeouts still pass).\"\"\"

    def __init__(self):
        self.started = time.monotonic()

    def now(self):
        return NOW + timedelta(seconds=time.monotonic() - self.started)


settings = load_settings({config!r})
clock = FromClinicInstant()
code = cli._run_once(settings, Runner(settings, clock=clock), Console(settings, clock=clock), RUNNER)
sys.exit(code)
"""


def children_of(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                kids = [int(k) for k in Path(f"/proc/{parent}/task/{task}/children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def status_kb(pid: int, key: str) -> int:
    """``key`` (VmRSS, VmHWM) of /proc/PID/status in kB; 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """The proportional set size of ``pid`` in kB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(config: Path, interval: float) -> dict[str, float]:
    """Run the six jobs once in a child runner on the clinic at ``config``; its memory figures (MB) and seconds."""
    started = time.perf_counter()
    log = config.parent / "runner-output.txt"
    with open(log, "w") as sink:
        child = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(REPO), config=str(config))],
                                 stdout=sink, stderr=subprocess.STDOUT, text=True, cwd=BENCH)
    workers: dict[int, int] = {}
    tree_peak = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)      # reaped here: its exact peak comes with it
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            break
        kids = children_of(child.pid)
        for kid in kids:
            workers[kid] = max(workers.get(kid, 0), status_kb(kid, "VmHWM"))
        tree_peak = max(tree_peak, pss_kb(child.pid) + sum(pss_kb(kid) for kid in kids))
        time.sleep(interval)
    seconds = time.perf_counter() - started
    output = log.read_text()
    return {"runner_peak_mb": usage.ru_maxrss * 1024 / 1e6, "worker_peak_mb": max(workers.values(), default=0) * 1024 / 1e6,
            "tree_pss_peak_mb": tree_peak * 1024 / 1e6, "seconds": seconds, "exit": child.returncode,
            "output": output, "workers": len(workers),
            "worker_peaks_mb": sorted((kb * 1024 / 1e6 for kb in workers.values()), reverse=True)}


def cap_slots(config: Path, slots: int) -> None:
    """At most ``slots`` worker processes per queue in the clinic's config (a shared machine's limit)."""
    import yaml

    data = yaml.safe_load(config.read_text())
    for queue in data["runner"]["queues"].values():
        queue["concurrency"] = min(queue.get("concurrency", 1), slots)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache", help="where built clinics are kept (suite's)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between /proc samples")
    parser.add_argument("--slots", type=int, default=0,
                        help="cap every queue's concurrency at this many worker processes (0: as configured)")
    args = parser.parse_args()
    from suite import build_clinic, fresh_copy

    args.cache.mkdir(parents=True, exist_ok=True)
    clinic, built = build_clinic(args.cache, args.patients)
    if built is not None:
        print(f"clinic of {args.patients} patients built in {built:.1f} s ({clinic})")
    with tempfile.TemporaryDirectory(prefix="medjobs-runner-rss-") as tmp:
        config = fresh_copy(clinic, Path(tmp) / "clinic")
        if args.slots:
            cap_slots(config, args.slots)
        fig = measure(config, args.interval)
    print(fig["output"].rstrip())
    ok = sum(" succeeded " in line for line in fig["output"].splitlines())
    print(f"runner process peak RSS {fig['runner_peak_mb']:.1f} MB (target < 150 MB); largest worker peak "
          f"{fig['worker_peak_mb']:.1f} MB ({fig['workers']} worker processes, peaks "
          f"{', '.join(f'{mb:.0f}' for mb in fig['worker_peaks_mb'])} MB); whole tree Pss peak "
          f"{fig['tree_pss_peak_mb']:.1f} MB (sampled every {args.interval:g} s); {fig['seconds']:.1f} s, exit {fig['exit']}")
    print(f"runner_rss: patients={args.patients} slots={args.slots} runner_peak_mb={fig['runner_peak_mb']:.1f} "
          f"worker_peak_mb={fig['worker_peak_mb']:.1f} tree_pss_peak_mb={fig['tree_pss_peak_mb']:.1f} "
          f"jobs_ok={ok}/6 seconds={fig['seconds']:.1f}")


if __name__ == "__main__":
    main()
