"""Bench: FHIR import time and each job's duration in `run --once`, on the demo clinic and on Synthea.

Run: .venv/bin/python bench/run_once.py [--synthea ../shared/data/synthea-10]
Prints seconds measured in this one run, and ratios (Synthea / demo) so machines can be compared.
Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def make_clinic(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def medjobs(config: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), *args],
                          capture_output=True, text=True)
    return time.perf_counter() - started, proc


def job_durations(config: Path) -> dict[str, float]:
    from medjobs_tui.config import load_settings
    from medjobs_tui.security.keys import load_keys
    from medjobs_tui.store import connect

    settings = load_settings(config)
    db = connect(settings.database_path, load_keys(settings).store)
    return {name: dur for name, dur in db.execute(
        "SELECT job_name, duration_s FROM runs WHERE trigger = 'once' ORDER BY priority DESC, id")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthea", type=Path, default=REPO.parent / "shared" / "data" / "synthea-10")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        demo = make_clinic(Path(tmp) / "demo")
        secs, proc = medjobs(demo, "demo")
        assert proc.returncode == 0, proc.stderr
        results["demo"] = {"generate_s": round(secs, 3)}
        secs, proc = medjobs(demo, "run", "--once")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        results["demo"].update(run_once_wall_s=round(secs, 3), jobs=job_durations(demo))
        if args.synthea.exists():
            syn = make_clinic(Path(tmp) / "synthea")
            from medjobs_tui.config import load_settings
            from medjobs_tui.security.keys import create_keys

            create_keys(load_settings(syn))  # what `medjobs init` does for a real clinic
            files = sorted(str(p) for p in args.synthea.glob("*.ndjson"))
            secs, proc = medjobs(syn, "import", *files)
            assert proc.returncode == 0, proc.stderr
            results["synthea"] = {"import_s": round(secs, 3), "import_summary": proc.stdout.strip().splitlines()}
            secs, proc = medjobs(syn, "run", "--once")
            assert proc.returncode == 0, proc.stdout + proc.stderr
            results["synthea"].update(run_once_wall_s=round(secs, 3), jobs=job_durations(syn))
            results["ratio_synthea_over_demo"] = {
                j: round(results["synthea"]["jobs"][j] / results["demo"]["jobs"][j], 2)
                for j in results["demo"]["jobs"] if results["demo"]["jobs"][j]
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
