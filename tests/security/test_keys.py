"""The clinic's keys: key file (0600 in 0700, refused when loose, missing or damaged), the recovery copy
(unlocked only by the recovery key, bound to its clinic), and creation that never overwrites."""

from __future__ import annotations

import json
import os
import stat

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.security import keys as keys_mod
from medjobs_tui.security.keys import (
    KeyFileError, Keys, create_demo_keys, create_keys, load_keys, recover_keys, recovery_file_path,
)
from tests.conftest import write_config


@pytest.fixture
def fresh(tmp_path):
    """Settings of a clinic folder with no keys and no store yet."""
    return load_settings(write_config(tmp_path, keys=False))


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_keys_writes_a_private_key_file_outside_data_and_a_recovery_copy(fresh, tmp_path):
    recovery = create_keys(fresh)
    key_file = tmp_path / "keys" / "medjobs.key"
    assert _mode(key_file) == 0o600 and _mode(key_file.parent) == 0o700
    assert not key_file.resolve().is_relative_to(fresh.database_path.parent)
    keys = load_keys(fresh)
    assert {len(keys.store), len(keys.audit), len(keys.backup)} == {32}
    assert len({keys.store, keys.audit, keys.backup}) == 3
    assert len(recovery.replace("-", "")) == 32 and recovery.count("-") == 7
    copy = recovery_file_path(fresh)
    assert _mode(copy) == 0o600
    text = copy.read_text()
    assert keys.store.hex() not in text and keys.audit.hex() not in text and keys.backup.hex() not in text
    assert recover_keys(fresh, recovery) == keys
    assert recover_keys(fresh, recovery.lower().replace("-", " ")) == keys  # typed loosely


def test_keys_never_show_their_bytes(fresh):
    create_keys(fresh)
    keys = load_keys(fresh)
    assert keys.store.hex() not in repr(keys) and keys.audit.hex()[:16] not in repr(keys)


def test_create_keys_refuses_to_overwrite_existing_keys(fresh, tmp_path):
    create_keys(fresh)
    before = (tmp_path / "keys" / "medjobs.key").read_bytes()
    with pytest.raises(KeyFileError, match="never overwrites"):
        create_keys(fresh)
    assert (tmp_path / "keys" / "medjobs.key").read_bytes() == before


def test_a_wrong_recovery_key_is_one_clear_error(fresh):
    create_keys(fresh)
    other, _ = keys_mod.new_keys()
    wrong = keys_mod._format_recovery(os.urandom(keys_mod.RECOVERY_BYTES))
    with pytest.raises(KeyFileError, match="does not open the recovery copy"):
        recover_keys(fresh, wrong)
    with pytest.raises(KeyFileError, match="not a MedJobs recovery key"):
        recover_keys(fresh, "hunter2")


def test_the_recovery_copy_is_bound_to_its_clinic(fresh):
    recovery = create_keys(fresh)
    copy = recovery_file_path(fresh)
    blob = json.loads(copy.read_text())
    blob["clinic_id"] = "another-clinic"  # the associated data no longer fits: AES-GCM refuses
    copy.write_text(json.dumps(blob))
    with pytest.raises(KeyFileError, match="does not open"):
        recover_keys(fresh, recovery)


def test_missing_key_file_is_one_line_naming_it(fresh, tmp_path):
    with pytest.raises(KeyFileError) as err:
        load_keys(fresh)
    assert str(tmp_path / "keys" / "medjobs.key") in str(err.value) and "\n" not in str(err.value)
    assert "no key file" in str(err.value)


def test_a_key_file_readable_by_others_is_refused(fresh, tmp_path):
    create_keys(fresh)
    key_file = tmp_path / "keys" / "medjobs.key"
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyFileError, match="permissions are 0644.*chmod 600"):
        load_keys(fresh)


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o720])
def test_a_key_folder_others_may_write_is_refused_naming_the_folder_and_the_fix(fresh, tmp_path, mode):
    create_keys(fresh)
    folder = tmp_path / "keys"
    os.chmod(folder, mode)
    try:
        with pytest.raises(KeyFileError) as err:
            load_keys(fresh)
    finally:
        os.chmod(folder, 0o700)
    assert f"{folder}: the key folder's permissions are {mode:04o}" in str(err.value)
    assert f"chmod 700 {folder}" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="giving a folder away needs root")
def test_a_key_folder_of_another_user_is_refused_even_when_only_its_owner_may_write(fresh, tmp_path):
    create_keys(fresh)
    folder = tmp_path / "keys"
    os.chown(folder, 4242, -1)
    try:
        with pytest.raises(KeyFileError, match="belongs to another user .uid 4242."):
            load_keys(fresh)
    finally:
        os.chown(folder, os.getuid(), -1)
    assert isinstance(load_keys(fresh), Keys)


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o755])
def test_a_key_folder_only_its_owner_may_write_is_accepted(fresh, tmp_path, mode):
    create_keys(fresh)
    os.chmod(tmp_path / "keys", mode)
    assert isinstance(load_keys(fresh), Keys)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_key_file_is_refused(fresh, tmp_path, damage):
    create_keys(fresh)
    key_file = tmp_path / "keys" / "medjobs.key"
    text = key_file.read_text()
    if damage == "truncate":
        key_file.write_text(text[: len(text) // 2])
    elif damage == "flip":  # still valid JSON and hex: the check sum notices
        payload = json.loads(text)
        payload["store"] = ("0" if payload["store"][0] != "0" else "1") + payload["store"][1:]
        key_file.write_text(json.dumps(payload))
    else:
        key_file.write_bytes(b"\xff\xfe not json")
    with pytest.raises(KeyFileError, match="key file damaged"):
        load_keys(fresh)


def test_env_overrides_the_key_file_path(fresh, tmp_path, monkeypatch):
    elsewhere = tmp_path / "vault" / "clinic.key"
    monkeypatch.setenv("MEDJOBS_KEY_FILE", str(elsewhere))
    create_keys(fresh)
    assert elsewhere.exists() and not (tmp_path / "keys").exists()
    assert isinstance(load_keys(fresh), Keys)


def test_a_key_file_inside_the_store_folder_is_a_config_error(tmp_path):
    from medjobs_tui.config import ConfigError

    with pytest.raises(ConfigError, match="security.key_file"):
        load_settings(write_config(tmp_path, keys=False, security={"key_file": "data/medjobs.key"}))


def test_demo_keys_only_in_a_fresh_folder(fresh, tmp_path):
    assert create_demo_keys(fresh) is not None
    assert create_demo_keys(fresh) is None  # keys exist: nothing changes
    (tmp_path / "keys" / "medjobs.key").unlink()
    fresh.database_path.parent.mkdir(parents=True, exist_ok=True)
    fresh.database_path.write_bytes(b"")  # a store without its key file: nothing created
    assert create_demo_keys(fresh) is None
    assert not (tmp_path / "keys" / "medjobs.key").exists()
