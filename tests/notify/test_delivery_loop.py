"""The runner delivers: its delivery loop (engine/delivery.py) sends due notifications in the background, is
woken when a run finishes, survives a failing pass, and `medjobs notifications` / `medjobs channels` show the
outcome per channel (never a URL)."""

from __future__ import annotations

import threading

from click.testing import CliRunner

from medjobs_tui.cli import main
from medjobs_tui.clock import FixedClock
from medjobs_tui.config import load_settings
from medjobs_tui.console import Console
from medjobs_tui.engine.delivery import DeliveryLoop
from medjobs_tui.engine.runner import Runner
from medjobs_tui.notify.delivery import SendResult, deliver_due
from medjobs_tui.store import connect
from tests.conftest import STORE_KEY, FIXED_NOW
from tests.notify.conftest import FakeChannels, channel_config, queue_staff_alert, status_of


class SignallingChannels(FakeChannels):
    """A fake sender that sets ``arrived`` once ``expected`` messages came in."""

    def __init__(self, expected: int, **kw) -> None:
        super().__init__(**kw)
        self.expected = expected
        self.arrived = threading.Event()

    def __call__(self, name, channel, message) -> SendResult:
        result = super().__call__(name, channel, message)
        if len(self.sent) >= self.expected:
            self.arrived.set()
        return result


def test_the_runner_delivers_in_the_background_and_a_wake_sends_new_rows_without_waiting_a_poll(tmp_path, clock):
    settings = load_settings(channel_config(tmp_path, poll_interval=300))     # a poll would take 5 minutes
    db = connect(settings.database_path, STORE_KEY)
    queue_staff_alert(db, clock.now(), run_id=1)
    runner = Runner(settings, clock=clock)
    send = SignallingChannels(expected=1)
    runner.delivery.send = send
    runner.start()
    try:
        assert send.arrived.wait(20), "the first pass did not deliver"
        send.expected, send.arrived = 2, threading.Event()
        key = queue_staff_alert(db, clock.now(), run_id=2)
        runner.delivery.wake()                                # what a finished run does
        assert send.arrived.wait(20), "a wake did not deliver"
    finally:
        runner.stop()
    assert status_of(db, key) == "sent" and len(send.to("staff_mail")) == 2


def test_a_failing_pass_is_logged_and_the_loop_goes_on(tmp_path, clock, caplog):
    settings = load_settings(channel_config(tmp_path, poll_interval=300))
    calls = []
    done = threading.Event()

    class Flaky(DeliveryLoop):
        def run_pass(self):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("database is locked")
            done.set()
            return super().run_pass()

    loop = Flaky(settings, clock, "host:1:x")
    loop.start()
    loop.wake()
    try:
        assert done.wait(20)
    finally:
        loop.stop()
    assert "notification delivery failed: RuntimeError" in caplog.text


def test_cli_shows_each_notifications_delivery_and_the_channels_without_urls(tmp_path):
    config = channel_config(tmp_path, retry={"max_attempts": 1})
    settings = load_settings(config)
    db = connect(settings.database_path, STORE_KEY)
    clock = FixedClock(FIXED_NOW)
    queue_staff_alert(db, clock.now(), run_id=1)
    deliver_due(db, settings, clock, send=FakeChannels(fail={"staff_mail"}, reason="authentication refused"))
    from tests.conftest import make_user, password_file

    make_user(settings, "nurse.kim", "operator")
    cli = CliRunner(env={"MEDJOBS_USER": "nurse.kim", "MEDJOBS_PASSWORD_FILE": str(password_file(tmp_path))})
    shown = cli.invoke(main, ["--config", str(config), "notifications", "--errors"])
    assert shown.exit_code == 0, shown.output
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in shown.output.splitlines() if line.startswith("│")]
    column = {name: " ".join(filter(None, (row[i] for row in cells))) for i, name in enumerate(
        ("id", "created", "kind", "audience", "patient", "due", "message", "status", "delivery", "reason"))}
    assert column["status"] == "failed" and column["delivery"] == "inbox sent, staff_mail failed"
    assert column["reason"] == "staff_mail (mailtos): authentication refused; gave up after 1 attempt(s)"
    only_failed = cli.invoke(main, ["--config", str(config), "notifications", "--status", "sent"])
    assert "job_failed" not in only_failed.output
    channels = cli.invoke(main, ["--config", str(config), "channels"])
    assert channels.exit_code == 0, channels.output
    lines = {line.split()[1]: line for line in channels.output.splitlines() if line.startswith("│")}
    assert lines["inbox"].split("│")[4].strip() == "1"                         # sent
    assert lines["staff_mail"].split("│")[2].strip() == "mailtos"
    assert lines["staff_mail"].split("│")[7].strip() == "1"                    # failed
    assert "s3cret" not in channels.output + shown.output


def test_console_rows_carry_deliveries(tmp_path):
    settings = load_settings(channel_config(tmp_path))
    db = connect(settings.database_path, STORE_KEY)
    clock = FixedClock(FIXED_NOW)
    queue_staff_alert(db, clock.now())
    console = Console(settings, clock=clock)
    assert console.notifications()[0].delivery_summary == "not planned yet"
    deliver_due(db, settings, clock, send=FakeChannels())
    [note] = console.notifications()
    assert [(d.channel, d.status, d.attempts) for d in note.deliveries] == [("inbox", "sent", 0), ("staff_mail", "sent", 1)]
    assert note.status == "sent"
