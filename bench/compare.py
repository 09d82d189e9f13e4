"""Compare two bench suite results: ``bench/compare.py OLD NEW`` (JSON files written by bench/suite.py).

Prints each measurement both runs have: old value, new value, new/old, and, where the measurement has an
anchor (measured in the same run), the ratio to its anchor in each run and their quotient, which is what
to trust when the two runs were made under different machine load. Not part of the tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: str) -> dict[str, dict]:
    data = json.loads(Path(path).read_text())
    return {m["name"]: m for m in data["measurements"]}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: bench/compare.py OLD.json NEW.json", file=sys.stderr)
        return 2
    old, new = load(argv[0]), load(argv[1])
    print(f"{'measurement':36}{'old':>12}{'new':>12}{'new/old':>9}{'old/anchor':>12}{'new/anchor':>12}{'quot':>7}")
    for name, n in new.items():
        o = old.get(name)
        if o is None:
            continue
        change = f"{n['value'] / o['value']:9.2f}" if o["value"] else f"{'':9}"
        rel = ""
        a_old, a_new = old.get(o.get("anchor") or ""), new.get(n.get("anchor") or "")
        if a_old and a_new and a_old["value"] and a_new["value"]:
            r_old, r_new = o["value"] / a_old["value"], n["value"] / a_new["value"]
            rel = f"{r_old:12.1f}{r_new:12.1f}{(r_new / r_old if r_old else 0):7.2f}"
        unit = n.get("unit", "")
        print(f"{name:36}{o['value']:12.4g}{n['value']:12.4g}{change}{rel}  {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
