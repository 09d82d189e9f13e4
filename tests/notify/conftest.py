"""A clinic with notification channels, and helpers to queue notifications and read their deliveries."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from medjobs_tui.config import load_settings
from medjobs_tui.notify import outbox
from medjobs_tui.notify.delivery import OutgoingMessage, SendResult
from medjobs_tui.store import connect
from medjobs_tui.store.db import transaction
from tests.conftest import STORE_KEY, write_config

STAFF_URL = "mailtos://clinicbot:s3cret-pw@smtp.example.org?to=desk@example.org"
PATIENT_URL = "jsons://relay:r3lay-token@relay.example.org/notify"
CHANNELS = {
    "staff_mail": {"audience": ["staff", "prescriber"], "url": STAFF_URL},
    "patient_relay": {"audience": ["patient"], "url": PATIENT_URL},
}
SECRETS = ("s3cret-pw", "r3lay-token", "clinicbot", "smtp.example.org", "relay.example.org")


def channel_config(tmp_path: Path, channels=None, **delivery):
    """A config file in ``tmp_path`` whose ``notifications`` section has ``channels`` and ``delivery`` keys."""
    section = {"channels": CHANNELS if channels is None else channels, **delivery}
    return write_config(tmp_path, notifications=section)


@pytest.fixture
def notify_settings(tmp_path):
    """Settings with a staff e-mail channel and a patient relay, retry delay 30 s, 4 attempts."""
    return load_settings(channel_config(tmp_path, retry={"max_attempts": 4, "delay": 30, "max_delay": 100}))


@pytest.fixture
def db(notify_settings):
    conn = connect(notify_settings.database_path, STORE_KEY)
    yield conn
    conn.close()


def add_patient(db, pseudonym: str = "P-00007") -> int:
    with transaction(db):
        return db.execute("INSERT INTO patients (pseudonym, source, created_at, updated_at) VALUES (?, 'demo',"
                          " '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')", [pseudonym]).lastrowid


def queue_staff_alert(db, now: datetime, run_id: int = 1, due_at: datetime | None = None) -> str:
    """Queue one ``job_failed`` staff notification; return its idempotency key."""
    key = f"run_dead:{run_id}:attempt3"
    with transaction(db):
        assert outbox.queue(db, kind="job_failed", key=key, now=now, params={"job": "backup", "run_id": run_id},
                            run_id=run_id, due_at=due_at)
    return key


def queue_dose_reminder(db, now: datetime, patient_id: int, due_at: datetime, order: int = 4) -> str:
    key = outbox.dose_reminder_key(order, due_at)
    with transaction(db):
        assert outbox.queue(db, kind="dose_reminder", key=key, now=now, due_at=due_at, patient_id=patient_id,
                            params={"order": order, "local_time": "09:00", "dose": "1 tablet"})
    return key


def deliveries(db) -> dict[tuple[str, str], dict]:
    """``{(idempotency key, channel): delivery row}``."""
    cur = db.execute("SELECT n.idempotency_key, d.* FROM notification_deliveries d JOIN notifications n"
                     " ON n.id = d.notification_id")
    cols = [c[0] for c in cur.description]
    return {(r[0], r[cols.index("channel")]): dict(zip(cols, r)) for r in cur.fetchall()}


def status_of(db, key: str) -> str:
    return db.execute("SELECT status FROM notifications WHERE idempotency_key = ?", [key]).fetchone()[0]


class FakeChannels:
    """A sender that records every message per channel and answers from a script (default: accepted)."""

    def __init__(self, fail: set[str] | None = None, reason: str = "connection failed") -> None:
        self.sent: list[tuple[str, OutgoingMessage]] = []
        self.fail = fail or set()
        self.reason = reason

    def __call__(self, name, channel, message) -> SendResult:
        self.sent.append((name, message))
        if name in self.fail:
            return SendResult(False, self.reason)
        return SendResult(True)

    def to(self, name: str) -> list[OutgoingMessage]:
        return [m for n, m in self.sent if n == name]
