"""Sign-in: Argon2id passwords, the password rules, lockout timing on the injected clock, login sessions,
user administration and emergency access, through the console (45 CFR 164.312(a)(2)(i), (a)(2)(ii), (d))."""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta

import pytest

from medjobs_tui.console import (
    CUSTODIAN, AccountRevoked, Actor, Console, ConsoleError, PermissionDenied, SignInFailed,
)
from medjobs_tui.security import audit as audit_log
from medjobs_tui.security import auth
from medjobs_tui.store import users as store_users
from medjobs_tui.security.passwords import (
    OWASP, HashParams, PasswordRuleError, check_password_rules, generate_password, hash_password, parse_phc,
    verify_password,
)
from tests.conftest import ADMIN_NAME, PASSWORD

ADMIN = Actor(ADMIN_NAME, "admin")
CHEAP = HashParams(8, 1, 1)


@pytest.fixture
def console(settings, clock):
    c = Console(settings, clock=clock)
    c.create_first_admin(CUSTODIAN, ADMIN_NAME, PASSWORD)
    c.add_user(ADMIN, "nurse.kim", "operator", PASSWORD)
    yield c
    c.close()


def audit(console, action=None):
    sql = "SELECT actor, action, outcome, detail FROM audit_log" + (" WHERE action = ?" if action else "") + " ORDER BY id"
    return [(a, b, c, json.loads(d) if d else None) for a, b, c, d in console.db.execute(sql, [action] if action else [])]


# ------------------------------------------------------------------------------------- passwords


def test_passwords_are_argon2id_phc_strings_at_owasp_cost_by_default():
    phc = hash_password("a long enough passphrase")
    assert phc.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    params, salt, digest = parse_phc(phc)
    assert params == OWASP and len(salt) == 16 and len(digest) == 32
    assert verify_password("a long enough passphrase", phc)
    assert not verify_password("a long enough passphrasE", phc)
    assert hash_password("a long enough passphrase") != phc          # a fresh salt each time


def test_the_config_sets_the_cost_and_a_stored_hash_keeps_its_own(settings):
    assert settings.security.password_hash.memory_kib == 8           # the suite's cheap cost (tests/conftest.py)
    from medjobs_tui.config import SecurityConfig
    assert SecurityConfig().password_hash.memory_kib == 19 * 1024 and SecurityConfig().idle_timeout == 600
    cheap = hash_password("a long enough passphrase", CHEAP)
    assert "$m=8,t=1,p=1$" in cheap and verify_password("a long enough passphrase", cheap)


@pytest.mark.parametrize("cost, low", [
    ({"memory_kib": 8, "iterations": 1, "lanes": 1}, "memory_kib 8 < 19456, iterations 1 < 2"),
    ({"memory_kib": 19455, "iterations": 2, "lanes": 1}, "memory_kib 19455 < 19456"),
    ({"memory_kib": 65536, "iterations": 1, "lanes": 1}, "iterations 1 < 2"),
])
def test_a_password_hash_cost_below_owasp_stops_start_up(tmp_path, monkeypatch, cost, low):
    """Only the test suite's own switch (an environment variable of the test run, not a config value) lets a
    clinic's config hash below OWASP's m=19456 KiB, t=2, p=1; without it check-config and start-up refuse."""
    import subprocess
    import sys

    from medjobs_tui.config import TEST_HASH_ENV, ConfigError, load_settings
    from tests.conftest import REPO, write_config

    config = write_config(tmp_path, security={"password_hash": cost})
    assert load_settings(config).security.password_hash.memory_kib == cost["memory_kib"]   # the switch is on
    monkeypatch.delenv(TEST_HASH_ENV)
    with pytest.raises(ConfigError, match=f"security.password_hash.*below OWASP's minimum \\({low}\\)"):
        load_settings(config)
    done = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "check-config"],
                          capture_output=True, text=True, timeout=60, env={k: v for k, v in os.environ.items()})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "below OWASP's minimum" in done.stderr and "memory_kib: 19456, iterations: 2, lanes: 1" in done.stderr
    assert load_settings(REPO / "config.yaml").security.password_hash.memory_kib == 19456   # the shipped config


def test_the_test_only_switch_needs_its_exact_value(tmp_path, monkeypatch):
    from medjobs_tui.config import TEST_HASH_ENV, ConfigError, load_settings
    from tests.conftest import write_config

    monkeypatch.setenv(TEST_HASH_ENV, "yes")
    with pytest.raises(ConfigError, match="below OWASP"):
        load_settings(write_config(tmp_path))


@pytest.mark.parametrize("password, why", [
    ("short-pass1", "at least 12"),
    ("passwordpassword", "common"),
    ("Password2024!", "common"),
    ("12345678901234", "pattern"),
    ("abcabcabcabcabc", "pattern"),
    ("!!!!!!!!!!!!!!", "pattern"),
    ("iloveyou123456", "common"),
    ("nurse.kim-is-here", "user name"),
])
def test_password_rules_refuse_short_common_and_patterned_passwords(password, why):
    with pytest.raises(PasswordRuleError, match=why):
        check_password_rules(password, "nurse.kim")


def test_generated_passwords_pass_the_rules():
    for _ in range(20):
        check_password_rules(generate_password(), "nurse.kim")


def test_a_weak_password_is_refused_when_adding_a_user_and_nothing_is_written(console):
    with pytest.raises(ConsoleError, match="common passwords"):
        console.add_user(ADMIN, "bob", "operator", "Password1234")
    assert [u.username for u in console.list_users(ADMIN)] == [ADMIN_NAME, "nurse.kim"]


# ------------------------------------------------------------------------------------- lockout


def test_lockout_after_five_failures_doubles_from_30_s_to_15_min(console, clock):
    for _ in range(4):
        with pytest.raises(SignInFailed, match="wrong user name or password"):
            console.sign_in("nurse.kim", "wrong-password-123")
    with pytest.raises(SignInFailed, match="wrong user name or password"):
        console.sign_in("nurse.kim", "wrong-password-123")        # the 5th: locked out for 30 s
    with pytest.raises(SignInFailed, match="locked out for another 30 s"):
        console.sign_in("nurse.kim", PASSWORD)                     # even the right password waits (and counts: 6)
    clock.advance(29)
    with pytest.raises(SignInFailed, match="locked out for another 1 s"):
        console.sign_in("nurse.kim", PASSWORD)                     # 7 attempts counted
    delays = []
    for _ in range(7):                                             # each further failure doubles the delay
        user = console.list_users(ADMIN)[1]
        clock.set(user.locked_until)
        with pytest.raises(SignInFailed, match="wrong user name"):
            console.sign_in("nurse.kim", "wrong-password-123")
        delays.append((console.list_users(ADMIN)[1].locked_until - clock.now()).total_seconds())
    assert delays == [240, 480, 900, 900, 900, 900, 900]           # the 8th attempt: 30 s x 2^3
    lockouts = [d["seconds"] for _, _, _, d in audit(console, "user.lockout")]
    assert lockouts == [30, 240, 480, 900, 900, 900, 900, 900]
    clock.advance(900)
    assert console.sign_in("nurse.kim", PASSWORD).actor == Actor("nurse.kim", "operator")
    assert console.list_users(ADMIN)[1].failed_signins == 0         # a success starts the count again


def guess_together(settings, name: str, n: int) -> list[str]:
    """``n`` wrong passwords for ``name`` from ``n`` consoles at the same moment; the refusals' texts."""
    barrier, answers = threading.Barrier(n), []

    def guess(i):
        c = Console(settings)
        try:
            barrier.wait()
            c.sign_in(name, f"wrong-guess-number-{i:03d}")
        except SignInFailed as exc:
            answers.append(str(exc))
        finally:
            c.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_concurrent_wrong_passwords_each_count_toward_the_lockout(settings, console):
    """Parallel guesses (several windows, processes) must not share one read of the count: each is counted
    atomically before its password is checked, and those after the fifth find the lock. NIST SP 800-63B 5.2.2."""
    answers = guess_together(settings, "nurse.kim", 16)
    assert store_users.get(console.db, "nurse.kim")["failed_signins"] == 16
    assert len(answers) == 16 and sum("locked out" in a for a in answers) >= 16 - 5


def test_concurrent_guesses_at_a_made_up_name_are_each_counted_too(settings, console):
    assert len(guess_together(settings, "no.such.nurse", 8)) == 8
    assert [f for (f,) in console.db.execute("SELECT failures FROM signin_failures")] == [8]


def test_a_locked_out_user_is_refused_before_the_password_is_checked(console, monkeypatch):
    for _ in range(5):
        with pytest.raises(SignInFailed):
            console.sign_in("nurse.kim", "wrong-password-123")
    checked = []
    monkeypatch.setattr(auth, "verify_password", lambda *a: checked.append(1) or True)
    with pytest.raises(SignInFailed, match="locked out"):
        console.sign_in("nurse.kim", PASSWORD)
    assert checked == []


def test_a_disabled_users_right_and_wrong_passwords_get_the_same_answer(console):
    console.disable_user(ADMIN, "nurse.kim")
    answers = set()
    for password in (PASSWORD, "wrong-password-123"):
        with pytest.raises(SignInFailed) as exc:
            console.sign_in("nurse.kim", password)
        answers.add(str(exc.value))
    assert answers == {auth.BAD_CREDENTIALS}
    reasons = [d["reason"] for _, _, _, d in audit(console, "signin")]
    assert reasons == ["disabled", "wrong password"]


def _lockout_story(console, clock, name: str) -> list[str]:
    """What a person trying ``name`` sees: five wrong passwords, the right one 29 s into the lockout, then
    seven times a wrong password the moment the lockout ends (the delay doubles) and the right one a second
    later; each answer with its time and with the name replaced by NAME."""
    start = clock.now()
    seen = []

    def attempt(password="wrong-password-123"):
        with pytest.raises(SignInFailed) as exc:
            console.sign_in(name, password)
        seen.append(f"{(clock.now() - start).total_seconds():g}s: " + str(exc.value).replace(name, "NAME"))

    for _ in range(5):
        attempt()
    clock.advance(29)
    attempt(PASSWORD)
    clock.advance(1)
    delay = 30
    for _ in range(7):
        attempt()                                   # at the end of the lockout: a failure that doubles it
        delay = min(delay * 2, 900)
        clock.advance(1)
        attempt(PASSWORD)                           # 1 s later: locked for the rest of the new delay
        clock.advance(delay - 1)
    clock.set(start)
    return seen


def test_a_made_up_name_locks_out_like_a_real_user(console, clock):
    """Lockout must not tell which names exist: the answers and delays for a name that is no user are the
    ones a real user gets, failure by failure."""
    real = _lockout_story(console, clock, "nurse.kim")
    made_up = _lockout_story(console, clock, "nurse.kimm")
    assert made_up == real
    assert real[4] == "0s: wrong user name or password" and real[5].startswith("29s: too many failed sign-ins: NAME")
    assert "locked out for another 15 min" in real[-1]
    lockouts = [(a, d["seconds"]) for a, _, _, d in audit(console, "user.lockout")]
    assert [s for a, s in lockouts if a.startswith("unknown-name:")] == [s for a, s in lockouts if a == "nurse.kim"]


def test_failures_of_made_up_names_are_kept_under_a_keyed_hash_and_bounded(console, clock, monkeypatch):
    from medjobs_tui.store import users as store_users

    monkeypatch.setattr(auth, "UNKNOWN_NAMES_KEPT", 3)
    for _ in range(5):
        with pytest.raises(SignInFailed):
            console.sign_in("locked.name", "wrong-password-123")          # locked out: kept first
    for n in range(6):
        clock.advance(1)
        with pytest.raises(SignInFailed):
            console.sign_in(f"random.name{n}", "wrong-password-123")
    assert store_users.count_name_failures(console.db) == 3
    stored = console.db.execute("SELECT name_key, failures FROM signin_failures").fetchall()
    assert all("name" not in key and len(key) == 64 for key, _ in stored)
    assert sorted(f for _, f in stored) == [1, 1, 5]                     # the locked name and the two newest
    with pytest.raises(SignInFailed, match="locked out"):
        console.sign_in("locked.name", PASSWORD)


def test_lockout_seconds_rule():
    assert [auth.lockout_seconds(n) for n in range(1, 12)] == [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]


def test_an_admin_unlocks_a_locked_out_user(console):
    for _ in range(5):
        with pytest.raises(SignInFailed):
            console.sign_in("nurse.kim", "wrong-password-123")
    with pytest.raises(SignInFailed, match="locked out"):
        console.sign_in("nurse.kim", PASSWORD)
    console.unlock_user(ADMIN, "nurse.kim")
    assert console.sign_in("nurse.kim", PASSWORD).actor.username == "nurse.kim"
    assert audit(console, "user.unlock") == [(ADMIN_NAME, "user.unlock", "ok", {"failures": 6})]   # the refused 6th counts


def test_sign_in_is_audited_ok_and_denied_without_the_password(console):
    console.sign_in("nurse.kim", PASSWORD)
    with pytest.raises(SignInFailed, match="wrong user name or password"):
        console.sign_in("nobody", PASSWORD)                       # an unknown user: the same message
    entries = audit(console, "signin")
    assert [(a, o) for a, _, o, _ in entries] == [("nurse.kim", "ok"), (auth.audit_name(console.keys.audit, "nobody",
                                                                                          False), "denied")]
    assert entries[1][3] == {"reason": "unknown user", "failures": 1}
    everything = json.dumps(audit(console))
    assert PASSWORD not in everything and "$argon2id" not in everything


def test_a_name_that_is_no_user_never_reaches_the_audit_trail(console, clock):
    """What is typed into the user-name field is often a password (focus in the wrong field) or anything
    else: the trail names such attempts by a keyed pseudonym, the same for the same name (a guessing run
    shows), and never the text."""
    typed = "a036o-dj83n-lhk12-crc0e"                      # a password, typed where the name goes
    for _ in range(6):                                     # past the lockout: user.lockout is written too
        clock.advance(3600)
        with pytest.raises(SignInFailed):
            console.sign_in(typed, "anything-at-all-1")
    with pytest.raises(SignInFailed):
        console.sign_in("other-typed-text", "anything-at-all-1")
    rows = console.db.execute("SELECT actor, target, detail FROM audit_log").fetchall()
    assert typed not in json.dumps(rows) and "other-typed-text" not in json.dumps(rows)
    actors = [a for a, _, _ in rows if a.startswith("unknown-name:")]
    assert len(set(actors)) == 2                            # one pseudonym per name typed
    assert [a for a, _, _, _ in audit(console, "user.lockout")] == [actors[0]] * 2   # the 5th and 6th failures
    assert {t for a, t, _ in rows if a.startswith("unknown-name:")} == {f"user:{a}" for a in actors}
    assert audit_log.verify(console.db, console.keys.audit).ok           # the chain holds


# ------------------------------------------------------------------------------------- users


def test_a_disabled_user_cannot_sign_in_and_their_sessions_end(console):
    _, token = console.open_session("nurse.kim", PASSWORD)
    console.disable_user(ADMIN, "nurse.kim")
    with pytest.raises(SignInFailed, match="^wrong user name or password$"):   # the right password: not confirmed
        console.sign_in("nurse.kim", PASSWORD)
    assert audit(console, "signin")[-1] == ("nurse.kim", "signin", "denied", {"reason": "disabled", "failures": 1})
    with pytest.raises(SignInFailed):
        console.resume_session(token)
    console.enable_user(ADMIN, "nurse.kim")
    assert console.sign_in("nurse.kim", PASSWORD).actor.role == "operator"


def test_a_disabled_user_can_no_longer_act_through_an_open_console(console):
    kim = console.sign_in("nurse.kim", PASSWORD).actor
    console.disable_user(ADMIN, "nurse.kim")
    with pytest.raises(AccountRevoked, match="disabled after signing in"):
        console.trigger(kim, next(iter(console.settings.jobs)))
    with pytest.raises(AccountRevoked):
        console.authorise(kim, "view.operations", "dashboard")
    assert audit(console, "job.trigger")[-1] == ("nurse.kim", "job.trigger", "denied",
                                                 {"reason": "disabled", "signed_in_as": "operator"})
    console.lock(kim, "account changed")                        # locking their own session stays open to them
    assert audit(console, "session.lock")[-1][2] == "ok"


def test_a_demoted_admin_loses_admin_actions_in_an_open_console(console):
    console.add_user(ADMIN, "second.admin", "admin", PASSWORD)
    second = console.sign_in("second.admin", PASSWORD).actor
    console.set_user_role(ADMIN, "second.admin", "operator")
    with pytest.raises(AccountRevoked, match="role changed from admin to operator"):
        console.add_user(second, "backdoor", "admin", PASSWORD)
    assert "backdoor" not in [u.username for u in console.list_users(ADMIN)]
    assert audit(console, "user.add")[-1] == ("second.admin", "user.add", "denied",
                                              {"reason": "role changed", "signed_in_as": "admin"})
    fresh = console.unlock(second, PASSWORD)                    # unlocking reads the account as it is now
    assert fresh == Actor("second.admin", "operator")
    with pytest.raises(PermissionDenied, match=r"second.admin \(operator\) may not add users"):
        console.add_user(fresh, "backdoor", "admin", PASSWORD)


def test_a_reviewer_given_another_review_role_is_refused_until_signing_in_again(console):
    console.add_user(ADMIN, "rita", "reviewer", PASSWORD, review_role="technical lead")
    rita = console.sign_in("rita", PASSWORD).actor
    console.set_user_role(ADMIN, "rita", "reviewer", "security officer")
    with pytest.raises(AccountRevoked):
        console.authorise(rita, "signoff.sign", "signoff:technical_review.code_review")
    assert console.authorise(console.sign_in("rita", PASSWORD).actor, "signoff.sign") == \
        Actor("rita", "reviewer", "security officer")


def test_service_identities_are_not_looked_up_as_users(console):
    from medjobs_tui.console import RUNNER
    assert console.authorise(RUNNER, "runner.run", "runner") == RUNNER
    assert console.authorise(CUSTODIAN, "key.recover", "key_file") == CUSTODIAN


def test_the_last_admin_can_be_neither_disabled_nor_demoted(console):
    with pytest.raises(ConsoleError, match="only admin"):
        console.disable_user(ADMIN, ADMIN_NAME)
    with pytest.raises(ConsoleError, match="only admin"):
        console.set_user_role(ADMIN, ADMIN_NAME, "auditor")
    console.add_user(ADMIN, "bea", "admin", PASSWORD)
    console.set_user_role(ADMIN, ADMIN_NAME, "auditor")
    assert console.sign_in(ADMIN_NAME, PASSWORD).actor.role == "auditor"


def test_roles_review_roles_and_reserved_names(console):
    generated = console.add_user(ADMIN, "rita", "reviewer", review_role="security officer")
    check_password_rules(generated, "rita")
    assert console.sign_in("rita", generated).actor == Actor("rita", "reviewer", "security officer")
    with pytest.raises(ConsoleError, match="only a reviewer"):
        console.add_user(ADMIN, "otto", "operator", PASSWORD, review_role="technical lead")
    with pytest.raises(ConsoleError, match="unknown role"):
        console.add_user(ADMIN, "otto", "superuser", PASSWORD)
    with pytest.raises(ConsoleError, match="reserved"):
        console.add_user(ADMIN, "runner", "operator", PASSWORD)
    with pytest.raises(ConsoleError, match="already a user"):
        console.add_user(ADMIN, "rita", "operator", PASSWORD)
    assert [a for _, a, o, _ in audit(console) if a.startswith("user.")] == ["user.add", "user.add"]


def test_an_admin_sets_a_password_which_ends_sessions_and_lifts_a_lockout(console):
    _, token = console.open_session("nurse.kim", PASSWORD)
    new = console.set_user_password(ADMIN, "nurse.kim")
    with pytest.raises(SignInFailed):
        console.resume_session(token)
    with pytest.raises(SignInFailed):
        console.sign_in("nurse.kim", PASSWORD)
    assert console.sign_in("nurse.kim", new).actor.username == "nurse.kim"


def test_a_user_changes_their_own_password_after_giving_the_current_one(console):
    kim = Actor("nurse.kim", "operator")
    with pytest.raises(SignInFailed):
        console.change_password(kim, "wrong-password-123", "a-brand-new-passphrase")
    console.change_password(kim, PASSWORD, "a-brand-new-passphrase")
    assert console.sign_in("nurse.kim", "a-brand-new-passphrase").actor == kim


# ------------------------------------------------------------------------------------- sessions


def test_a_login_session_expires_after_the_idle_timeout(console, clock, settings):
    signed, token = console.open_session("nurse.kim", PASSWORD)
    timeout = settings.security.idle_timeout
    clock.advance(timeout - 1)
    assert console.resume_session(token) == signed.actor            # each use starts the idle time again
    clock.advance(timeout - 1)
    assert console.resume_session(token) == signed.actor
    clock.advance(timeout + 1)
    with pytest.raises(SignInFailed, match="expired"):
        console.resume_session(token)
    with pytest.raises(SignInFailed, match="no live session"):
        console.resume_session(token)                                # it is gone, not merely idle
    assert [a for _, a, _, _ in audit(console) if a.startswith("session.")] == ["session.login", "session.expired"]


def test_a_busy_login_session_still_ends_at_its_absolute_lifetime(console, clock, settings):
    """Used every few minutes, a session would never go idle: it ends all the same once
    security.session_lifetime (default 12 h) has passed since it began. OWASP Session Management (absolute
    timeout)."""
    assert settings.security.session_lifetime == 12 * 3600
    signed, token = console.open_session("nurse.kim", PASSWORD)
    step = settings.security.idle_timeout / 2
    while (clock.now() - console.list_users(ADMIN)[1].last_signin_at).total_seconds() + step <= 12 * 3600:
        clock.advance(step)
        assert console.resume_session(token) == signed.actor
    clock.advance(step)
    with pytest.raises(SignInFailed, match=r"reached its time limit of 12 h \(security.session_lifetime\); sign in again"):
        console.resume_session(token)
    with pytest.raises(SignInFailed, match="no live session"):
        console.resume_session(token)
    (_, _, _, detail), = [e for e in audit(console) if e[1] == "session.expired"]
    assert detail["lifetime_s"] == 43200 and detail["age_s"] > 43200


@pytest.mark.parametrize("value, ok", [(3600, True), (86400, True), (30, False), (0, False), (90000, False),
                                       (float("inf"), False)])
def test_the_session_lifetime_is_bounded_by_the_config_model(value, ok):
    from pydantic import ValidationError

    from medjobs_tui.config import SecurityConfig
    if ok:
        assert SecurityConfig(session_lifetime=value).session_lifetime == value
    else:
        with pytest.raises(ValidationError):
            SecurityConfig(session_lifetime=value)


def test_a_session_follows_the_users_current_role(console):
    _, token = console.open_session("nurse.kim", PASSWORD)
    assert console.resume_session(token).role == "operator"
    console.set_user_role(ADMIN, "nurse.kim", "auditor")             # sessions end on a role change
    with pytest.raises(SignInFailed):
        console.resume_session(token)


# ------------------------------------------------------------------------------------- emergency access


def test_emergency_access_makes_an_admin_is_audited_and_shown_once_at_the_next_admin_sign_in(console):
    generated = console.emergency_admin(CUSTODIAN, ADMIN_NAME)        # the admin forgot the password
    assert console.sign_in(ADMIN_NAME, generated).notices[0].endswith(
        "EMERGENCY ACCESS: the recovery key was used to give ada.admin the admin role at the workstation; "
        "check the audit trail (medjobs audit list --action clinic.recover)")
    assert console.sign_in(ADMIN_NAME, generated).notices == []       # shown once
    [(actor, _, outcome, detail)] = audit(console, "clinic.recover")
    assert (actor, outcome, detail["emergency"], detail["new_user"]) == ("custodian", "ok", True, False)


def test_emergency_access_can_create_a_new_admin(console):
    console.emergency_admin(CUSTODIAN, "erin", PASSWORD)
    assert console.sign_in("erin", PASSWORD).actor.role == "admin"


def test_first_admin_only_in_a_clinic_without_users(console):
    with pytest.raises(ConsoleError, match="has users already"):
        console.create_first_admin(CUSTODIAN, "eve", PASSWORD)


@pytest.mark.parametrize("change", ["disabled", "new password"])
def test_an_account_changed_just_before_the_attempt_is_counted_is_judged_as_changed(console, monkeypatch, change):
    """The attempt reads the user's row again under the write lock that counts it: a disable or a new password
    made by another console between its first read and its count is not missed."""
    count = store_users.count_user_attempt

    def changed_meanwhile(db, username, now):
        if change == "disabled":
            console.disable_user(ADMIN, "nurse.kim")
        else:
            console.db.execute("UPDATE users SET password_hash = ? WHERE username = 'nurse.kim'",
                               [hash_password("another-long-passphrase-here", CHEAP)])
        return count(db, username, now)

    monkeypatch.setattr(store_users, "count_user_attempt", changed_meanwhile)
    with pytest.raises(SignInFailed, match="wrong user name or password"):
        console.sign_in("nurse.kim", PASSWORD)
    reasons = [d["reason"] for _, _, outcome, d in audit(console, "signin") if outcome != "ok"]
    assert reasons[-1] == ("disabled" if change == "disabled" else "wrong password")


def test_guesses_counted_while_a_right_password_is_checked_stay_counted(console, monkeypatch):
    """A success takes back the attempts up to its own; two guesses counted meanwhile (from other windows)
    stay, so they still count toward a lockout."""
    check = auth.verify_password

    def guessed_meanwhile(password, stored):
        for _ in range(2):
            store_users.count_user_attempt(console.db, "nurse.kim", console.clock.now())
        return check(password, stored)

    with pytest.raises(SignInFailed):
        console.sign_in("nurse.kim", "not-the-password-at-all")
    assert store_users.get(console.db, "nurse.kim")["failed_signins"] == 1
    monkeypatch.setattr(auth, "verify_password", guessed_meanwhile)
    console.sign_in("nurse.kim", PASSWORD)
    assert store_users.get(console.db, "nurse.kim")["failed_signins"] == 2


def test_an_actor_who_is_no_user_of_the_store_is_refused_whatever_role_it_carries(console):
    """A dashboard signed in as a user who is not in the store it now has (restored from a backup made before
    the account existed) acts for no one: refused and audited, even for an admin's action."""
    ghost = Actor("ghost.admin", "admin")
    with pytest.raises(AccountRevoked, match="ghost.admin is no user of this clinic's store"):
        console.add_user(ghost, "backdoor", "admin", PASSWORD)
    with pytest.raises(AccountRevoked):
        console.trigger(ghost, next(iter(console.settings.jobs)))
    assert "backdoor" not in [u.username for u in console.list_users(ADMIN)]
    assert audit(console, "user.add")[-1] == ("ghost.admin", "user.add", "denied",
                                              {"reason": "no such user", "signed_in_as": "admin"})
