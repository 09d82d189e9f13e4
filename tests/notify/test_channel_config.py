"""The ``notifications`` section of config.yaml: channels are validated at start-up like every other key, and
no error message, repr or view ever shows a channel's URL (it may hold a password or token)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medjobs_tui.config import ConfigError, parse_settings
from tests.conftest import REPO

GOOD = (REPO / "config.yaml").read_text()
SECRET_URL = "mailtos://clinicbot:s3cret-pw@smtp.example.org?to=desk@example.org"


def with_notifications(section: dict) -> str:
    data = yaml.safe_load(GOOD)
    data["notifications"] = section
    return yaml.safe_dump(data, sort_keys=False)


def error_for(section: dict) -> str:
    text = with_notifications(section)
    with pytest.raises(ConfigError) as info:
        parse_settings(text, Path("clinic.yaml"))
    msg = str(info.value)
    for secret in ("s3cret-pw", "clinicbot", "smtp.example.org", "t0ken"):
        assert secret not in msg
    return msg


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_valid_section_gives_channels_by_audience_and_hides_the_url():
    settings = parse_settings(with_notifications({
        "poll_interval": 2, "retry": {"max_attempts": 3},
        "channels": {"staff_mail": {"audience": ["staff", "prescriber"], "url": SECRET_URL},
                     "desk_chat": {"audience": ["staff"], "url": "jsons://hooks.example.org/desk"}}}),
        Path("clinic.yaml"))
    conf = settings.notifications
    assert conf.channels_for("staff") == ["staff_mail", "desk_chat"]
    assert conf.channels_for("prescriber") == ["staff_mail"] and conf.channels_for("patient") == []
    assert conf.channels["staff_mail"].scheme == "mailtos"
    assert conf.channels["staff_mail"].resolved_url() == SECRET_URL
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings.model_dump())


def test_no_section_means_the_inbox_only():
    settings = parse_settings(GOOD, Path("clinic.yaml"))
    assert settings.notifications.channels == {} and settings.notifications.retry.max_attempts == 5


def test_a_url_apprise_cannot_send_to_is_refused_without_showing_it():
    section = {"channels": {"staff_mail": {"audience": ["staff"], "url": "smtpx://clinicbot:s3cret-pw@smtp.example.org"}}}
    msg = error_for(section)
    text = with_notifications(section)
    assert msg.startswith(f"clinic.yaml:{line_of(text, 'staff_mail:')}: notifications.channels.staff_mail:")
    assert "the smtpx:// URL is not one apprise can send to (URL not shown: it may hold a secret)" in msg


@pytest.mark.parametrize("channel, expected", [
    ({"audience": ["staff"]}, "give exactly one of url"),
    ({"audience": ["staff"], "url": SECRET_URL, "url_env": "SMTP_URL"}, "give exactly one of url"),
    ({"audience": [], "url": SECRET_URL}, "name at least one audience"),
    ({"audience": ["staff", "staff"], "url": SECRET_URL}, "an audience is listed twice"),
    ({"audience": ["everyone"], "url": SECRET_URL}, "Input should be 'patient', 'staff' or 'prescriber'"),
    ({"audience": ["staff"], "url": SECRET_URL, "colour": "red"}, "is not a known key here"),
    ({"audience": ["staff"], "url": "twilio://AC123:t0ken@+15551234567/+15557654321", "on_interrupted": "resend"},
     "resend needs a channel that carries the idempotency-key header"),
    ({"audience": ["staff"], "url": SECRET_URL, "on_interrupted": "retry"}, "Input should be 'skip' or 'resend'"),
    ({"audience": ["staff"], "url_env": "NOT_SET_ANYWHERE_42"}, "environment variable NOT_SET_ANYWHERE_42 is not set"),
    ({"audience": ["staff"], "url_env": "lower case"}, "must be an environment variable name"),
])
def test_bad_channels_stop_start_up_with_the_key_and_reason(channel, expected):
    assert expected in error_for({"channels": {"staff_mail": channel}})


@pytest.mark.parametrize("name", ["inbox", "Staff", "staff mail", "1st"])
def test_channel_names_are_identifiers_and_inbox_is_reserved(name):
    assert "channel name" in error_for({"channels": {name: {"audience": ["staff"], "url": SECRET_URL}}})


@pytest.mark.parametrize("section, key", [
    ({"poll_interval": 0}, "notifications.poll_interval"),
    ({"claim_timeout": 5}, "notifications.claim_timeout"),
    ({"stale_after": 10}, "notifications.stale_after"),
    ({"retry": {"max_attempts": 0}}, "notifications.retry.max_attempts"),
    ({"retry": {"delay": -1}}, "notifications.retry.delay"),
    ({"retry": {"max_attempts": True}}, "notifications.retry"),
])
def test_delivery_timings_are_bounded(section, key):
    assert f": {key}" in error_for(section)


def test_url_env_keeps_the_secret_out_of_the_file(monkeypatch):
    monkeypatch.setenv("MEDJOBS_STAFF_SMTP", SECRET_URL)
    settings = parse_settings(with_notifications({"channels": {"staff_mail": {
        "audience": ["staff"], "url_env": "MEDJOBS_STAFF_SMTP", "on_interrupted": "resend"}}}), Path("clinic.yaml"))
    channel = settings.notifications.channels["staff_mail"]
    assert channel.resolved_url() == SECRET_URL and channel.scheme == "mailtos"


# ------------------------------------------------------- transmission security: TLS or nothing (45 CFR 164.312(e)(1))

@pytest.mark.parametrize("url", [
    "mailto://clinicbot:s3cret-pw@smtp.example.org?to=desk@example.org",     # SMTP without TLS
    "json://relay:t0ken@relay.example.org/notify",                           # webhook over http://
    "form://relay.example.org/notify",
    "ntfy://relay.example.org/clinic-desk",
    "mailto://clinicbot:s3cret-pw@10.0.0.25?to=desk@example.org",             # a LAN address is still a network
])
def test_a_channel_that_would_send_in_clear_text_stops_start_up(url):
    msg = error_for({"channels": {"staff_mail": {"audience": ["staff"], "url": url}}})
    assert "would send without TLS to another machine" in msg and "164.312(e)(1)" in msg
    assert "allow_plaintext: true" in msg


@pytest.mark.parametrize("url", [
    SECRET_URL,                                                              # mailtos://: STARTTLS
    "jsons://relay:t0ken@relay.example.org/notify",                          # https://
    "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",                   # only exists over HTTPS
    "mailto://127.0.0.1:2525?from=bot@clinic.test&to=desk@clinic.test&mode=insecure",  # never leaves this machine
    "json://localhost:9/hook",
])
def test_tls_channels_and_loopback_relays_pass(url):
    settings = parse_settings(with_notifications({"channels": {"staff_mail": {"audience": ["staff"], "url": url}}}),
                              Path("clinic.yaml"))
    assert not settings.notifications.channels["staff_mail"].sends_in_clear_text()


def test_allow_plaintext_accepts_a_lan_relay_and_check_config_warns_about_it(tmp_path):
    from tests.conftest import write_config

    config = write_config(tmp_path, notifications={"channels": {"desk_relay": {
        "audience": ["staff"], "url": "mailto://10.0.0.25?to=desk@clinic.test&from=bot@clinic.test",
        "allow_plaintext": True}}})
    proc = subprocess.run([sys.executable, "-m", "medjobs_tui.cli", "--config", str(config), "check-config"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert ": ok" in proc.stdout
    assert "warning: channel desk_relay (mailto://) sends without TLS" in proc.stderr
    assert "10.0.0.25" not in proc.stdout + proc.stderr


def test_check_config_warns_of_audiences_no_channel_reaches_and_of_a_missing_key_file(tmp_path):
    """Found by a fresh user: with the shipped config (no channels) patients' reminders reach the inbox only and
    check-config said just "ok"; it also said "ok" with the key file gone, which start-up then refuses."""
    from click.testing import CliRunner

    from medjobs_tui.cli import main
    from tests.conftest import write_config

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    staff_only = write_config(tmp_path / "a", notifications={"channels": {"desk": {
        "audience": ["staff", "prescriber"], "url": "mailtos://bot:pw@smtp.clinic.test?to=desk@clinic.test"}}})
    shown = CliRunner().invoke(main, ["--config", str(staff_only), "check-config"])
    assert shown.exit_code == 0 and ": ok" in shown.output
    assert "no notification channel serves the patient audience" in shown.output
    assert "prescriber audience" not in shown.output and "key file" not in shown.output
    everyone = write_config(tmp_path / "b", keys=False, notifications={"channels": {"desk": {
        "audience": ["patient", "staff", "prescriber"], "url": "mailtos://bot:pw@smtp.clinic.test?to=d@clinic.test"}}})
    shown = CliRunner().invoke(main, ["--config", str(everyone), "check-config"])
    assert shown.exit_code == 0 and "audience" not in shown.output
    assert "warning: key file" in shown.output and "is missing" in shown.output
