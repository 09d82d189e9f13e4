"""Shared fixtures: a clinic of its own per test (config, store, evidence under tmp_path) and a fixed clock."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from medjobs_tui.clock import FixedClock
from medjobs_tui.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MEDJOBS_SHARED_DATA", REPO.parent / "shared" / "data"))
"""Real inputs nobody here wrote (../shared/data); MEDJOBS_SHARED_DATA points elsewhere. Tests skip without it."""
FIXED_NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)  # 07:55 in New York: 08:00 doses are due


def write_config(folder: Path, **overrides) -> Path:
    """Copy the repository's config.yaml into ``folder`` (so its paths land there), applying overrides.

    ``overrides`` are top-level keys merged one level deep, e.g. ``jobs={"backup": {...}}``.
    """
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = folder / "config.yaml"
    path.write_text(yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False))
    return path


class _NoAliasDumper(yaml.SafeDumper):
    """Writes a value shared by several jobs out in full: config files refuse YAML anchors and aliases."""

    def ignore_aliases(self, data):
        return True


@pytest.fixture
def clinic_config(tmp_path: Path) -> Path:
    """A config file in tmp_path whose store, backups and evidence are in tmp_path too."""
    return write_config(tmp_path)


@pytest.fixture
def settings(clinic_config: Path) -> Settings:
    """Validated settings of the tmp clinic."""
    return load_settings(clinic_config)


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at FIXED_NOW until moved."""
    return FixedClock(FIXED_NOW)
