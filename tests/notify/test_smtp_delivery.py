"""Real e-mail to a real SMTP server (aiosmtpd on 127.0.0.1, a free port), with the delivering process
SIGKILLed between a send and its record: every key arrives exactly once, and the one cut short is recorded
``unconfirmed``, never sent again. A channel set to ``resend`` sends it again under the same key header, so a
receiver that drops keys it has seen still holds exactly one message per key."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections import Counter
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from medjobs_tui.clock import iso
from medjobs_tui.config import load_settings
from medjobs_tui.notify.delivery import KEY_HEADER, idempotency_token
from medjobs_tui.store import connect
from tests.conftest import STORE_KEY, REPO
from tests.notify.conftest import channel_config, queue_staff_alert

KEYS = 5
CRASH_AT = 3


class Mailbox:
    """An aiosmtpd handler keeping every message it accepted (raw arrivals, in order)."""

    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def keys(self) -> Counter:
        """How many raw arrivals carried each idempotency-key header."""
        return Counter(m[KEY_HEADER] for m in self.messages)

    def deduplicated(self) -> list:
        """What a receiver that drops a key it has already seen keeps."""
        seen, kept = set(), []
        for m in self.messages:
            if m[KEY_HEADER] not in seen:
                seen.add(m[KEY_HEADER])
                kept.append(m)
        return kept


@pytest.fixture
def smtp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def deliver(config, now, crash_after: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.notify.deliver_process", str(config), iso(now),
                           str(crash_after)], cwd=REPO, capture_output=True, text=True, timeout=60)


def clinic(tmp_path, port, clock, **channel):
    url = f"mailto://127.0.0.1:{port}?from=medjobs@clinic.test&to=desk@clinic.test&mode=insecure"
    config = channel_config(tmp_path, {"staff_mail": {"audience": ["staff"], "url": url, **channel}})
    settings = load_settings(config)
    db = connect(settings.database_path, STORE_KEY)
    keys = [queue_staff_alert(db, clock.now(), run_id=i) for i in range(1, KEYS + 1)]
    return config, db, keys


def statuses(db) -> Counter:
    return Counter(r[0] for r in db.execute("SELECT status FROM notification_deliveries WHERE channel = 'staff_mail'"))


def test_killed_between_send_and_mark_then_restarted_every_key_arrives_exactly_once(tmp_path, smtp, clock):
    box, port = smtp
    config, db, keys = clinic(tmp_path, port, clock)

    crashed = deliver(config, clock.now(), crash_after=CRASH_AT)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert len(box.messages) == CRASH_AT                           # the third is on the server...
    assert statuses(db) == {"sent": CRASH_AT - 1, "sending": 1, "pending": KEYS - CRASH_AT}   # ...not marked

    restarted = deliver(config, clock.now(), crash_after=0)
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.split() == [f"sent={KEYS - CRASH_AT}", "retrying=0", "failed=0", "unconfirmed=1",
                                        "resent=0"]
    assert box.keys() == {idempotency_token(k): 1 for k in keys}   # one message per key, none lost, none twice
    assert statuses(db) == {"sent": KEYS - 1, "unconfirmed": 1}
    cut_short = db.execute("SELECT n.idempotency_key FROM notification_deliveries d JOIN notifications n"
                           " ON n.id = d.notification_id WHERE d.status = 'unconfirmed'").fetchone()[0]
    assert cut_short == keys[CRASH_AT - 1]
    body = box.messages[0].get_payload()[0].get_payload(decode=True).decode()
    assert body.strip() == "Job backup failed: run 1 is dead after its last attempt. Review it and retry."
    assert box.messages[0]["Subject"] == "Riverside Family Clinic: job failed"

    again = deliver(config, clock.now(), crash_after=0)             # a third start changes nothing
    assert again.returncode == 0 and len(box.messages) == KEYS


def test_a_resend_channel_repeats_the_cut_short_message_under_the_same_key_header(tmp_path, smtp, clock):
    box, port = smtp
    config, db, keys = clinic(tmp_path, port, clock, on_interrupted="resend")

    assert deliver(config, clock.now(), crash_after=CRASH_AT).returncode == -signal.SIGKILL
    restarted = deliver(config, clock.now(), crash_after=0)
    assert restarted.returncode == 0, restarted.stderr
    assert "resent=1" in restarted.stdout.split()
    repeated = idempotency_token(keys[CRASH_AT - 1])
    assert box.keys() == {idempotency_token(k): 2 if idempotency_token(k) == repeated else 1 for k in keys}
    assert [m[KEY_HEADER] for m in box.deduplicated()] == [idempotency_token(k) for k in keys]
    assert statuses(db) == {"sent": KEYS}
