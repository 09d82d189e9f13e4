"""Sign-off with electronic signatures (issue 9 item 4; 21 CFR 11.50, 11.70, 11.200): who signs what, with
which components, bound to which baseline; Final Approval after both reviews; staleness; append-only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml

from medjobs_tui.clock import FixedClock
from medjobs_tui.config import ConfigError, load_settings
from medjobs_tui.console import CUSTODIAN, AccountRevoked, Actor, Console, ConsoleError, PermissionDenied, SignInFailed
from medjobs_tui.console.signoff import STALE_NOTE, SignoffRefused, validated_config_sha256
from medjobs_tui.security import audit
from medjobs_tui.store import StoreError, connect
from tests.conftest import ADMIN_NAME, FIXED_NOW, PASSWORD, STORE_KEY, write_config

REVIEWERS = {
    "tess.lead": ("technical lead", "Tess Lead"),
    "sam.security": ("security officer", "Sam Security"),
    "cora.compliance": ("compliance officer", "Cora Compliance"),
    "pat.manager": ("project manager", "Pat Manager"),
}
REVIEWS = {  # item -> who signs it (config.DEFAULT_CHECKLISTS)
    "technical_review.code_review": "tess.lead", "technical_review.tests_passing": "tess.lead",
    "technical_review.performance_verified": "tess.lead", "technical_review.security_validated": "sam.security",
    "compliance_review.hipaa_compliance": "cora.compliance", "compliance_review.data_protection": "sam.security",
    "compliance_review.audit_requirements": "cora.compliance",
    "compliance_review.documentation_complete": "pat.manager",
}
FINAL = {"final_approval.technical_lead": "tess.lead", "final_approval.security_officer": "sam.security",
         "final_approval.compliance_officer": "cora.compliance", "final_approval.project_manager": "pat.manager"}


def actor(name: str) -> Actor:
    return Actor(name, "reviewer", REVIEWERS[name][0])


@pytest.fixture
def signoff_clinic(tmp_path):
    """A clinic with an admin, one reviewer per review role (with printed names) and an operator."""
    config = write_config(tmp_path)
    console = Console(load_settings(config), clock=FixedClock(FIXED_NOW))
    console.create_first_admin(CUSTODIAN, ADMIN_NAME, PASSWORD)
    admin = Actor(ADMIN_NAME, "admin")
    for name, (review_role, full_name) in REVIEWERS.items():
        console.add_user(admin, name, "reviewer", PASSWORD, review_role, full_name)
    console.add_user(admin, "olly.operator", "operator", PASSWORD)
    yield console, config
    console.close()


def sign(console: Console, item: str, who: str, meaning: str = "reviewed", **kw):
    return console.sign_item(actor(who), item, meaning, PASSWORD, username=who, **kw)


def entries(console: Console, action: str) -> list[dict]:
    return [dict(e) for e in audit.entries(console.db, action=action)]


def change_config(config, console: Console) -> Console:
    """Change one job's timeout in config.yaml and return a console over the changed file."""
    data = yaml.safe_load(config.read_text())
    data["jobs"]["backup"]["timeout"] = 1200
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    console.close()
    return Console(load_settings(config), clock=FixedClock(FIXED_NOW))


def test_a_signature_carries_printed_name_utc_time_meaning_and_the_baseline_and_is_audited(signoff_clinic):
    console, _ = signoff_clinic
    before = console.signing_baseline()
    sig = sign(console, "technical_review.code_review", "tess.lead", comment="read every diff of the release")
    assert (sig.printed_name, sig.username, sig.review_role, sig.meaning) == (
        "Tess Lead", "tess.lead", "technical lead", "reviewed")
    assert sig.signed_at == FIXED_NOW and sig.components == "user name + password"
    assert sig.baseline.config_sha256 == validated_config_sha256(console.settings)
    assert (sig.baseline.audit_head_id, sig.baseline.app_version) == (before.audit_head_id + 1, before.app_version)
    # the audit head named is the entry just before the signature's own (the credential check)
    assert sig.manifest(console.settings.zone) == (
        "Tess Lead (tess.lead, technical lead) · reviewed · 2026-11-29 12:55:00 UTC (2026-11-29 07:55 EST)")
    state = console.signoff_state().item("technical_review.code_review")
    assert state.status == "signed" and state.signature.id == sig.id and state.signature.intact
    (entry,) = entries(console, "signoff.sign")
    assert (entry["actor"], entry["outcome"], entry["target"]) == ("tess.lead", "ok", "signoff:technical_review.code_review")
    detail = json.loads(entry["detail"])
    assert detail["signature"] == sig.id and detail["config_sha256"] == sig.baseline.config_sha256
    assert "read every diff" not in entry["detail"] and detail["comment"] is True    # the comment stays out
    assert audit.verify(console.db, console.keys.audit).ok


def test_the_first_signing_of_a_session_takes_user_name_and_password_later_ones_the_password(signoff_clinic):
    console, _ = signoff_clinic
    lead = actor("tess.lead")
    assert console.signing_needs_name(lead, "session-1")
    with pytest.raises(SignInFailed, match="both components"):
        console.sign_item(lead, "technical_review.code_review", "reviewed", PASSWORD, session="session-1")
    first = console.sign_item(lead, "technical_review.code_review", "reviewed", PASSWORD, username="tess.lead",
                              session="session-1")
    assert not console.signing_needs_name(lead, "session-1")
    second = console.sign_item(lead, "technical_review.tests_passing", "reviewed", PASSWORD, session="session-1")
    assert (first.components, second.components) == ("user name + password", "password")
    with pytest.raises(SignInFailed):     # the password is still asked each time
        console.sign_item(lead, "technical_review.performance_verified", "reviewed", "not-the-password",
                          session="session-1")
    # another session (the dashboard locked and unlocked, a new login) or none: both components again
    assert console.signing_needs_name(lead, "session-2") and console.signing_needs_name(lead, None)
    with pytest.raises(SignInFailed, match="both components"):
        console.sign_item(lead, "technical_review.performance_verified", "reviewed", PASSWORD, session="session-2")
    # a session in which someone else signed does not count for this signer
    assert console.signing_needs_name(actor("sam.security"), "session-1")


def test_a_wrong_password_is_refused_audited_and_counts_toward_the_lockout(signoff_clinic):
    console, _ = signoff_clinic
    with pytest.raises(SignInFailed, match="wrong user name or password"):
        console.sign_item(actor("tess.lead"), "technical_review.code_review", "reviewed", "wrong-password-123",
                          username="tess.lead")
    assert console.signoff_state().item("technical_review.code_review").status == "unsigned"
    (refused,) = entries(console, "signoff.sign")
    assert refused["outcome"] == "denied" and json.loads(refused["detail"])["reason"] == "credentials"
    (check,) = entries(console, "signoff.credentials")
    assert check["outcome"] == "denied" and json.loads(check["detail"])["reason"] == "wrong password"
    assert console.db.execute("SELECT failed_signins FROM users WHERE username = 'tess.lead'").fetchone()[0] == 1


def test_a_user_name_that_is_not_the_signed_in_users_is_refused_and_audited(signoff_clinic):
    console, _ = signoff_clinic
    with pytest.raises(SignInFailed):
        console.sign_item(actor("tess.lead"), "technical_review.code_review", "reviewed", PASSWORD,
                          username="sam.security")
    (refused,) = entries(console, "signoff.sign")
    assert json.loads(refused["detail"])["reason"] == "user name does not match"


def test_only_the_holder_of_the_items_review_role_signs_it_and_a_refusal_is_audited(signoff_clinic):
    console, _ = signoff_clinic
    with pytest.raises(SignoffRefused, match="signed by the technical lead; sam.security is the security officer"):
        sign(console, "technical_review.code_review", "sam.security")
    (refused,) = entries(console, "signoff.sign")
    assert (refused["actor"], refused["outcome"], json.loads(refused["detail"])["reason"]) == (
        "sam.security", "denied", "review role")
    with pytest.raises(PermissionDenied, match="may not sign sign-off items"):
        console.sign_item(Actor("olly.operator", "operator"), "technical_review.code_review", "reviewed", PASSWORD,
                          username="olly.operator")
    assert entries(console, "signoff.sign")[0]["outcome"] == "denied"
    # the review role as the store has it now counts, not the one the actor carried at sign-in
    # (the console refuses the stale actor outright: its review role changed since signing in)
    console.set_user_role(Actor(ADMIN_NAME, "admin"), "tess.lead", "reviewer", "project manager")
    with pytest.raises(AccountRevoked, match="role changed"):
        sign(console, "technical_review.code_review", "tess.lead")
    assert console.signoff_state().item("technical_review.code_review").status == "unsigned"


def test_final_approval_is_refused_until_both_reviews_are_complete(signoff_clinic):
    console, _ = signoff_clinic
    with pytest.raises(SignoffRefused, match="opens when Technical Review and Compliance Review are complete"):
        sign(console, "final_approval.technical_lead", "tess.lead", "approved")
    assert json.loads(entries(console, "signoff.sign")[0]["detail"])["reason"] == "checklist not open"
    for item, who in REVIEWS.items():
        if item != "compliance_review.documentation_complete":
            sign(console, item, who)
    state = console.signoff_state()
    assert [c.complete for c in state.checklists] == [True, False, False]
    with pytest.raises(SignoffRefused, match="Compliance Review is complete"):
        sign(console, "final_approval.technical_lead", "tess.lead", "approved")
    sign(console, "compliance_review.documentation_complete", "pat.manager")
    for item, who in FINAL.items():
        sign(console, item, who, "approved")
    assert all(c.complete for c in console.signoff_state().checklists)


def test_a_config_change_makes_signatures_stale_they_stay_on_record_and_count_as_not_signed(signoff_clinic):
    console, config = signoff_clinic
    for item, who in REVIEWS.items():
        sign(console, item, who)
    sig = sign(console, "final_approval.technical_lead", "tess.lead", "approved")
    console = change_config(config, console)
    try:
        state = console.signoff_state()
        item = state.item("final_approval.technical_lead")
        assert item.status == "stale" and item.note == STALE_NOTE and item.signature.id == sig.id
        assert not item.signed and not any(c.complete for c in state.checklists)
        assert state.baseline.config_sha256 != sig.baseline.config_sha256
        # Final Approval is closed again until the reviews are signed against the new configuration
        with pytest.raises(SignoffRefused, match="opens when"):
            sign(console, "final_approval.security_officer", "sam.security", "approved")
        again = sign(console, "technical_review.code_review", "tess.lead")        # a stale item may be signed again
        item = console.signoff_state().item("technical_review.code_review")
        assert item.status == "signed" and item.signature.id == again.id and len(item.history) == 2
        assert item.history[0].stale and not item.history[1].stale
    finally:
        console.close()


def test_revoking_appends_a_signed_entry_and_leaves_the_signature_on_record(signoff_clinic):
    console, _ = signoff_clinic
    sig = sign(console, "technical_review.code_review", "tess.lead")
    with pytest.raises(SignInFailed):
        console.revoke_item(actor("tess.lead"), "technical_review.code_review", "signed too early", "nope-nope-nope",
                            username="tess.lead")
    with pytest.raises(SignoffRefused, match="say why"):
        console.revoke_item(actor("tess.lead"), "technical_review.code_review", " ", PASSWORD, username="tess.lead")
    revocation = console.revoke_item(actor("tess.lead"), "technical_review.code_review", "signed too early",
                                     PASSWORD, username="tess.lead")
    assert (revocation.kind, revocation.revokes, revocation.meaning) == ("revoke", sig.id, "revoked")
    rows = console.db.execute("SELECT id, kind, revokes, meaning FROM signoff_signatures ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(sig.id, "sign", None, "reviewed"), (revocation.id, "revoke", sig.id, "revoked")]
    item = console.signoff_state().item("technical_review.code_review")
    assert item.status == "revoked" and not item.signed and "revoked by Tess Lead: signed too early" == item.note
    assert [e["outcome"] for e in entries(console, "signoff.revoke")] == ["ok", "denied", "denied"]
    with pytest.raises(SignoffRefused, match="no signature in force"):
        console.revoke_item(actor("tess.lead"), "technical_review.code_review", "again", PASSWORD, username="tess.lead")
    sign(console, "technical_review.code_review", "tess.lead")
    assert console.signoff_state().item("technical_review.code_review").status == "signed"


def test_the_store_refuses_update_and_delete_of_signatures(signoff_clinic):
    console, _ = signoff_clinic
    sign(console, "technical_review.code_review", "tess.lead")
    db = connect(console.settings.database_path, STORE_KEY)
    try:
        for sql in ("UPDATE signoff_signatures SET meaning = 'approved'", "DELETE FROM signoff_signatures"):
            with pytest.raises(Exception, match="append-only"):
                db.execute(sql)
        assert db.execute("SELECT meaning FROM signoff_signatures").fetchone()[0] == "reviewed"
    finally:
        db.close()


def test_a_signature_altered_outside_medjobs_no_longer_counts(signoff_clinic):
    console, _ = signoff_clinic
    sign(console, "technical_review.code_review", "tess.lead")
    db = connect(console.settings.database_path, STORE_KEY)
    try:   # someone with the store key but not the key file drops the trigger and edits the row
        db.execute("DROP TRIGGER signoff_signatures_no_update")
        db.execute("UPDATE signoff_signatures SET printed_name = 'Someone Else'")
        db.conn.commit()
    finally:
        db.close()
    item = console.signoff_state().item("technical_review.code_review")
    assert item.status == "altered" and not item.signed and not item.signature.intact


def test_unknown_items_and_meanings_are_refused_and_audited(signoff_clinic):
    console, _ = signoff_clinic
    with pytest.raises(SignoffRefused, match="no sign-off item 'technical_review.nope'"):
        sign(console, "technical_review.nope", "tess.lead")
    with pytest.raises(SignoffRefused, match="meaning must be one of"):
        sign(console, "technical_review.code_review", "tess.lead", "liked")
    assert [e["outcome"] for e in entries(console, "signoff.sign")] == ["denied", "denied"]


def test_signing_an_item_signed_and_in_force_is_refused(signoff_clinic):
    console, _ = signoff_clinic
    sign(console, "technical_review.code_review", "tess.lead")
    with pytest.raises(SignoffRefused, match="already signed by Tess Lead"):
        sign(console, "technical_review.code_review", "tess.lead")


def test_checklists_default_to_validation_mds_and_come_from_config(tmp_path):
    settings = load_settings(write_config(tmp_path))
    lists = settings.signoff.checklists
    assert [c.title for c in lists.values()] == ["Technical Review", "Compliance Review", "Final Approval"]
    assert [i.title for i in lists["final_approval"].items.values()] == [
        "Technical lead", "Security officer", "Compliance officer", "Project manager"]
    assert lists["final_approval"].requires == ["technical_review", "compliance_review"]
    custom = load_settings(write_config(tmp_path, signoff={"checklists": {"quick": {
        "title": "Quick", "items": {"ok": {"title": "All fine", "review_role": "project manager"}}}}}))
    assert custom.signoff.item_ids() == ["quick.ok"]


@pytest.mark.parametrize("signoff, message", [
    ({"checklists": {"a": {"title": "A", "items": {"x": {"title": "X", "review_role": "janitor"}}}}},
     "signoff.checklists.a.items.x.review_role"),
    ({"checklists": {"a": {"title": "A", "requires": ["b"], "items": {"x": {"title": "X",
                                                                          "review_role": "project manager"}}}}},
     "'b' is not a checklist listed before a"),
    ({"checklists": {"a": {"title": "A", "items": {}}}}, "a checklist needs at least one item"),
    ({"checklists": {"Bad Name": {"title": "A", "items": {"x": {"title": "X", "review_role": "project manager"}}}}},
     "signoff.checklists"),
])
def test_a_bad_signoff_section_stops_start_up_with_a_clear_message(tmp_path, signoff, message):
    with pytest.raises(ConfigError) as exc:
        load_settings(write_config(tmp_path, signoff=signoff))
    assert message in str(exc.value) and "config.yaml:" in str(exc.value)


def _sha_with(tmp_path, name: str, **sections) -> str:
    (tmp_path / name).mkdir()
    return validated_config_sha256(load_settings(write_config(tmp_path / name, **sections)))


def test_the_baseline_hash_covers_what_decides_behaviour_and_nothing_else(tmp_path, monkeypatch):
    base = validated_config_sha256(load_settings(write_config(tmp_path)))
    jobs = yaml.safe_load((tmp_path / "config.yaml").read_text())["jobs"]
    clinic = yaml.safe_load((tmp_path / "config.yaml").read_text())["clinic"]
    mail = "mailtos://bot:{}@smtp.example.org?to=desk@example.org"
    monkeypatch.setenv("MEDJOBS_DESK_MAIL", mail.format("pw-1"))
    with_mail = _sha_with(tmp_path, "m1", notifications={"channels": {"desk": {"audience": ["staff"],
                                                                               "url_env": "MEDJOBS_DESK_MAIL"}}})
    monkeypatch.setenv("MEDJOBS_DESK_MAIL", mail.format("pw-2"))
    changed = {
        "a job's timeout": _sha_with(tmp_path, "c1", jobs={"backup": {**jobs["backup"], "timeout": 900}}),
        "the clinic's time zone": _sha_with(tmp_path, "c2", clinic={**clinic, "timezone": "Australia/Sydney"}),
        "the idle timeout": _sha_with(tmp_path, "c3", security={"idle_timeout": 3600}),
        "an alert threshold": _sha_with(tmp_path, "c4", alerts={"error_rate_threshold": 60}),
        "a notification channel": with_mail,
    }
    for what, sha in changed.items():
        assert sha != base, f"changing {what} must make signatures stale"
    # not behaviour: the clinic's display name, and a channel's URL (a secret) behind the same scheme
    assert _sha_with(tmp_path, "s1", clinic={**clinic, "name": "Elsewhere"}) == base
    assert _sha_with(tmp_path, "s2", notifications={"channels": {"desk": {"audience": ["staff"],
                                                                          "url_env": "MEDJOBS_DESK_MAIL"}}}) == with_mail



def test_signatures_made_later_name_the_evidence_and_audit_heads_of_their_moment(signoff_clinic):
    console, _ = signoff_clinic
    first = sign(console, "technical_review.code_review", "tess.lead")
    console.clock.advance(timedelta(minutes=5).total_seconds())
    second = sign(console, "technical_review.tests_passing", "tess.lead")
    assert second.baseline.audit_head_id > first.baseline.audit_head_id
    assert second.signed_at - first.signed_at == timedelta(minutes=5)


# ------------------------------------------------------------------------------------- the CLI

def medjobs(config, *args):
    """`medjobs` in this process (no terminal: nothing is asked; passwords from MEDJOBS_PASSWORD_FILE)."""
    from click.testing import CliRunner

    from medjobs_tui.cli import main

    result = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli_clinic(signoff_clinic, tmp_path, monkeypatch):
    console, config = signoff_clinic
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(tmp_path / "pw"))
    return console, config


def test_cli_signs_with_the_user_name_and_password_of_the_command_and_lists_the_signature(cli_clinic):
    console, config = cli_clinic
    code, out, err = medjobs(config, "--user", "tess.lead", "signoff", "sign", "technical_review.code_review",
                             "--meaning", "reviewed", "--comment", "all diffs read")
    assert code == 0, err
    assert "signed technical_review.code_review: Tess Lead (tess.lead, technical lead) · reviewed · " in out
    code, out, _ = medjobs(config, "--user", "sam.security", "signoff", "list", "--format", "json")
    rows = {r["item"]: r for r in json.loads(out)}
    assert (rows["technical_review.code_review"]["status"], rows["technical_review.code_review"]["signed by"],
            rows["technical_review.code_review"]["meaning"]) == ("signed", "Tess Lead", "reviewed")
    assert rows["technical_review.code_review"]["UTC"] == "2026-11-29 12:55:00Z" or rows[
        "technical_review.code_review"]["UTC"].endswith("Z")
    assert rows["final_approval.technical_lead"]["status"] == "unsigned"
    assert "opens when Technical Review and Compliance Review are complete" in rows["final_approval.technical_lead"]["note"]
    code, out, _ = medjobs(config, "--user", "tess.lead", "signoff", "list")       # for people: item ids whole
    assert code == 0 and "Technical Review: 1 of 4 signed" in out and "Final Approval: 0 of 4 signed" in out
    assert "technical_review.code_review" in out and "compliance_review.documentation_complete" in out
    code, out, _ = medjobs(config, "--user", "tess.lead", "signoff", "list", "--history", "--format", "json")
    (entry,) = json.loads(out)
    assert (entry["components"], entry["record"], entry["comment"]) == ("user name + password", "intact", "all diffs read")


def test_cli_refuses_final_approval_before_both_reviews_are_complete(cli_clinic):
    console, config = cli_clinic
    code, _, err = medjobs(config, "--user", "tess.lead", "signoff", "sign", "final_approval.technical_lead",
                           "--meaning", "approved")
    assert code == 1 and "Final Approval opens when Technical Review and Compliance Review are complete" in err
    assert console.signoff_state().item("final_approval.technical_lead").status == "unsigned"
    assert json.loads(entries(console, "signoff.sign")[0]["detail"])["reason"] == "checklist not open"


def test_cli_refuses_the_wrong_role_and_an_operator(cli_clinic):
    console, config = cli_clinic
    code, _, err = medjobs(config, "--user", "pat.manager", "signoff", "sign", "technical_review.code_review",
                           "--meaning", "reviewed")
    assert code == 1 and "is signed by the technical lead" in err
    code, _, err = medjobs(config, "--user", "olly.operator", "signoff", "sign", "technical_review.code_review",
                           "--meaning", "reviewed")
    assert code == 1 and "may not sign sign-off items" in err
    code, _, err = medjobs(config, "--user", "olly.operator", "signoff", "list")
    assert code == 1 and "may not read the sign-off checklists" in err


def test_cli_in_a_login_session_asks_the_user_name_at_the_first_signing_only(cli_clinic):
    console, config = cli_clinic
    assert medjobs(config, "--user", "tess.lead", "login")[0] == 0
    code, _, err = medjobs(config, "signoff", "sign", "technical_review.code_review", "--meaning", "reviewed")
    assert code == 1 and "both components" in err
    code, out, err = medjobs(config, "signoff", "sign", "technical_review.code_review", "--meaning", "reviewed",
                             "--name", "tess.lead")
    assert code == 0, err
    code, out, err = medjobs(config, "signoff", "sign", "technical_review.tests_passing", "--meaning", "reviewed")
    assert code == 0, err
    code, out, _ = medjobs(config, "signoff", "list", "--history", "--format", "json")
    assert [e["components"] for e in json.loads(out)] == ["user name + password", "password"]


def test_cli_revoke_appends_and_a_config_change_shows_stale(cli_clinic):
    console, config = cli_clinic
    for item in ("technical_review.code_review", "technical_review.tests_passing"):
        assert medjobs(config, "--user", "tess.lead", "signoff", "sign", item, "--meaning", "reviewed")[0] == 0
    code, out, err = medjobs(config, "--user", "tess.lead", "signoff", "revoke", "technical_review.code_review",
                             "--reason", "signed the wrong release")
    assert code == 0 and "revoked signature 1 of technical_review.code_review" in out, err
    change_config(config, console).close()
    code, out, _ = medjobs(config, "--user", "tess.lead", "signoff", "list", "--format", "json")
    rows = {r["item"]: r for r in json.loads(out)}
    assert rows["technical_review.code_review"]["status"] == "revoked"
    assert (rows["technical_review.tests_passing"]["status"], rows["technical_review.tests_passing"]["note"]) == (
        "stale", STALE_NOTE)
    code, out, _ = medjobs(config, "--user", "tess.lead", "signoff", "list", "--history", "--format", "json")
    assert [(e["kind"], e["revokes"]) for e in json.loads(out)] == [("sign", "-"), ("sign", "-"), ("revoke", "1")]


def test_the_demo_clinic_has_a_user_for_every_review_role_and_can_complete_the_whole_sign_off(tmp_path, monkeypatch):
    from medjobs_tui.console import REVIEW_ROLES, identity

    config = write_config(tmp_path)
    assert medjobs(config, "demo", "--patients", "12")[0] == 0
    settings = load_settings(config)
    users = [line.split() for line in identity.demo_users_path(settings.database_path).read_text().splitlines()]
    console = Console(settings)
    try:
        holders = {role: name for name, role in
                   console.db.execute("SELECT username, review_role FROM users WHERE review_role IS NOT NULL")}
        assert set(holders) == set(REVIEW_ROLES)
        passwords = {name: pw for name, _, pw in users}
        for item_id in settings.signoff.item_ids():
            role = settings.signoff.item(item_id)[3].review_role
            (tmp_path / "pw").write_text(passwords[holders[role]] + "\n")
            monkeypatch.setenv("MEDJOBS_PASSWORD_FILE", str(tmp_path / "pw"))
            code, _, err = medjobs(config, "--user", holders[role], "signoff", "sign", item_id, "--meaning", "approved")
            assert code == 0, err
        state = console.signoff_state()
        assert all(c.complete for c in state.checklists)
        assert state.item("final_approval.security_officer").signature.printed_name == "Demo Security Officer"
    finally:
        console.close()


def test_the_repositorys_config_yaml_writes_out_the_default_checklists():
    from medjobs_tui.config import SignoffConfig
    from tests.conftest import REPO

    assert load_settings(REPO / "config.yaml").signoff == SignoffConfig()


# ------------------------------------------------------------------------------------- the report


def section_6(text: str) -> str:
    return text.split("## 6. Sign-off requirements", 1)[1].split("\n---\n", 1)[0]


def test_the_reports_sign_off_section_says_who_signed_what_when_with_which_meaning_against_which_baseline(
        signoff_clinic):
    console, config = signoff_clinic
    admin = Actor(ADMIN_NAME, "admin")
    text = console.validation_report(admin)
    assert "- [ ] Updates documentation: needs the signed sign-off item \"Documentation complete\"" in text
    assert "- [ ] Code review completed (signed by the technical lead; `technical_review.code_review`): not signed" in text
    assert "0 of 4 items signed." in section_6(text)
    sig = sign(console, "compliance_review.documentation_complete", "pat.manager", "approved", comment="secret words")
    text = console.validation_report(admin)
    expected = (f"- [x] Documentation complete (signed by the project manager; `compliance_review.documentation_complete`):"
                f" signed by Pat Manager (pat.manager, project manager), approved, 2026-11-29 12:55:00 UTC "
                f"(2026-11-29 07:55 EST), against baseline {sig.baseline.short()}")
    assert expected in section_6(text)
    assert "- [x] Updates documentation: sign-off item \"Documentation complete\"" in text
    assert "secret words" not in text                                         # comments stay out of the report
    assert f"Current baseline: {console.signing_baseline().short()}".split(" · audit")[0] in text
    # every item of the console's state appears once, ticked exactly when the console counts it signed
    state = console.signoff_state()
    for item in state.items:
        (line,) = [ln for ln in section_6(text).splitlines() if f"`{item.id}`" in ln]
        assert line.startswith("- [x]" if item.signed else "- [ ]")
    console = change_config(config, console)
    try:
        text = console.validation_report(admin)
        assert (f"- [ ] Documentation complete (signed by the project manager; `compliance_review.documentation_complete`):"
                f" stale: configuration changed since signed; was signed by Pat Manager") in text
        assert "- [ ] Updates documentation: needs the signed sign-off item \"Documentation complete\" " \
               "(compliance_review.documentation_complete): stale (stale: configuration changed since signed)" in text
        assert "- Compliance Review is not complete: 0 of 4 items signed (1 stale)" in text
    finally:
        console.close()


def test_an_admin_corrects_a_printed_name_new_signatures_carry_it_old_ones_keep_theirs(cli_clinic):
    console, config = cli_clinic
    admin = Actor(ADMIN_NAME, "admin")
    first = sign(console, "technical_review.code_review", "tess.lead")
    with pytest.raises(PermissionDenied):
        console.set_user_full_name(actor("sam.security"), "tess.lead", "Someone Else")
    with pytest.raises(ConsoleError, match="at most 80 printable characters"):
        console.set_user_full_name(admin, "tess.lead", "Tess\x1b[2J Lead")
    console.set_user_full_name(admin, "tess.lead", "  Tess   Q. Lead ")
    assert [e["outcome"] for e in entries(console, "user.name")] == ["ok", "denied"]   # newest first
    assert "Tess" not in (entries(console, "user.name")[0]["detail"] or "")   # the audit trail names user names
    second = sign(console, "technical_review.tests_passing", "tess.lead")
    assert (first.printed_name, second.printed_name) == ("Tess Lead", "Tess Q. Lead")
    assert console.signoff_state().item("technical_review.code_review").signature.printed_name == "Tess Lead"

    code, out, err = medjobs(config, "--user", ADMIN_NAME, "user", "name", "pat.manager", "Patricia Manager")
    assert code == 0, err
    assert "pat.manager's printed name is now Patricia Manager" in out
    assert sign(console, "compliance_review.documentation_complete", "pat.manager").printed_name == "Patricia Manager"


def test_signing_while_a_job_fails_validation_needs_a_comment_saying_why_and_is_audited_as_such(signoff_clinic):
    """Found by a fresh user: every item up to Final Approval was signed over a failing job without a word."""
    from medjobs_tui.engine.runner import Runner
    from tests.engine.test_validation import _PermanentFailure

    console, _ = signoff_clinic
    runner = Runner(console.settings, clock=console.clock, executor=_PermanentFailure())
    try:
        runner.enqueue("supply_monitor", "olly.operator")      # bad data: dead at once
        runner.drain()
    finally:
        runner.stop()
    assert {v.job_name: v.status for v in console.validation()}["supply_monitor"] == "failing"
    with pytest.raises(SignoffRefused, match=r"1 job\(s\) failing validation \(supply_monitor: latest run dead"):
        sign(console, "technical_review.tests_passing", "tess.lead")
    [refused] = entries(console, "signoff.sign")
    assert refused["outcome"] == "denied" and json.loads(refused["detail"]) == {"reason": "validation failing"}
    signature = sign(console, "technical_review.tests_passing", "tess.lead",
                     comment="supply monitor's bad order is being corrected by pharmacy; tests pass")
    assert signature.comment.startswith("supply monitor's bad order")
    signed = max(entries(console, "signoff.sign"), key=lambda e: e["id"])
    assert signed["outcome"] == "ok" and json.loads(signed["detail"])["over_failing"] == ["supply_monitor"]
    with pytest.raises(SignoffRefused):                       # whoever signs, whatever the item
        sign(console, "compliance_review.documentation_complete", "pat.manager")
