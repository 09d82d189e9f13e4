"""Controlled substances: which DEA schedule an order's ingredients carry, for the refill rule.

Source: 21 CFR 1308.12-1308.15 (schedules II-V), in ``data/controlled_substances.csv``; DOMAIN.md "Refill due"
(a refill of a controlled substance is due later: 85-90% of its days supply elapsed, against 75% otherwise).
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable
from importlib import resources

from medjobs_tui.clinical.ingredients import normalise_ingredient

SCHEDULES = ("II", "III", "IV", "V")
"""DEA schedules of prescription drugs, most restricted first (schedule I drugs have no accepted medical use)."""


@functools.lru_cache(maxsize=1)
def packaged_schedules() -> dict[str, str]:
    """Ingredient (normalised) -> DEA schedule, from the packaged table."""
    text = resources.files("medjobs_tui.clinical").joinpath("data/controlled_substances.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#"))))
    return {normalise_ingredient(r["ingredient"]): r["schedule"] for r in rows}


def controlled_schedule(ingredients: Iterable[str], extra: dict[str, str] | None = None) -> str | None:
    """The most restricted DEA schedule among ``ingredients`` (names as ``clinical.ingredients`` gives them), from
    the packaged table and a clinic's ``extra`` (ingredient -> schedule, e.g. a state's own scheduling); None for
    an order with no controlled ingredient."""
    table = {**packaged_schedules(), **{normalise_ingredient(k): v for k, v in (extra or {}).items()}}
    found = [table[normalise_ingredient(i)] for i in ingredients if normalise_ingredient(i) in table]
    return min(found, key=SCHEDULES.index) if found else None
