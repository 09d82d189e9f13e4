"""Bench: notification delivery through a real SMTP server (aiosmtpd on 127.0.0.1), in one process.

Queues N staff alerts in a fresh encrypted clinic and times one delivery pass (`deliver_due`, real apprise
e-mail: one SMTP connection per message), then one pass of the inbox alone (no channels) over N more.
Prints messages per second and the per-message cost of the channel over the inbox as a ratio.

Run: .venv/bin/python bench/delivery.py [--n 100]. Not part of the tests.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

import yaml
from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class Count:
    def __init__(self) -> None:
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        return "250 OK"


def clinic(folder: Path, channels: dict) -> Path:
    from medjobs_tui.security import keys as keys_mod

    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["notifications"] = {"channels": channels}
    folder.mkdir(parents=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    from medjobs_tui.config import load_settings
    keys_mod.write_key_file(load_settings(path), keys_mod.new_keys("bench-clinic")[0])
    return path


def timed_pass(config: Path, n: int) -> tuple[float, int]:
    from medjobs_tui.clock import SystemClock
    from medjobs_tui.config import load_settings
    from medjobs_tui.notify import outbox
    from medjobs_tui.notify.delivery import deliver_due
    from medjobs_tui.security.keys import load_keys
    from medjobs_tui.store import connect
    from medjobs_tui.store.db import transaction

    settings = load_settings(config)
    db = connect(settings.database_path, load_keys(settings).store)
    clock = SystemClock()
    with transaction(db):
        for i in range(1, n + 1):
            outbox.queue(db, kind="job_failed", key=f"run_dead:{i}:attempt1", now=clock.now(),
                         params={"job": "backup", "run_id": i})
    started = time.perf_counter()
    report = deliver_due(db, settings, clock, limit=n)
    secs = time.perf_counter() - started
    db.close()
    return secs, report.sent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    n = ap.parse_args().n
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Count()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"mailto://127.0.0.1:{port}?from=bench@clinic.test&to=desk@clinic.test&mode=insecure"
            mail_secs, sent = timed_pass(clinic(Path(tmp) / "mail", {"staff_mail": {"audience": ["staff"], "url": url}}), n)
            inbox_secs, _ = timed_pass(clinic(Path(tmp) / "inbox", {}), n)
    finally:
        controller.stop()
    assert sent == n == box.n, (sent, box.n)
    print(f"e-mail: {n} messages in {mail_secs:.2f} s = {n / mail_secs:.0f} msg/s ({1000 * mail_secs / n:.1f} ms each)")
    print(f"inbox only: {n} notifications in {inbox_secs:.3f} s = {n / inbox_secs:.0f} /s")
    print(f"delivery: email_msg_per_s={n / mail_secs:.0f} email_over_inbox_ratio={mail_secs / inbox_secs:.1f}")


if __name__ == "__main__":
    main()
