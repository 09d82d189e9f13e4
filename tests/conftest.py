"""Shared fixtures: a clinic of its own per test (config, store, evidence under tmp_path) and a fixed clock."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from medjobs_tui.clock import FixedClock
from medjobs_tui.config import Settings, load_settings
from medjobs_tui.security import keys as keys_mod
from medjobs_tui.console import CUSTODIAN, Actor, Console

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MEDJOBS_SHARED_DATA", REPO.parent / "shared" / "data"))
"""Real inputs nobody here wrote (../shared/data); MEDJOBS_SHARED_DATA points elsewhere. Tests skip without it."""
FIXED_NOW = datetime(2026, 11, 29, 12, 55, tzinfo=timezone.utc)  # 07:55 in New York: 08:00 doses are due

_RECOVERY_RAW = bytes(range(100, 100 + keys_mod.RECOVERY_BYTES))
TEST_RECOVERY_KEY = keys_mod._format_recovery(_RECOVERY_RAW)
TEST_KEYS = keys_mod.Keys(
    store=hashlib.sha256(b"test store key").digest(), audit=hashlib.sha256(b"test audit key").digest(),
    backup=hashlib.sha256(b"test backup key").digest(), clinic_id="test-clinic",
    recovery_public=keys_mod._public_bytes(keys_mod._recovery_private(_RECOVERY_RAW).public_key()))
"""Every test clinic's keys: test stores are encrypted like production. Fixed (not secret), so audit MACs
in evidence records and snapshots are the same on every run."""
STORE_KEY = TEST_KEYS.store
"""The raw SQLCipher key of every test store: ``connect(path, STORE_KEY)``."""

CHEAP_HASH = {"memory_kib": 8, "iterations": 1, "lanes": 1}
"""Argon2id cost of the test clinics' new password hashes: cheap, so the suite stays fast (production: OWASP's).
Below OWASP's floor, so config validation accepts it only under the test-only switch (``allow_cheap_hashes``)."""


def allow_cheap_hashes() -> None:
    """The test suite's explicit switch (``config.TEST_HASH_ENV``): test clinics may hash passwords below
    OWASP's floor. Set in this process's environment when the suite starts (before any fixture, module- and
    session-scoped ones too), so the CLI processes a test starts inherit it; a test of the floor itself
    removes it with ``monkeypatch.delenv``."""
    from medjobs_tui.config import TEST_HASH_ENV

    os.environ[TEST_HASH_ENV] = "1"


allow_cheap_hashes()


def write_test_keys(folder: Path, key_file: str = "keys/medjobs.key") -> Path:
    """Write TEST_KEYS as the key file ``folder/key_file`` (0600 in a 0700 folder); return its path."""
    path = folder / key_file
    keys_mod.write_private_file(path, json.dumps(keys_mod._payload(TEST_KEYS)).encode())
    return path


@pytest.fixture(autouse=True)
def _no_key_file_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's MEDJOBS_KEY_FILE must not leak into the tests' clinics."""
    monkeypatch.delenv(keys_mod.KEY_FILE_ENV, raising=False)


def write_config(folder: Path, keys: bool = True, **overrides) -> Path:
    """Copy the repository's config.yaml into ``folder`` (so its paths land there), applying overrides,
    and (unless ``keys`` is False) write TEST_KEYS as its key file.

    ``overrides`` are top-level keys merged one level deep, e.g. ``jobs={"backup": {...}}``.
    """
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["security"] = {**data.get("security", {}), "password_hash": dict(CHEAP_HASH)}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = folder / "config.yaml"
    path.write_text(yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False))
    if keys:
        write_test_keys(folder, (data.get("security") or {}).get("key_file", "keys/medjobs.key"))
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


@pytest.fixture(autouse=True)
def own_session_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`medjobs login` session files of a test go to its tmp_path, never the user's runtime folder; no
    password or user is inherited from the shell running the tests."""
    monkeypatch.setenv("MEDJOBS_SESSION_DIR", str(tmp_path / "sessions"))
    for name in ("MEDJOBS_PASSWORD_FILE", "MEDJOBS_USER", "MEDJOBS_ROLE"):
        monkeypatch.delenv(name, raising=False)


ADMIN_NAME = "ada.admin"
PASSWORD = "correct-horse-battery-staple"
"""The password of every user made by ``make_user`` (long enough, not on the common list)."""


def make_user(settings: Settings, name: str = ADMIN_NAME, role: str = "admin", password: str = PASSWORD,
              review_role: str | None = None, clock=None) -> Actor:
    """Create user ``name`` (the first admin ADMIN_NAME first, if the store has no users); return its Actor."""
    console = Console(settings, clock=clock)
    try:
        if not console.has_users():
            console.create_first_admin(CUSTODIAN, ADMIN_NAME, PASSWORD)
        if name != ADMIN_NAME:
            console.add_user(Actor(ADMIN_NAME, "admin"), name, role, password, review_role)
    finally:
        console.close()
    return Actor(name, role, review_role)


def password_file(folder: Path, password: str = PASSWORD) -> Path:
    """A 0600 file holding ``password`` (for MEDJOBS_PASSWORD_FILE)."""
    path = folder / "password.txt"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


def flip_a_byte(path: Path, at: int = 4096 + 100) -> None:
    """Flip one bit of the byte at offset ``at`` of ``path`` (by default inside the second 4 KiB page):
    a change nobody made through MedJobs. Flipping it again restores the file."""
    with path.open("r+b") as fh:
        fh.seek(at)
        b = fh.read(1)
        fh.seek(at)
        fh.write(bytes([b[0] ^ 0x01]))
