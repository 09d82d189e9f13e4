"""Delivery of the outbox: inbox always, channels by audience, due times, retry with backoff to `failed`,
masked reasons, expiry, sends cut short (at most once), fencing, the alert entry point, and templates."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest

from medjobs_tui.clock import iso
from medjobs_tui.config import load_settings
from medjobs_tui.notify import alerts, outbox
from medjobs_tui.notify.delivery import (
    KEY_HEADER, OutgoingMessage, apprise_send, deliver_due, idempotency_token, outgoing, retry_delay,
)
from medjobs_tui.store import outbox as store_outbox
from tests.conftest import STORE_KEY, FIXED_NOW
from tests.notify.conftest import (
    FakeChannels, add_patient, channel_config, deliveries, queue_dose_reminder, queue_staff_alert,
    status_of,
)


def test_without_channels_every_notification_lands_in_the_inbox_and_a_patients_reads_inbox_only(settings, clock):
    from medjobs_tui.store import connect

    db = connect(settings.database_path, STORE_KEY)
    key = queue_staff_alert(db, clock.now())
    dose_key = queue_dose_reminder(db, clock.now(), add_patient(db), due_at=clock.now())
    send = FakeChannels()
    report = deliver_due(db, settings, clock, send=send)
    assert report.planned == 2 and send.sent == []
    assert status_of(db, key) == "sent"                  # the inbox is the staff's own channel
    assert status_of(db, dose_key) == "inbox_only"       # the patient was sent nothing: not "sent"
    assert {ch for (_, ch) in deliveries(db)} == {"inbox"}


def test_a_patient_who_chose_the_inbox_gets_inbox_only_while_others_are_sent(db, notify_settings, clock):
    from medjobs_tui.clock import iso as iso_time
    from medjobs_tui.store import preferences as store_prefs

    inbox_only, relayed = add_patient(db, "P-00007"), add_patient(db, "P-00008")
    store_prefs.set_preferences(db, inbox_only, {"channel": "inbox"}, source="staff", at=iso_time(clock.now()),
                              by="nurse.kim")
    quiet = queue_dose_reminder(db, clock.now(), inbox_only, due_at=clock.now(), order=4)
    told = queue_dose_reminder(db, clock.now(), relayed, due_at=clock.now(), order=5)
    deliver_due(db, notify_settings, clock, send=FakeChannels())
    assert (status_of(db, quiet), status_of(db, told)) == ("inbox_only", "sent")


def test_each_audience_goes_to_its_own_channels_and_the_message_carries_the_key_header(db, notify_settings, clock):
    pid = add_patient(db, "P-00007")
    staff_key = queue_staff_alert(db, clock.now())
    dose_key = queue_dose_reminder(db, clock.now(), pid, due_at=clock.now())
    send = FakeChannels()
    report = deliver_due(db, notify_settings, clock, send=send)
    assert report.sent == 2
    [staff] = send.to("staff_mail")
    [patient] = send.to("patient_relay")
    assert staff.kind == "job_failed" and patient.kind == "dose_reminder"
    assert staff.headers[KEY_HEADER] == idempotency_token(staff_key) != idempotency_token(dose_key)
    assert patient.headers[KEY_HEADER] == idempotency_token(dose_key)
    assert patient.headers["X-MedJobs-Patient"] == "P-00007" and "X-MedJobs-Patient" not in staff.headers
    assert patient.title == "Riverside Family Clinic: dose reminder"
    assert status_of(db, staff_key) == status_of(db, dose_key) == "sent"
    rows = deliveries(db)
    assert rows[(dose_key, "patient_relay")]["sent_at"] == iso(clock.now())
    assert (dose_key, "staff_mail") not in rows and (staff_key, "patient_relay") not in rows
    assert deliver_due(db, notify_settings, clock, send=send).sent == 0      # nothing twice
    assert len(send.sent) == 2


def test_a_notification_is_not_sent_before_it_is_due(db, notify_settings, clock):
    pid = add_patient(db)
    key = queue_dose_reminder(db, clock.now(), pid, due_at=clock.now() + timedelta(minutes=5))
    send = FakeChannels()
    deliver_due(db, notify_settings, clock, send=send)
    assert send.sent == [] and status_of(db, key) == "pending"
    assert deliveries(db)[(key, "inbox")]["status"] == "sent"      # the inbox shows it at once
    clock.advance(299)
    assert deliver_due(db, notify_settings, clock, send=send).sent == 0
    clock.advance(1)
    assert deliver_due(db, notify_settings, clock, send=send).sent == 1
    assert status_of(db, key) == "sent"


def test_failed_sends_back_off_exponentially_then_end_failed_with_a_masked_reason(db, notify_settings, clock):
    key = queue_staff_alert(db, clock.now())
    send = FakeChannels(fail={"staff_mail"})
    waits = []
    for attempt in range(1, 5):
        report = deliver_due(db, notify_settings, clock, send=send)
        assert len(send.sent) == attempt                      # exactly one send per pass that is due
        row = deliveries(db)[(key, "staff_mail")]
        assert row["attempts"] == attempt
        if attempt < 4:
            assert report.retrying == 1 and row["status"] == "pending" and status_of(db, key) == "pending"
            wait = (parse(row["next_attempt_at"]) - clock.now()).total_seconds()
            waits.append(wait)
            clock.advance(wait - 1)
            assert deliver_due(db, notify_settings, clock, send=send).sent == 0
            assert len(send.sent) == attempt                  # not before the backoff is over
            clock.advance(1)
    assert waits == [30, 60, 100]                              # 30 * 2**(n-1), capped at max_delay 100
    assert report.failed == 1 and row["status"] == "failed" and status_of(db, key) == "failed"
    assert row["error"] == "staff_mail (mailtos): connection failed; gave up after 4 attempt(s)"
    clock.advance(10_000)
    deliver_due(db, notify_settings, clock, send=send)
    assert len(send.sent) == 4                                 # failed is final


def parse(text):
    from medjobs_tui.clock import parse_iso
    return parse_iso(text)


def test_retry_delay_formula(notify_settings):
    retry = notify_settings.notifications.retry
    assert [retry_delay(retry, n) for n in (1, 2, 3, 4, 9)] == [30, 60, 100, 100, 100]


@pytest.fixture
def refusing_port():
    """A local TCP port that refuses connections for the whole test: bound (so no other test or process can
    take it and answer, as one did under load with an "authentication refused") but never listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_a_real_failed_send_gives_a_category_never_the_url_its_secret_or_apprise_text(tmp_path, clock, caplog,
                                                                                       refusing_port):
    url = f"mailto://clinicbot:s3cret-pw@127.0.0.1:{refusing_port}?from=bot@clinic.test&to=desk@clinic.test&mode=insecure"
    settings = load_settings(channel_config(tmp_path, {"staff_mail": {"audience": ["staff"], "url": url}},
                                            retry={"max_attempts": 1}))
    from medjobs_tui.store import connect

    db = connect(settings.database_path, STORE_KEY)
    key = queue_staff_alert(db, clock.now())
    caplog.set_level(logging.DEBUG)
    report = deliver_due(db, settings, clock)                    # the real apprise sender
    assert report.failed == 1
    reason = deliveries(db)[(key, "staff_mail")]["error"]
    assert reason == "staff_mail (mailto): connection failed; gave up after 1 attempt(s)"
    logged = caplog.text
    assert "staff_mail (mailto): connection failed" in logged
    for secret in ("s3cret-pw", "clinicbot", "desk@clinic.test", "127.0.0.1"):
        assert secret not in logged and secret not in reason


def test_a_notification_too_late_to_matter_expires_instead_of_being_sent(db, notify_settings, clock):
    pid = add_patient(db)
    stale = notify_settings.notifications.stale_after
    old_key = queue_dose_reminder(db, clock.now(), pid, due_at=clock.now() - timedelta(seconds=stale + 1), order=1)
    send = FakeChannels(fail={"patient_relay"})
    fresh_key = queue_dose_reminder(db, clock.now(), pid, due_at=clock.now(), order=2)
    deliver_due(db, notify_settings, clock, send=send)
    assert status_of(db, old_key) == "expired" and len(send.sent) == 1         # only the fresh one was tried
    assert "expired" in deliveries(db)[(old_key, "patient_relay")]["error"]
    clock.advance(stale + 1)                                                     # retries stop at the same line
    deliver_due(db, notify_settings, clock, send=send)
    assert status_of(db, fresh_key) == "expired" and len(send.sent) == 1


def test_finishing_needs_the_current_claim(db, notify_settings, clock):
    queue_staff_alert(db, clock.now())
    deliver_due(db, notify_settings, clock, send=FakeChannels(), limit=0)       # plan only
    claim = store_outbox.claim_delivery(db, deliverer="host:1:a", now=iso(clock.now()))
    fenced = dict(status="sent", now=iso(clock.now()))
    assert not store_outbox.finish_delivery(db, claim["id"], claimed_by="host:2:b", attempts=1, **fenced)
    assert not store_outbox.finish_delivery(db, claim["id"], claimed_by="host:1:a", attempts=2, **fenced)
    assert store_outbox.finish_delivery(db, claim["id"], claimed_by="host:1:a", attempts=1, **fenced)
    assert not store_outbox.finish_delivery(db, claim["id"], claimed_by="host:1:a", attempts=1, **fenced)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_send_cut_short_is_never_sent_again_by_default(db, notify_settings, clock):
    key = queue_staff_alert(db, clock.now())
    deliver_due(db, notify_settings, clock, send=FakeChannels(), limit=0)
    gone = f"{socket.gethostname()}:{dead_pid()}:abc123"
    store_outbox.claim_delivery(db, deliverer=gone, now=iso(clock.now()))      # claimed, then the process died
    send = FakeChannels()
    report = deliver_due(db, notify_settings, clock, send=send)
    assert report.unconfirmed == 1 and send.sent == []
    row = deliveries(db)[(key, "staff_mail")]
    assert row["status"] == "unconfirmed" and status_of(db, key) == "unconfirmed"
    assert row["error"] == "staff_mail (mailtos): interrupted between send and record; not sent again (at most once)"
    clock.advance(100_000)
    assert deliver_due(db, notify_settings, clock, send=send).sent == 0 and send.sent == []


def test_a_live_deliverers_claim_is_left_alone_until_its_claim_times_out(db, notify_settings, clock):
    key = queue_staff_alert(db, clock.now())
    deliver_due(db, notify_settings, clock, send=FakeChannels(), limit=0)
    alive = f"{socket.gethostname()}:{os.getpid()}:other1"
    store_outbox.claim_delivery(db, deliverer=alive, now=iso(clock.now()))
    assert deliver_due(db, notify_settings, clock, send=FakeChannels()).unconfirmed == 0
    clock.advance(notify_settings.notifications.claim_timeout - 1)
    assert deliver_due(db, notify_settings, clock, send=FakeChannels()).unconfirmed == 0
    clock.advance(2)
    assert deliver_due(db, notify_settings, clock, send=FakeChannels()).unconfirmed == 1
    assert status_of(db, key) == "unconfirmed"


def test_a_resend_channel_sends_again_under_the_same_key_header(tmp_path, clock):
    from medjobs_tui.store import connect

    channels = {"staff_mail": {"audience": ["staff"], "url": "mailtos://bot@clinic.test?to=desk@clinic.test",
                               "on_interrupted": "resend"}}
    settings = load_settings(channel_config(tmp_path, channels))
    db = connect(settings.database_path, STORE_KEY)
    key = queue_staff_alert(db, clock.now())
    deliver_due(db, settings, clock, send=FakeChannels(), limit=0)
    first = store_outbox.claim_delivery(db, deliverer=f"{socket.gethostname()}:{dead_pid()}:x", now=iso(clock.now()))
    sent_before_crash = outgoing(first, settings)
    send = FakeChannels()
    report = deliver_due(db, settings, clock, send=send)
    assert report.resent == 1 and report.sent == 1
    [again] = send.to("staff_mail")
    assert again.headers[KEY_HEADER] == sent_before_crash.headers[KEY_HEADER] == idempotency_token(key)
    row = deliveries(db)[(key, "staff_mail")]
    assert row["status"] == "sent" and row["attempts"] == 2


def test_a_channel_removed_from_config_fails_its_rows_with_a_reason(db, notify_settings, clock, tmp_path):
    key = queue_staff_alert(db, clock.now(), due_at=clock.now() + timedelta(minutes=1))
    deliver_due(db, notify_settings, clock, send=FakeChannels())
    later = tmp_path / "later"
    later.mkdir()
    other = load_settings(channel_config(later, {}))
    clock.advance(60)
    report = deliver_due(db, other, clock, send=FakeChannels())
    assert report.failed == 1
    assert deliveries(db)[(key, "staff_mail")]["error"] == "staff_mail (?): channel no longer configured"


def test_queue_alert_reaches_the_audiences_channels_once_per_code_and_scope(db, notify_settings, clock):
    assert alerts.queue_alert(db, code="backup_stale", scope="2026-11-29", area="backups", count=2, now=clock.now())
    assert not alerts.queue_alert(db, code="backup_stale", scope="2026-11-29", area="backups", count=2,
                                  now=clock.now())
    assert alerts.queue_alert(db, code="refill_backlog", scope="2026-11-29", area="refills", count=5,
                              now=clock.now(), audience="prescriber")
    send = FakeChannels()
    deliver_due(db, notify_settings, clock, send=send)
    bodies = [m.body for m in send.to("staff_mail")]
    assert bodies == ["MedJobs alert backup_stale: 2 item(s) in backups need attention. Open MedJobs to review.",
                      "MedJobs alert refill_backlog: 5 item(s) in refills need attention. Open MedJobs to review."]
    for bad in (dict(code="Bad Code"), dict(scope="x" * 81), dict(audience="everyone"), dict(count=-1)):
        args = dict(code="c", scope="s", area="a", count=1, now=clock.now()) | bad
        with pytest.raises(ValueError, match=f"queue_alert: {next(iter(bad))}"):
            alerts.queue_alert(db, **args)


def test_templates_carry_no_patient_data():
    for template in outbox.TEMPLATES.values():
        placeholders = set(outbox._PLACEHOLDER.findall(template.text))
        # a pseudonym at most, and only to staff and prescribers; patients get no identifier at all
        assert placeholders <= {"patient", "order", "local_time", "catch_up_minutes", "days_remaining",
                                "refills_left", "severity", "rule_id", "rule_name", "object_order",
                                "precipitant_order", "job", "run_id", "threshold_days", "code", "count", "area", "dose",
                                # MedJobs' own alerts: texts notify.alerts composes from ids, job names, pseudonyms
                                # and counts, cut to plain characters (tests/engine/test_alerts.py)
                                "alert", "summary", "reason"}
        if template.audience == "patient":
            assert "patient" not in placeholders
    with pytest.raises(ValueError, match="patient must be a pseudonym"):
        outbox.render("supply_critical", patient="John Smith", order=1, days_remaining=1, threshold_days=3)
    assert outbox.render("supply_critical", patient="P-00012", order=1, days_remaining=1,
                         threshold_days=3).startswith("P-00012:")


def test_apprise_is_silent_in_our_logs(tmp_path, caplog, refusing_port):
    """Apprise's own log lines quote recipients, hosts and URLs; none of them reaches MedJobs' log."""
    url = f"json://relay:r3lay-token@127.0.0.1:{refusing_port}/notify"
    settings = load_settings(channel_config(tmp_path, {"relay": {"audience": ["patient"], "url": url}}))
    caplog.set_level(logging.DEBUG)
    msg = OutgoingMessage(1, "dose_reminder", "patient", "title", "body", {KEY_HEADER: "x"})
    result = apprise_send("relay", settings.notifications.channels["relay"], msg)
    assert not result.ok and result.reason == "connection failed"
    for secret in ("r3lay-token", "relay:", "127.0.0.1", "/notify"):
        assert secret not in caplog.text


def test_a_sent_message_whose_record_failed_is_recorded_sent_next_pass_not_sent_again(db, notify_settings, clock,
                                                                                      monkeypatch):
    key = queue_staff_alert(db, clock.now())
    real_finish = store_outbox.finish_delivery
    locked = {"times": 1}

    def finish_locked_once(db_, delivery_id, **kw):
        if kw["status"] == "sent" and locked["times"]:
            locked["times"] -= 1
            raise RuntimeError("database is locked")        # the store stayed locked past its busy timeout
        return real_finish(db_, delivery_id, **kw)

    monkeypatch.setattr(store_outbox, "finish_delivery", finish_locked_once)
    send, unrecorded = FakeChannels(), {}
    with pytest.raises(RuntimeError):
        deliver_due(db, notify_settings, clock, deliverer="host:1:me", send=send, unrecorded=unrecorded)
    assert deliveries(db)[(key, "staff_mail")]["status"] == "sending" and len(unrecorded) == 1
    report = deliver_due(db, notify_settings, clock, deliverer="host:1:me", send=send, unrecorded=unrecorded)
    assert report.sent == 1 and report.unconfirmed == 0 and unrecorded == {}
    assert status_of(db, key) == "sent" and len(send.sent) == 1


def test_migration_51_marks_notifications_delivered_to_the_inbox_only_before_it(db, notify_settings, clock):
    """A store delivered before inbox_only existed: its patients' inbox-only notifications read 'sent' until
    migration 51; staff ones and those that reached a channel stay 'sent'."""
    from medjobs_tui.clock import iso as iso_time
    from medjobs_tui.store import migrate, transaction
    from medjobs_tui.store import preferences as store_prefs

    quiet, told = add_patient(db, "P-00008"), add_patient(db, "P-00009")

    store_prefs.set_preferences(db, quiet, {"channel": "inbox"}, source="staff", at=iso_time(clock.now()),
                                by="nurse.kim")
    keys = {"inbox": queue_dose_reminder(db, clock.now(), quiet, due_at=clock.now(), order=4),
            "relay": queue_dose_reminder(db, clock.now(), told, due_at=clock.now(), order=5),
            "staff": queue_staff_alert(db, clock.now())}
    deliver_due(db, notify_settings, clock, send=FakeChannels())
    assert [status_of(db, keys[k]) for k in ("inbox", "relay", "staff")] == ["inbox_only", "sent", "sent"]
    with transaction(db):                                # as it was recorded before the change
        db.execute("UPDATE notifications SET status = 'sent' WHERE status = 'inbox_only'")
        db.execute("DELETE FROM schema_version WHERE version = 51")
    migrate(db)
    assert [status_of(db, keys[k]) for k in ("inbox", "relay", "staff")] == ["inbox_only", "sent", "sent"]


@pytest.mark.parametrize("change", ["UPDATE medication_requests SET status = 'stopped'",
                                    "UPDATE medication_requests SET schedule_status = 'inactive'"])
def test_a_reminder_whose_order_was_stopped_or_withdrawn_since_it_was_queued_is_not_sent(
        db, notify_settings, clock, tmp_path, change):
    """Found by a reviewer: a reminder queued (say held for quiet hours) was still sent after a re-import stopped
    its order or made it an order NOT to give (doNotPerform)."""
    import json

    from medjobs_tui.fhir import import_paths
    from medjobs_tui.store import transaction

    f = tmp_path / "in.ndjson"
    f.write_text("\n".join(json.dumps(r) for r in (
        {"resourceType": "Patient", "id": "p"},
        {"resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p"}, "medicationCodeableConcept": {"text": "Lisinopril 10 MG Oral Tablet"},
         "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}]})) + "\n")
    import_paths(db, notify_settings, [f], clock.now())
    pid, mr = db.execute("SELECT patient_id, id FROM medication_requests").fetchone()
    with transaction(db):
        outbox.queue(db, kind="dose_reminder", key="dose_reminder:x", now=clock.now(), due_at=clock.now(),
                     patient_id=pid, medication_request_id=mr, params={"order": mr, "local_time": "09:00", "dose": "1"})
        outbox.queue(db, kind="dose_reminder", key="dose_reminder:y", now=clock.now(), due_at=clock.now(),
                     patient_id=pid, medication_request_id=mr, params={"order": mr, "local_time": "10:00", "dose": "1"})
    send = FakeChannels()
    deliver_due(db, notify_settings, clock, send=send, limit=1)            # the first goes out
    with transaction(db):
        db.execute(change)                                                   # then the order changes
    report = deliver_due(db, notify_settings, clock, send=send)
    assert len(send.sent) == 1 and report.expired == 1
    row = deliveries(db)[("dose_reminder:y", "patient_relay")]
    assert row["status"] == "expired" and "order was stopped or is not to be given" in row["error"]
