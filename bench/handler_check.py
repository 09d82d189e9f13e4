"""One handler on a fresh copy of a bench clinic: its CPU seconds, an optional cProfile, and a digest of everything
it wrote, so a change to a handler can be shown to leave its results identical (not part of the tests).

Run: .venv/bin/python bench/handler_check.py JOB [--size 10000] [--cache /work/bench-cache] [--repeat 3]
         [--profile FILE] [--dump FILE]

- the clinic is bench/suite.py's (same generator, seed and instant), taken from --cache (built when missing);
  the store is migrated to this checkout's schema when opened.
- ``--hours H``: the run's instant is the clinic's plus H hours (doses due then, doses past the catch-up limit).
- CPU seconds: ``time.process_time`` of one in-process run on a fresh copy, the best of --repeat copies.
- digest: the handler's summary and, for each table a handler writes (notifications, dose_log, supply_status,
  alerts, analytics_*), its row count and the SHA-256 of its rows in key order; --dump writes them as JSON
  (compare two with ``diff``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from suite import NOW, build_clinic, fresh_copy, open_store  # noqa: E402

TABLES = {
    "notifications": "idempotency_key",
    "dose_log": "medication_request_id, dose_instant",
    "supply_status": "medication_request_id",
    "alerts": "kind, scope",
    "analytics_adherence": "day, medication_request_id",
    "analytics_supply": "day",
    "analytics_safety": "day, severity",
    "analytics_performance": "day, job_name",
}
"""Tables a handler writes -> the columns that order them (ids left out of the digest: the rows, not their ids)."""


def digest(db) -> dict[str, dict[str, object]]:
    """{table: {rows, sha256}} of the TABLES (the id column is left out)."""
    out = {}
    for table, order in TABLES.items():
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall() if r[1] != "id"]
        h = hashlib.sha256()
        n = 0
        for row in db.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}"):
            h.update(repr(row).encode())
            n += 1
        out[table] = {"rows": n, "sha256": h.hexdigest()}
    return out


def run_once(config: Path, job_name: str, profile: Path | None, now=NOW, options: dict | None = None
             ) -> tuple[float, dict, dict]:
    """(CPU seconds, summary, digest) of one run of ``job_name`` at ``now`` on the clinic at ``config``."""
    from medjobs_tui.jobs import JobContext, get_handler

    settings, db = open_store(config)
    job = settings.jobs[job_name]
    if options:
        job = job.model_copy(update={"options": {**job.options, **options}})
    ctx = JobContext(db=db, settings=settings, job_name=job_name, job=job, now=now)
    handler = get_handler(job.job_type)
    if profile is not None:
        import cProfile

        prof = cProfile.Profile()
        cpu = time.process_time()
        summary = prof.runcall(handler, ctx)
        cpu = time.process_time() - cpu
        prof.dump_stats(str(profile))
    else:
        cpu = time.process_time()
        summary = handler(ctx)
        cpu = time.process_time() - cpu
    found = digest(db)
    db.close()
    return cpu, summary, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("job")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None, help="write the (last) run's cProfile here")
    parser.add_argument("--dump", type=Path, default=None, help="write summary and digest as JSON here")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a job option for this run (e.g. days=365: analytics back-fill)")
    parser.add_argument("--hours", type=float, default=0.0,
                        help="run at the clinic's instant plus this many hours (other doses due, missed, ...)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    clinic, _ = build_clinic(args.cache, args.size)
    cpus = []
    with tempfile.TemporaryDirectory(prefix="medjobs-check-") as tmp:
        for k in range(args.repeat):
            config = fresh_copy(clinic, Path(tmp) / "run")
            last = k == args.repeat - 1
            cpu, summary, found = run_once(config, args.job, args.profile if last else None,
                                           NOW + timedelta(hours=args.hours),
                                           {k: int(v) if v.isdigit() else v for k, v in
                                            (o.split("=", 1) for o in args.option)})
            if not (last and args.profile):
                cpus.append(cpu)
    if args.dump:
        args.dump.write_text(json.dumps({"summary": summary, "digest": found}, indent=1, sort_keys=True,
                                        default=str) + "\n")
    print(f"{args.job}@{args.size}: cpu s best {min(cpus):.3f} of {[round(c, 3) for c in cpus]}; rows written: "
          + ", ".join(f"{t} {d['rows']}" for t, d in found.items() if d["rows"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
