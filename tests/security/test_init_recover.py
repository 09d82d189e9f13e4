"""`medjobs init` creates a clinic (keys, recovery key shown once, first admin); `medjobs recover` is emergency
access with the recovery key (45 CFR 164.312(a)(2)(ii)): it rebuilds a lost key file and gives an admin back,
audited loudly and shown at the next admin sign-in (CLI line and dashboard notice)."""

from __future__ import annotations

import re

import yaml
from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.config import load_settings
from medjobs_tui.console import Console, identity
from medjobs_tui.security.keys import key_file_path
from tests.conftest import REPO, password_file

RECOVERY = re.compile(r"^\s+(\S.*\S)\s*$", re.M)


def clinic_folder(tmp_path):
    """A config in tmp_path with no keys and no store (as `medjobs init` finds a new clinic)."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["security"]["password_hash"] = {"memory_kib": 8, "iterations": 1, "lanes": 1}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(config, *args, input=None, env=None):
    return CliRunner().invoke(main, ["--config", str(config), *args], input=input, env=env, catch_exceptions=False)


def test_init_creates_keys_shows_the_recovery_key_once_and_the_first_admin(tmp_path):
    config = clinic_folder(tmp_path)
    made = run(config, "init", "--admin", "ada", "--generate")
    assert made.exit_code == 0, made.output
    settings = load_settings(config)
    assert key_file_path(settings).exists()
    assert "RECOVERY KEY (shown once" in made.stdout
    password = made.stdout.strip().splitlines()[-1].split()[-1]
    assert not identity.demo_users_path(settings.database_path).exists()     # an init clinic has no such file
    (tmp_path / "pw").write_text(password)
    who = run(config, "--user", "ada", "whoami", env={"MEDJOBS_PASSWORD_FILE": str(tmp_path / "pw")})
    assert who.stdout.strip() == "ada (admin)"
    again = run(config, "init", "--admin", "eve", "--generate")
    assert again.exit_code == 1 and "set up already" in again.stderr


def test_recover_rebuilds_a_lost_key_file_gives_an_admin_back_and_says_so_at_the_next_sign_in(tmp_path):
    config = clinic_folder(tmp_path)
    made = run(config, "init", "--admin", "ada", "--generate")
    recovery = made.stdout.split("sign in to):")[1].strip().splitlines()[0].strip()
    settings = load_settings(config)
    key_file_path(settings).unlink()                                  # the key file is lost
    wrong = run(config, "recover", "--admin", "ada", "--generate", input="not the key\n")
    assert wrong.exit_code != 0 and not key_file_path(settings).exists()
    done = run(config, "recover", "--admin", "ada", "--generate", input=recovery + "\n")
    assert done.exit_code == 0, done.output
    assert key_file_path(settings).exists() and "EMERGENCY ACCESS" in done.stderr
    new_password = done.stdout.strip().splitlines()[-1].split()[-1]
    (tmp_path / "pw").write_text(new_password)
    first = run(config, "--user", "ada", "whoami", env={"MEDJOBS_PASSWORD_FILE": str(tmp_path / "pw")})
    assert "NOTICE:" in first.stderr and "EMERGENCY ACCESS" in first.stderr and "key file was rebuilt" in first.stderr
    second = run(config, "--user", "ada", "whoami", env={"MEDJOBS_PASSWORD_FILE": str(tmp_path / "pw")})
    assert "NOTICE" not in second.stderr
    console = Console(settings)
    [(outcome, detail)] = console.db.execute(
        "SELECT outcome, detail FROM audit_log WHERE action = 'clinic.recover'").fetchall()
    assert outcome == "ok" and '"key_file_restored": true' in detail


def test_a_wrong_recovery_key_is_refused_and_audited(tmp_path):
    config = clinic_folder(tmp_path)
    run(config, "init", "--admin", "ada", "--generate")
    wrong = run(config, "recover", "--admin", "mallory", "--generate", input="AAAA-BBBB\n")
    assert wrong.exit_code != 0
    console = Console(load_settings(config))
    assert console.db.execute("SELECT actor, outcome FROM audit_log WHERE action = 'clinic.recover'").fetchall() == [
        ("custodian", "denied")]
    assert console.db.execute("SELECT count(*) FROM users WHERE username = 'mallory'").fetchone()[0] == 0


def test_key_recover_is_audited_and_told_to_the_next_admin_and_a_refusal_too(tmp_path):
    config = clinic_folder(tmp_path)
    made = run(config, "init", "--admin", "ada", "--generate")
    recovery = made.stdout.split("sign in to):")[1].strip().splitlines()[0].strip()
    password = made.stdout.strip().splitlines()[-1].split()[-1]
    settings = load_settings(config)
    wrong = run(config, "key", "recover", input="AAAA-BBBB\n")              # a key file exists: refused
    assert wrong.exit_code != 0
    key_file_path(settings).unlink()                                        # the key file is lost
    done = run(config, "key", "recover", input=recovery + "\n")
    assert done.exit_code == 0, done.output
    assert key_file_path(settings).exists()
    console = Console(settings)
    assert console.db.execute("SELECT actor, outcome, json_extract(detail, '$.reason') FROM audit_log"
                              " WHERE action = 'key.recover' ORDER BY id").fetchall() == [
        ("custodian", "denied", "wrong recovery key"), ("custodian", "ok", None)]
    console.close()
    (tmp_path / "pw").write_text(password)
    first = run(config, "--user", "ada", "whoami", env={"MEDJOBS_PASSWORD_FILE": str(tmp_path / "pw")})
    assert "NOTICE:" in first.stderr and "lost key file was rebuilt from the recovery copy" in first.stderr
