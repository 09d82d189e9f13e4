"""Bench: where the CPU of one no-op run goes, by process, and what a trigger's insert costs encrypted and plain.

Run: .venv/bin/python bench/engine_cpu.py [--runs 3000] [--evidence DIR]

1. The set-up of ``bench/engine.py``'s throughput (the runner of ``medjobs run`` in its own process with a no-op
   handler, this process enqueuing ``--runs`` runs as ``Runner.enqueue`` inserts them), with the CPU seconds of
   each process read from /proc: the producer (this process), the runner, its workers; milliseconds per run.
   ``--evidence DIR`` puts the evidence folder elsewhere: a tmpfs shows what the disk's file creation costs (the
   store refuses folders under /dev, so not /dev/shm: as root, ``mount -t tmpfs tmpfs /mnt/x``). Printed with
   the CPU cost of creating a file in the evidence folder's parent (``engine.file_create_us``).
2. The insert of one queued run (``insert_costs``): the store's schema before 2026-11-30 (a history row per
   creation, a full finished-instant index) and now, SQLCipher with its default HMAC-SHA512 page
   authentication, with HMAC-SHA256, without HMAC, with 1 KiB pages, and plain SQLite: ms of CPU per insert.

Linux only (/proc). Timings vary with the machine and its load; compare figures of one run. Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def by_process(runs: int, evidence: Path | None) -> dict[str, float]:
    import yaml

    import engine as bench_engine
    from medjobs_tui.config import load_settings
    from medjobs_tui.security.keys import load_keys
    from medjobs_tui.store import connect
    from medjobs_tui.store import runs as store_runs

    with tempfile.TemporaryDirectory(prefix="medjobs-bench-") as tmp:
        folder = Path(tmp) / "clinic"
        folder.mkdir()
        config = bench_engine.make_clinic(folder, None, poll_interval=0.05)
        if evidence is not None:
            data = yaml.safe_load(config.read_text())
            data["paths"]["evidence"] = str(evidence / f"medjobs-bench-{os.getpid()}")
            config.write_text(yaml.safe_dump(data, sort_keys=False))
        settings = load_settings(config)
        create_us = bench_engine.file_create_us(evidence if evidence is not None else folder)
        server = subprocess.Popen([sys.executable, str(BENCH / "engine.py"), "--serve", str(config)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        db = connect(settings.database_path, load_keys(settings).store)
        job = settings.jobs["manual"]

        def enqueue() -> None:
            now = datetime.now(timezone.utc)
            store_runs.insert_run(db, job_name="manual", job_type=job.job_type, queue=job.queue_name,
                                  priority=job.priority_rank, max_attempts=1, trigger="manual", scheduled_at=now,
                                  created_by="bench", now=now)
        try:
            if server.stdout.readline().strip() != "ready":
                raise RuntimeError("the bench runner did not start")
            enqueue()
            bench_engine.wait_succeeded(db, 1)
            workers = [w for child in children(server.pid) for w in children(child)]
            before = {pid: cpu_s(pid) for pid in [server.pid, *workers]}
            mine = time.process_time()
            started = time.perf_counter()
            for _ in range(runs):
                enqueue()
            bench_engine.wait_succeeded(db, runs + 1)
            elapsed = time.perf_counter() - started
            producer = time.process_time() - mine
            after = {pid: cpu_s(pid) for pid in before}
        finally:
            server.stdin.close()
            server.wait(60)
            db.close()
            if evidence is not None:
                import shutil

                shutil.rmtree(evidence / f"medjobs-bench-{os.getpid()}", ignore_errors=True)
    ms = 1000.0 / runs
    return {"runs_per_s": runs / elapsed, "create_us": create_us, "producer_ms": producer * ms,
            "runner_ms": (after[server.pid] - before[server.pid]) * ms,
            "workers_ms": sum(after[w] - before[w] for w in workers) * ms}


def insert_costs(n: int = 3000) -> dict[str, float]:
    """CPU milliseconds per trigger insert of the runs table as the store has it (its indexes, the unique dedupe
    key), in a folder of the system's temporary one: the store's SQLCipher (HMAC-SHA512, 4 KiB pages)
    as before 2026-11-30 (a creation history row, full finished-instant index) and as now (neither), and now
    with HMAC-SHA256, without HMAC, with 1 KiB pages, and on plain SQLite."""
    import sqlcipher3

    def schema(now: bool) -> str:
        finished = "CREATE INDEX e ON runs(finished_at)" + (" WHERE finished_at IS NOT NULL;" if now else ";")
        return f"""
    CREATE TABLE runs (id INTEGER PRIMARY KEY, job_name, job_type, queue, priority, status, attempt, max_attempts,
      trigger, dedupe_key UNIQUE, scheduled_at, available_at, created_by, created_at, finished_at);
    CREATE INDEX a ON runs(status, queue, priority DESC, scheduled_at, id);
    CREATE INDEX b ON runs(job_name, id);
    CREATE INDEX c ON runs(job_name, status);
    CREATE INDEX d ON runs(scheduled_at);
    {finished}
    CREATE TABLE run_history (id INTEGER PRIMARY KEY, run_id, from_status, to_status, at, actor, note);
    CREATE INDEX h ON run_history(run_id);
    """
    out = {}
    for name, pragmas, now in (
            ("sqlcipher_before", ["PRAGMA cipher_hmac_algorithm = HMAC_SHA512"], False),
            ("sqlcipher_now", ["PRAGMA cipher_hmac_algorithm = HMAC_SHA512"], True),
            ("plain_now", None, True),
            ("sqlcipher_hmac_sha256_now", ["PRAGMA cipher_hmac_algorithm = HMAC_SHA256"], True),
            ("sqlcipher_no_hmac_now", ["PRAGMA cipher_use_hmac = OFF"], True),
            ("sqlcipher_1k_pages_now", ["PRAGMA cipher_page_size = 1024"], True)):
        with tempfile.TemporaryDirectory() as tmp:
            conn = sqlcipher3.connect(str(Path(tmp) / "x.db"), isolation_level=None)
            if pragmas is not None:
                conn.execute(f"PRAGMA key = \"x'{'ab' * 32}'\"")
                for pragma in pragmas:
                    conn.execute(pragma)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(schema(now))
            at = "2026-11-29T20:00:00+00:00"

            def insert() -> None:
                conn.execute("BEGIN IMMEDIATE")
                cur = conn.execute(
                    "INSERT INTO runs (job_name, job_type, queue, priority, status, attempt, max_attempts, trigger,"
                    " scheduled_at, available_at, created_by, created_at) VALUES ('manual', 'supply_monitor', 'bench',"
                    " 1, 'queued', 1, 1, 'manual', ?, ?, 'bench', ?)", [at, at, at])
                if not now:      # before: the creation's history row
                    conn.execute("INSERT INTO run_history (run_id, to_status, at, actor) VALUES (?, 'queued', ?,"
                                 " 'bench')", [cur.lastrowid, at])
                conn.execute("COMMIT")
            for _ in range(500):
                insert()
            started = time.process_time()
            for _ in range(n):
                insert()
            out[name] = (time.process_time() - started) / n * 1000
            conn.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--evidence", type=Path, help="evidence folder's parent (e.g. a tmpfs mount)")
    args = parser.parse_args()
    figures = by_process(args.runs, args.evidence)
    print(f"cpus: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
          f"  file creation where the evidence goes: {figures['create_us']:.0f} us CPU")
    print(f"no-op runs/s {figures['runs_per_s']:.0f}; CPU ms per run: producer {figures['producer_ms']:.3f}, "
          f"runner {figures['runner_ms']:.3f}, workers {figures['workers_ms']:.3f}")
    costs = insert_costs()
    print("CPU ms per trigger insert: " + ", ".join(f"{k} {v:.3f}" for k, v in costs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
