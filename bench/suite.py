"""Bench suite (``make bench``): each job handler on demo clinics of several sizes, the raw SQLite floor, and the
other benches that exist (engine vs Huey), printed as one table and written to ``bench/results/latest.json``.

Run: .venv/bin/python bench/suite.py [--sizes 50,1000,10000] [--cache DIR] [--no-engine] [--out FILE]

- clinics: the project's demo generator (``demo.generate_demo``, the same as ``medjobs demo --patients N``) at a
  fixed instant and seed, in an encrypted store keyed from a key file, as production opens it. Built clinics are
  kept in --cache (default bench/.cache) by size, seed and schema version, and copied fresh for each measurement,
  so a second run skips the build.
- handlers: each of the six handlers run once in-process on a fresh copy of the clinic (their first run, as the
  scheduler would make it), wall seconds; growth exponent k from the two largest sizes (t ~ n^k; 1.0 = linear).
- SQLite floor: insert + update + commit of one row per job in WAL (plain sqlite3, synchronous=NORMAL), seconds
  per job: the anchor of the engine rows.
- engine: ``bench/engine.py`` (needs the ``bench`` extra) as a subprocess, its no-op throughput relative to Huey.
- dashboard refresh: ``bench/dashboard_refresh.py`` when it exists (its last ``name=value`` line).
- runner memory: ``bench/runner_rss.py`` on the largest clinic (one worker per queue on this shared machine):
  the runner process's peak RSS while the six jobs run once (target < 150 MB at 10,000 patients), the largest
  worker's and the whole tree's (Pss).
- handler CPU seconds (``time.process_time`` of the run) beside the wall seconds: on a shared machine the wall
  time grows with the load, the CPU time much less.
- analytics year: ``analytics_rollup`` of the 365 days before the clinic's instant as one back-fill run (option
  ``days``; a MedJobs without that option: 365 runs with option ``day``, one process, one connection), at
  --year-size patients (1,000; only when among --sizes); target 10 s.
- backup vs its floor: the backup job's throughput (store bytes / seconds; it exports, hashes and verifies)
  against SQLCipher's own ``sqlcipher_export`` of the same file to the same backup key (nothing else): the
  anchor, measured side by side on the same copy; SQLCipher's backup API (``Connection.backup``, same key
  both sides) is shown as a second reference. Target ratio >= 0.7. The same ratio in CPU seconds of this
  process (``backup_throughput_cpu``) moves less with the machine's load.
- import: ``bench/fhir_export.py``'s synthetic FHIR export (Patient, MedicationRequest, MedicationDispense with
  interacting pairs) of each size imported into an empty clinic by a child process (``fhir.importer.import_paths``,
  what ``medjobs import`` runs): seconds, resources per second (target >= 20,000) and the child's peak RSS
  (VmHWM of its own address space, MiB; target < 150 at 10,000 patients: ``ru_maxrss`` would also count this
  process's RSS at the fork).

The machine is shared: absolute seconds vary with its load; compare ratios measured in the same run
(``bench/compare.py OLD NEW`` for two runs). Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=timezone.utc)   # the clinics' instant (a Tuesday, after DST starts)
SEED = 7
HANDLER_ORDER = ["medication_reminder", "refill_check", "interaction_check", "supply_monitor", "analytics_rollup",
                 "backup"]
TARGETS_S = {"medication_reminder": 0.5, "supply_monitor": 0.5, "refill_check": 0.5, "interaction_check": 1.0,
             "analytics_rollup": 1.0}   # issue 10, at 10,000 patients


def make_config(folder: Path) -> Path:
    """A clinic folder with the repository's config.yaml and a fresh key file; returns the config path."""
    from medjobs_tui.config import load_settings
    from medjobs_tui.security import keys

    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    keys.write_key_file(load_settings(path), keys.new_keys("bench")[0])
    return path


def open_store(config: Path):
    from medjobs_tui.config import load_settings
    from medjobs_tui.security.keys import load_keys
    from medjobs_tui.store import connect

    settings = load_settings(config)
    return settings, connect(settings.database_path, load_keys(settings).store)


def build_clinic(cache: Path, patients: int) -> tuple[Path, float | None]:
    """The cached clinic folder of ``patients`` patients (built when missing); (folder, build seconds or None)."""
    from medjobs_tui.demo import generate_demo
    from medjobs_tui.store.schema import MIGRATIONS

    version = max(v for v, _, _ in MIGRATIONS)
    folder = cache / f"clinic-{patients}-s{SEED}-v{version}"
    if (folder / "ready").exists():
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    config = make_config(folder)
    settings, db = open_store(config)
    started = time.perf_counter()
    generate_demo(db, settings, NOW, seed=SEED, patients=patients)
    secs = time.perf_counter() - started
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    (folder / "ready").write_text(f"{secs:.3f}\n")
    return folder, secs


def fresh_copy(clinic: Path, work: Path) -> Path:
    """A copy of the clinic folder (store, key file, config) under ``work``; returns its config path."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(clinic, work)
    return work / "config.yaml"


def time_handler(config: Path, job_name: str, profile: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one in-process run of the job ``job_name`` of the clinic
    at ``config``."""
    from medjobs_tui.jobs import JobContext, get_handler

    settings, db = open_store(config)
    job = settings.jobs[job_name]
    ctx = JobContext(db=db, settings=settings, job_name=job_name, job=job, now=NOW)
    handler = get_handler(job.job_type)
    if profile is not None:
        import cProfile

        prof = cProfile.Profile()
        cpu, started = time.process_time(), time.perf_counter()
        prof.runcall(handler, ctx)
        secs, cpu = time.perf_counter() - started, time.process_time() - cpu
        prof.dump_stats(str(profile))
    else:
        cpu, started = time.process_time(), time.perf_counter()
        handler(ctx)
        secs, cpu = time.perf_counter() - started, time.process_time() - cpu
    db.close()
    return secs, cpu


def analytics_year(config: Path, days: int = 365) -> tuple[float, float]:
    """(wall, CPU) seconds of ``analytics_rollup`` run for each of the ``days`` clinic-local days before NOW
    (option ``day``), one after the other on one connection, as a back-fill of a year would run them."""
    from datetime import timedelta

    from medjobs_tui.jobs import JobContext, get_handler

    settings, db = open_store(config)
    job = settings.jobs["analytics_rollup"]
    handler = get_handler(job.job_type)
    last = NOW.astimezone(settings.zone).date() - timedelta(days=1)
    cpu, started = time.process_time(), time.perf_counter()
    # the back-fill option (one run, days=365); a MedJobs without it rolls up one day: then 365 runs, oldest first
    fill = job.model_copy(update={"options": {**job.options, "day": last.isoformat(), "days": days}})
    summary = handler(JobContext(db=db, settings=settings, job_name="analytics_rollup", job=fill, now=NOW))
    if "days_rolled_up" not in summary:
        for k in range(days - 1, 0, -1):
            day = last - timedelta(days=k)
            one = job.model_copy(update={"options": {**job.options, "day": day.isoformat()}})
            handler(JobContext(db=db, settings=settings, job_name="analytics_rollup", job=one, now=NOW))
    secs, cpu = time.perf_counter() - started, time.process_time() - cpu
    db.close()
    return secs, cpu


def backup_floor(config: Path, target: Path) -> dict[str, float]:
    """Seconds of SQLCipher's own copies of the store at ``config``: ``export`` = ``sqlcipher_export`` into a new
    file keyed with the backup key (what the backup job does, without its hash, manifest and verification),
    ``backup_api`` = the SQLite online-backup API into a new file keyed with the same key. Plus ``bytes``:
    the store's size."""
    from medjobs_tui.config import load_settings
    from medjobs_tui.security.keys import load_keys
    from medjobs_tui.store.db import open_keyed

    settings = load_settings(config)
    keys = load_keys(settings)
    source = Path(settings.database_path)
    out: dict[str, float] = {"bytes": float(source.stat().st_size)}
    target.unlink(missing_ok=True)
    conn = open_keyed(source, keys.store)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    started, cpu = time.perf_counter(), time.process_time()
    conn.execute(f"ATTACH DATABASE ? AS backup KEY \"x'{keys.backup.hex()}'\"", [str(target)])
    conn.execute("PRAGMA backup.journal_mode = DELETE")
    conn.execute("SELECT sqlcipher_export('backup')")
    conn.execute("DETACH DATABASE backup")
    fd = os.open(target, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    out["export"] = time.perf_counter() - started
    out["export_cpu"] = time.process_time() - cpu
    target.unlink()
    started = time.perf_counter()
    dest = open_keyed(target, keys.store)
    conn.backup(dest)
    dest.close()
    fd = os.open(target, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    out["backup_api"] = time.perf_counter() - started
    conn.close()
    target.unlink()
    return out


IMPORT_CHILD = """
import sys, time
from datetime import datetime, timezone
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from medjobs_tui.config import load_settings
from medjobs_tui.fhir.importer import import_paths
from medjobs_tui.security.keys import load_keys
from medjobs_tui.store import connect
settings = load_settings(Path(sys.argv[1]))
db = connect(settings.database_path, load_keys(settings).store)
started = time.perf_counter()
report = import_paths(db, settings, [Path(sys.argv[2])], datetime(2026, 3, 10, 14, 0, tzinfo=timezone.utc))
seconds = time.perf_counter() - started
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("import_seconds", seconds, "skipped", len(report.skipped), "vmhwm_kib", hwm)
"""


def import_figures(cache: Path, work: Path, patients: int) -> dict[str, float]:
    """Import the synthetic export of ``patients`` patients into an empty clinic in a child process: resources,
    seconds (the import call), resources per second and the child's peak RSS in MiB (``os.wait4``)."""
    sys.path.insert(0, str(BENCH))
    from fhir_export import write_export

    export = cache / f"fhir-{patients}-s{SEED}"
    if not (export / "ready").exists():
        shutil.rmtree(export, ignore_errors=True)
        resources = write_export(export, patients, SEED)
        (export / "ready").write_text(f"{resources}\n")
    resources = int((export / "ready").read_text())
    folder = work / f"import-{patients}"
    shutil.rmtree(folder, ignore_errors=True)
    config = make_config(folder)
    proc = subprocess.Popen([sys.executable, "-c", IMPORT_CHILD, str(config), str(export), str(REPO)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or "import_seconds" not in out:
        raise RuntimeError(f"import child failed ({proc.returncode}): {err.strip().splitlines()[-1:]}")
    secs = float(out.split()[1])
    shutil.rmtree(folder, ignore_errors=True)
    # the child's own peak (VmHWM of its address space): ru_maxrss of a child also counts the parent's RSS at the
    # fork (Linux keeps the larger high-water mark across exec), which after the 10,000-patient handlers is ~240 MB
    fields = out.split()
    peak_kib = int(fields[fields.index("vmhwm_kib") + 1]) if "vmhwm_kib" in fields else usage.ru_maxrss
    return {"resources": resources, "seconds": secs, "per_s": resources / secs, "peak_mib": peak_kib / 1024}


def sqlite_floor(folder: Path, jobs: int = 2000) -> float:
    """Seconds per job of the raw SQLite floor: insert + update + commit of one row per job (WAL, NORMAL)."""
    path = folder / "floor.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, status TEXT, started TEXT, finished TEXT)")
    started = time.perf_counter()
    for i in range(jobs):
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("INSERT INTO runs (status, started) VALUES ('queued', ?)", [str(i)])
        conn.execute("UPDATE runs SET status = 'succeeded', finished = ? WHERE id = ?", [str(i), cur.lastrowid])
        conn.execute("COMMIT")
    secs = (time.perf_counter() - started) / jobs
    conn.close()
    return secs


def engine_figures(runs: int) -> dict[str, float] | None:
    """bench/engine.py's last line as numbers, or None when Huey is missing or it fails."""
    proc = subprocess.run([sys.executable, str(BENCH / "engine.py"), "--runs", str(runs), "--huey-runs",
                           str(runs), "--samples", "15", "--tick-seconds", "6"],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        print(f"engine bench skipped ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("engine:")]
    if not lines:
        return None
    figures = dict(kv.split("=") for kv in lines[-1].split()[1:])
    out = {k: float(v) for k, v in figures.items()}
    m = re.search(r"throughput \(no-op runs/s\):\s+medjobs\s+([\d.]+)\s+huey\s+([\d.]+)", proc.stdout)
    if m:
        out["medjobs_runs_per_s"], out["huey_runs_per_s"] = float(m.group(1)), float(m.group(2))
    return out


def _dashboard_unit(key: str) -> str:
    """The unit of one of dashboard_refresh.py's figures, read from its name (``first_paint_ms``: ms;
    ``idle_cpu_pct``: percent of a core; ``rss_mb``: MB; ``runs``: a count)."""
    for suffix, unit in (("_ms", "ms"), ("_pct", "% core"), ("_mb", "MB")):
        if key.endswith(suffix):
            return unit
    return "runs" if key == "runs" else "s"


def dashboard_figures() -> dict[str, float] | None:
    """bench/dashboard_refresh.py's ``name=value`` pairs of its last line, when that bench exists."""
    script = BENCH / "dashboard_refresh.py"
    if not script.exists():
        return None
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        print(f"dashboard bench skipped ({proc.returncode})", file=sys.stderr)
        return None
    out = {}
    for line in proc.stdout.splitlines()[-1:]:
        for kv in line.split():
            if "=" in kv:
                k, v = kv.split("=", 1)
                try:
                    out[k.strip(":")] = float(v.rstrip("ms").rstrip("s") if v[-1:] in "ms" else v)
                except ValueError:
                    pass
    return out or None


def runner_rss_figures(cache: Path, patients: int) -> dict[str, float] | None:
    """bench/runner_rss.py's ``name=value`` pairs (the runner's peak RSS while the six jobs run once on the
    clinic of ``patients`` patients, from the same cache), or None when it failed."""
    proc = subprocess.run([sys.executable, str(BENCH / "runner_rss.py"), "--patients", str(patients), "--cache",
                           str(cache), "--slots", "1"], capture_output=True, text=True, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("runner_rss:")]
    if proc.returncode != 0 or not lines:
        print(f"runner RSS bench skipped ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return {k: float(v.split("/")[0]) for k, v in (kv.split("=", 1) for kv in lines[-1].split()[1:])}


def measure(sizes: list[int], cache: Path, engine_runs: int, profile_dir: Path | None,
            year_size: int | None = None, imports: bool = True, dashboard: bool = True,
            runner_rss: bool = True) -> list[dict]:
    """All measurements: [{name, value, unit, anchor, ...}]; anchor names the measurement it is a ratio to."""
    out: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="medjobs-suite-") as tmp:
        work = Path(tmp)
        floor = sqlite_floor(work)
        out.append({"name": "sqlite_floor_per_job", "value": floor, "unit": "s", "anchor": None})
        for n in sizes:
            clinic, built = build_clinic(cache, n)
            if built is not None:
                out.append({"name": f"build_clinic@{n}", "value": built, "unit": "s", "anchor": None})
            for job in HANDLER_ORDER:
                config = fresh_copy(clinic, work / "run")
                prof = profile_dir / f"{job}@{n}.prof" if profile_dir else None
                secs, cpu = time_handler(config, job, prof)
                out.append({"name": f"{job}@{n}", "value": secs, "unit": "s", "anchor": "sqlite_floor_per_job",
                            "cpu_s": cpu, "target": TARGETS_S.get(job) if n >= 10_000 else None})
                if job == "backup":
                    floor_of = backup_floor(config, work / "floor-copy.db")
                    size = floor_of["bytes"]
                    out.append({"name": f"backup_floor_export@{n}", "value": size / floor_of["export"] / 2**20,
                                "unit": "MiB/s", "anchor": None})
                    out.append({"name": f"backup_floor_backup_api@{n}", "value": size / floor_of["backup_api"] / 2**20,
                                "unit": "MiB/s", "anchor": f"backup_floor_export@{n}"})
                    out.append({"name": f"backup_throughput@{n}", "value": size / secs / 2**20, "unit": "MiB/s",
                                "anchor": f"backup_floor_export@{n}", "target": 0.7 if n >= 10_000 else None})
                    # the same ratio in CPU seconds (this process's): what the machine's load moves least
                    out.append({"name": f"backup_floor_export_cpu@{n}", "value": size / floor_of["export_cpu"] / 2**20,
                                "unit": "MiB/cpu-s", "anchor": None})
                    out.append({"name": f"backup_throughput_cpu@{n}", "value": size / cpu / 2**20, "unit": "MiB/cpu-s",
                                "anchor": f"backup_floor_export_cpu@{n}", "target": 0.7 if n >= 10_000 else None})
            if year_size is not None and n == year_size:
                config = fresh_copy(clinic, work / "run")
                secs, cpu = analytics_year(config)
                out.append({"name": f"analytics_year@{n}", "value": secs, "unit": "s", "anchor": None, "cpu_s": cpu,
                            "target": 10.0})
            if imports:
                fig = import_figures(cache, work, n)
                out.append({"name": f"import@{n}", "value": fig["seconds"], "unit": "s", "anchor": None,
                            "resources": fig["resources"]})
                out.append({"name": f"import_throughput@{n}", "value": fig["per_s"], "unit": "resources/s",
                            "anchor": None, "target": 20_000 if n >= 10_000 else None})
                out.append({"name": f"import_peak_rss@{n}", "value": fig["peak_mib"], "unit": "MiB", "anchor": None,
                            "target": 150 if n >= 10_000 else None})
        (work / "again").mkdir()
        floor2 = sqlite_floor(work / "again")
        out.append({"name": "sqlite_floor_per_job_end", "value": floor2, "unit": "s", "anchor": "sqlite_floor_per_job"})
    if len(sizes) >= 2:
        a, b = sorted(sizes)[-2:]
        values = {m["name"]: m["value"] for m in out}
        for job in HANDLER_ORDER:
            ta, tb = values[f"{job}@{a}"], values[f"{job}@{b}"]
            if ta > 0 and tb > 0:
                out.append({"name": f"{job}:growth_exponent", "value": math.log(tb / ta) / math.log(b / a),
                            "unit": "1", "anchor": None, "sizes": [a, b]})
    if engine_runs:
        eng = engine_figures(engine_runs)
        if eng:
            if "medjobs_runs_per_s" in eng:
                out.append({"name": "engine_noop_throughput", "value": eng["medjobs_runs_per_s"], "unit": "runs/s",
                            "anchor": "huey_noop_throughput"})
                out.append({"name": "huey_noop_throughput", "value": eng["huey_runs_per_s"], "unit": "runs/s",
                            "anchor": None})
                out.append({"name": "sqlite_floor_throughput", "value": 1.0 / floor, "unit": "runs/s",
                            "anchor": None})
            out.append({"name": "engine_trigger_p50", "value": eng["trigger_p50_ms"] / 1000, "unit": "s",
                        "anchor": "sqlite_floor_per_job"})
            out.append({"name": "engine_tick_p50", "value": eng["tick_p50_ms"] / 1000, "unit": "s",
                        "anchor": "sqlite_floor_per_job"})
    dash = dashboard_figures() if dashboard else None
    if dash:
        for k, v in dash.items():
            out.append({"name": f"dashboard_{k}", "value": v, "unit": _dashboard_unit(k), "anchor": None})
    rss = runner_rss_figures(cache, max(sizes)) if runner_rss else None
    if rss:
        n = max(sizes)
        out.append({"name": f"runner_peak_rss@{n}", "value": rss["runner_peak_mb"], "unit": "MB", "anchor": None,
                    "target": 150 if n >= 10_000 else None, "jobs_ok": rss.get("jobs_ok")})
        out.append({"name": f"runner_worker_peak_rss@{n}", "value": rss["worker_peak_mb"], "unit": "MB", "anchor": None})
        out.append({"name": f"runner_tree_pss_peak@{n}", "value": rss["tree_pss_peak_mb"], "unit": "MB", "anchor": None})
    return out


def table(measurements: list[dict], sizes: list[int]) -> str:
    """The printed table: handlers by size with the growth exponent, then the other rows with their ratio."""
    values = {m["name"]: m for m in measurements}
    lines = [f"cpus {os.cpu_count()}  load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
             "  (absolute times move with the load; ratios are from this one run)", ""]
    head = (f"{'handler (s)':22}" + "".join(f"{n:>10,}" for n in sizes) + f"{'growth k':>10}{'target':>8}"
            f"{'x floor':>10}{'cpu s':>9}")
    lines += [head, "-" * len(head)]
    floor = values["sqlite_floor_per_job"]["value"]
    big = max(sizes)
    for job in HANDLER_ORDER:
        row = f"{job:22}" + "".join(f"{values[f'{job}@{n}']['value']:10.3f}" for n in sizes)
        k = values.get(f"{job}:growth_exponent")
        row += f"{k['value']:10.2f}" if k else f"{'':10}"
        target = TARGETS_S.get(job)
        row += (f"{target:8.1f}" if target and big >= 10_000 else f"{'':8}")
        row += f"{values[f'{job}@{big}']['value'] / floor:10.0f}"
        row += f"{values[f'{job}@{big}'].get('cpu_s', float('nan')):9.3f}"
        lines.append(row)
    lines += ["", f"{'per size':34}{'value':>12} {'unit':12}{'target':>10}{'ratio to anchor':>17}  cpu s", "-" * 94]
    for m in measurements:
        if "@" not in m["name"] or m["name"].split("@")[0] in HANDLER_ORDER:
            continue
        anchor = values.get(m["anchor"]) if m["anchor"] else None
        ratio = f"{m['value'] / anchor['value']:17.2f}" if anchor and anchor["value"] else f"{'':17}"
        target = f"{m['target']:10g}" if m.get("target") is not None else f"{'':10}"
        cpu = f"  {m['cpu_s']:.2f}" if "cpu_s" in m else ""
        lines.append(f"{m['name']:34}{m['value']:12.2f} {m['unit']:12}{target}{ratio}{cpu}")
    lines += ["", f"{'measurement':30}{'value':>12} {'unit':8}{'anchor':>28}{'ratio':>10}", "-" * 90]
    for m in measurements:
        if "@" in m["name"] or ":" in m["name"]:
            continue
        anchor = values.get(m["anchor"]) if m["anchor"] else None
        ratio = f"{m['value'] / anchor['value']:10.2f}" if anchor and anchor["value"] else f"{'':10}"
        value = f"{m['value'] * 1000:12.3f} ms      " if m["unit"] == "s" else f"{m['value']:12.1f} {m['unit']:8}"
        lines.append(f"{m['name']:30}{value}{m['anchor'] or '':>28}{ratio}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,1000,10000", help="patients per clinic, comma-separated")
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache", help="where built clinics are kept")
    parser.add_argument("--engine-runs", type=int, default=2000, help="no-op runs for the engine bench (0: skip)")
    parser.add_argument("--no-engine", action="store_true", help="skip bench/engine.py")
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile file per handler and size here")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "latest.json")
    parser.add_argument("--year-size", type=int, default=1000,
                        help="clinic size of the analytics-year measurement (0: skip; only when among --sizes)")
    parser.add_argument("--no-import", action="store_true", help="skip the import measurement")
    parser.add_argument("--no-dashboard", action="store_true", help="skip bench/dashboard_refresh.py")
    parser.add_argument("--no-runner-rss", action="store_true", help="skip bench/runner_rss.py")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    measurements = measure(sizes, args.cache, 0 if args.no_engine else args.engine_runs, args.profile,
                           year_size=args.year_size or None, imports=not args.no_import,
                           dashboard=not args.no_dashboard, runner_rss=not args.no_runner_rss)
    print(table(measurements, sizes))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    args.out.write_text(json.dumps({
        "commit": commit.stdout.strip(), "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sizes": sizes, "load_average": os.getloadavg(), "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - started, 1), "measurements": measurements}, indent=2) + "\n")
    print(f"\nwritten {args.out} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
