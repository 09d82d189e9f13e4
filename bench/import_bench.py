"""Import bench: `medjobs import` of a synthetic FHIR bulk export (``bench/fhir_export.py``) of N patients into a
fresh demo clinic, run as a child process: wall seconds, resources per second and the child's peak RSS
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, measured in a wrapper process that runs only that child).

Run: .venv/bin/python bench/import_bench.py --patients 10000 [--cache DIR]
Prints one line ``import@N: seconds=S resources=R per_s=P cpu_seconds=C per_cpu_s=Q peak_rss_mib=M``.
The wall time includes the child's start-up and sign-in (about 0.5 s), so resources/s is a floor; on a shared
machine the CPU seconds (user + system of the child) move less with the load than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
MEDJOBS = Path(sys.executable).parent / "medjobs"


def export_of(cache: Path, patients: int, seed: int = 7) -> tuple[Path, int]:
    """The cached export folder of ``patients`` patients (written when missing) and its resource count; the same
    folder and ``ready`` file as ``suite.import_figures`` (the folder is what gets imported)."""
    from bench.fhir_export import write_export

    folder = cache / f"fhir-{patients}-s{seed}"
    ready = folder / "ready"
    if not ready.exists():
        shutil.rmtree(folder, ignore_errors=True)
        total = write_export(folder, patients, seed)
        ready.write_text(f"{total}\n")
    return folder, int(ready.read_text())


def fresh_clinic(work: Path) -> tuple[Path, Path]:
    """A fresh demo clinic (keys, demo users, ~50 demo patients) in ``work``: (config path, password file)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    import yaml

    data = yaml.safe_load((REPO / "config.yaml").read_text())
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    subprocess.run([str(MEDJOBS), "--config", str(config), "demo"], check=True, capture_output=True, cwd=work)
    users = {ln.split()[0]: ln.split()[2] for ln in (work / "data" / "demo-users.txt").read_text().splitlines()
             if len(ln.split()) == 3}
    pw = work / "operator.pw"
    pw.write_text(users["demo.operator"] + "\n")
    pw.chmod(0o600)
    return config, pw


def _child(config: Path, pw: Path, export: Path) -> dict:
    """Run the import as this process's only child; its wall seconds, exit code and peak RSS (MiB)."""
    env = {**os.environ, "MEDJOBS_PASSWORD_FILE": str(pw)}
    started = time.perf_counter()
    proc = subprocess.run([str(MEDJOBS), "--config", str(config), "--user", "demo.operator", "import", str(export)],
                          capture_output=True, text=True, env=env)
    secs = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"seconds": secs, "cpu_seconds": usage.ru_utime + usage.ru_stime, "rc": proc.returncode,
            "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux: ru_maxrss in KiB
            "tail": proc.stdout.strip().splitlines()[-3:] + proc.stderr.strip().splitlines()[-3:]}


def import_figures(patients: int, cache: Path) -> dict:
    """Figures of one import of ``patients`` patients: {resources, seconds (wall), per_s (resources per wall
    second), cpu_seconds (user + system of the child), per_cpu_s, peak_rss_mib}."""
    export, total = export_of(cache, patients)
    with tempfile.TemporaryDirectory(prefix="medjobs-import-") as tmp:
        config, pw = fresh_clinic(Path(tmp) / "clinic")
        proc = subprocess.run([sys.executable, __file__, "--child", str(config), str(pw), str(export)],
                              capture_output=True, text=True, check=True)
        got = json.loads(proc.stdout.strip().splitlines()[-1])
    if got["rc"] != 0:
        raise RuntimeError(f"import of {patients} patients exited {got['rc']}: {got['tail']}")
    return {"resources": total, "seconds": got["seconds"], "per_s": total / got["seconds"],
            "cpu_seconds": got["cpu_seconds"], "per_cpu_s": total / got["cpu_seconds"],
            "peak_rss_mib": got["peak_rss_mib"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache")
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    f = import_figures(args.patients, args.cache)
    print(f"import@{args.patients}: seconds={f['seconds']:.3f} resources={f['resources']} per_s={f['per_s']:.0f}"
          f" cpu_seconds={f['cpu_seconds']:.3f} per_cpu_s={f['per_cpu_s']:.0f} peak_rss_mib={f['peak_rss_mib']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
