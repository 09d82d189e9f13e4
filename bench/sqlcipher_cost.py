"""Bench: what SQLCipher costs. `medjobs run --once` on the demo clinic and on the Synthea import (and the
import itself), with the store encrypted (production) and with encryption switched off (same SQLCipher
library, no key: bench/plain_store/sitecustomize.py), measured in one run and printed as ratios.

Run: .venv/bin/python bench/sqlcipher_cost.py [--repeat 3] [--synthea ../shared/data/synthea-10]
Each figure is the median of --repeat fresh clinics; ratio = encrypted / plain (1.00 = free).
Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PLAIN = REPO / "bench" / "plain_store"


def make_clinic(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


ADMIN = "bench.admin"
PASSWORD = "bench-password-not-secret-1"


def init_clinic(config: Path, plain: bool) -> Path:
    """Keys and a first admin for a fresh clinic (in a child process, so the plain variant applies)."""
    script = (
        "import sys\n"
        "from medjobs_tui.config import load_settings\n"
        "from medjobs_tui.console import CUSTODIAN, Console\n"
        "from medjobs_tui.security.keys import create_keys\n"
        "s = load_settings(sys.argv[1]); create_keys(s)\n"
        "c = Console(s); c.create_first_admin(CUSTODIAN, sys.argv[2], sys.argv[3]); c.close()\n"
    )
    env = dict(os.environ)
    env.pop("MEDJOBS_KEY_FILE", None)
    if plain:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLAIN), env.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-c", script, str(config), ADMIN, PASSWORD], check=True, env=env)
    path = config.parent / "admin-password.txt"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def medjobs(config: Path, plain: bool, *args: str, password_file: Path | None = None) -> float:
    env = dict(os.environ)
    env.pop("MEDJOBS_KEY_FILE", None)
    if password_file is not None:
        env["MEDJOBS_PASSWORD_FILE"] = str(password_file)
    if plain:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLAIN), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), *args],
                          capture_output=True, text=True, env=env)
    secs = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"medjobs {' '.join(args)} failed ({'plain' if plain else 'encrypted'}):\n"
                         f"{proc.stdout}{proc.stderr}")
    return secs


def job_seconds(config: Path, plain: bool) -> float:
    """Sum of the handlers' own durations (worker processes) in the run --once."""
    from medjobs_tui.config import load_settings

    settings = load_settings(config)
    header = settings.database_path.read_bytes()[:16]
    assert (header == b"SQLite format 3\x00") == plain, "the plain run must write plain SQLite, the other not"
    if plain:
        db = sqlite3.connect(settings.database_path)
        rows = db.execute("SELECT duration_s FROM runs WHERE trigger = 'once'").fetchall()
    else:
        from medjobs_tui.security.keys import load_keys
        from medjobs_tui.store import connect

        db = connect(settings.database_path, load_keys(settings).store)
        rows = db.execute("SELECT duration_s FROM runs WHERE trigger = 'once'").fetchall()
    db.close()
    return sum(r[0] or 0 for r in rows)


def one_round(tmp: Path, plain: bool, synthea: Path | None) -> dict[str, float]:
    mode = "plain" if plain else "encrypted"
    out: dict[str, float] = {}
    demo = make_clinic(tmp / f"demo-{mode}")
    out["demo: generate"] = medjobs(demo, plain, "demo")
    out["demo: run --once (wall)"] = medjobs(demo, plain, "run", "--once")
    out["demo: run --once (sum of job durations)"] = job_seconds(demo, plain)
    if synthea is not None:
        syn = make_clinic(tmp / f"synthea-{mode}")
        files = sorted(str(p) for p in synthea.glob("*.ndjson"))
        admin_password_file = init_clinic(syn, plain)  # what `medjobs init` does: keys and a first admin
        out["synthea: import"] = medjobs(syn, plain, "--user", ADMIN, "import", *files,
                                         password_file=admin_password_file)
        out["synthea: run --once (wall)"] = medjobs(syn, plain, "run", "--once")
        out["synthea: run --once (sum of job durations)"] = job_seconds(syn, plain)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthea", type=Path, default=REPO.parent / "shared" / "data" / "synthea-10")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    synthea = args.synthea if args.synthea.exists() else None
    samples: dict[str, dict[str, list[float]]] = {"plain": {}, "encrypted": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for plain in ((True, False) if i % 2 == 0 else (False, True)):  # alternate the order
                got = one_round(Path(tmp) / f"r{i}", plain, synthea)
                for k, v in got.items():
                    samples["plain" if plain else "encrypted"].setdefault(k, []).append(v)
    rows = {}
    for k in samples["plain"]:
        p, e = statistics.median(samples["plain"][k]), statistics.median(samples["encrypted"][k])
        rows[k] = {"plain_s": round(p, 3), "encrypted_s": round(e, 3), "ratio": round(e / p, 2) if p else None}
    print(json.dumps({"repeat": args.repeat, "synthea": str(synthea) if synthea else None, "results": rows},
                     indent=2))


if __name__ == "__main__":
    main()
