"""The CLI signs people in: --user with a password (fd, file or prompt) or a `medjobs login` session;
`medjobs demo` makes one demo user per role; `medjobs run` acts as the runner service identity."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.config import load_settings
from medjobs_tui.console import identity
from tests.conftest import ADMIN_NAME, PASSWORD, make_user, password_file, write_config


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def medjobs(config, *args, env=None):
    """Run the `medjobs` command in this process (click's runner: no terminal, so no prompt)."""
    result = CliRunner().invoke(main, ["--config", str(config), *args], env=env, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def medjobs_process(config, *args, pass_fds=()):
    """Run the real `medjobs` command in a child process."""
    return subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, pass_fds=pass_fds, stdin=subprocess.DEVNULL)


def test_login_opens_a_0600_session_that_later_commands_use_until_logout(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    make_user(load_settings(config), "nurse.kim", "operator")
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path)))
    login = medjobs(config, "--user", "nurse.kim", "login")
    assert login.returncode == 0 and "signed in as nurse.kim (operator)" in login.stdout, login.stderr
    path = identity.session_file(load_settings(config).database_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    monkeypatch.delenv("MEDJOBS_PASSWORD_FILE")
    who = medjobs(config, "whoami")                                 # no password: the session
    assert who.returncode == 0 and who.stdout.strip() == "nurse.kim (operator)"
    refused = medjobs(config, "user", "list")
    assert refused.returncode == 1 and "nurse.kim (operator) may not list users" in refused.stderr
    assert medjobs(config, "logout").stdout.strip() == "signed out nurse.kim"
    assert not path.exists()
    after = medjobs(config, "whoami")
    assert after.returncode == 1 and "sign in first" in after.stderr


def test_password_from_a_file_descriptor_and_a_wrong_one_refused(tmp_path):
    config = write_config(tmp_path)
    make_user(load_settings(config))
    for password, code in ((PASSWORD, 0), ("not-the-password", 1)):
        read, write = os.pipe()
        os.write(write, (password + "\n").encode())
        os.close(write)
        proc = medjobs_process(config, "--user", ADMIN_NAME, "--password-fd", str(read), "whoami", pass_fds=(read,))
        os.close(read)
        assert proc.returncode == code, proc.stderr
    assert "wrong user name or password" in proc.stderr and "Traceback" not in proc.stderr


def test_an_admin_adds_a_user_with_a_generated_password_shown_once(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    make_user(load_settings(config))
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(password_file(tmp_path)))
    added = medjobs(config, "--user", ADMIN_NAME, "user", "add", "rita", "--role", "reviewer",
                    "--review-role", "compliance officer", "--generate")
    assert added.returncode == 0, added.stderr
    generated = added.stdout.strip().split()[-1]
    (tmp_path / "rita.txt").write_text(generated)
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(tmp_path / "rita.txt"))
    who = medjobs(config, "--user", "rita", "whoami")
    assert who.stdout.strip() == "rita (reviewer, compliance officer)"


def test_demo_makes_one_user_per_role_in_a_0600_file_beside_the_store(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    made = medjobs(config, "demo", "--patients", "12")
    assert made.returncode == 0, made.stderr
    path = identity.demo_users_path(load_settings(config).database_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [line.split() for line in path.read_text().splitlines()]
    assert [(u, r) for u, r, _ in lines] == [("demo.admin", "admin"), ("demo.operator", "operator"),
                                             ("demo.reviewer", "reviewer"), ("demo.auditor", "auditor"),
                                             ("demo.security", "reviewer"), ("demo.compliance", "reviewer"),
                                             ("demo.manager", "reviewer")]
    assert all(password in made.stdout for _, _, password in lines)      # printed once
    for user, role, password in lines:
        (tmp_path / "pw").write_text(password)
        monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(tmp_path / "pw"))
        who = medjobs(config, "--user", user, "whoami")
        assert who.stdout.startswith(f"{user} ({role}"), who.stderr
    again = medjobs(config, "demo", "--if-empty")                       # make run's second start: no sign-in
    assert again.returncode == 0 and "demo not written" in again.stdout
    assert path.read_text().splitlines() == [" ".join(x) for x in lines]
