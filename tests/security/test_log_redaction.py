"""The second line of error masking: a logging filter redacts identifier-shaped text from every log line."""

from __future__ import annotations

import io
import logging

import pytest

from medjobs_tui.security.masking import RedactingFilter, install_log_redaction, redact

LEAKY = (
    "import failed for patient name=Jacinto644 Kris249 (Patient/3b1a2c4d-1111-2222-3333-444455556666), "
    "born 1970-05-04 or 05/04/1970, phone 555-337-3402 or (617) 555-0199, mail jacinto.kris@example.org, "
    "SSN 999-12-3456, MRN 000123456, licence S99912345, lives at 123 Main Street Unit 4; "
    '{"family": "Smith", "given": ["John"]}'
)
SECRETS = ["Jacinto644", "Kris249", "3b1a2c4d-1111", "1970-05-04", "05/04/1970", "555-337-3402", "555-0199",
           "jacinto.kris@example.org", "999-12-3456", "000123456", "S99912345", "123 Main Street", "Smith", "John"]


def test_redact_removes_every_identifier_and_keeps_the_rest():
    out = redact(LEAKY)
    assert [s for s in SECRETS if s in out] == []
    for kept in ("import failed for patient", "[name]", "[date]", "[phone]", "[email]", "[ssn]", "[id]",
                 "[address]", "Patient/[id]"):
        assert kept in out


def test_pseudonyms_run_ids_counts_and_times_of_day_are_kept():
    text = ("run 42 of refill_check: 3 notifications for P-00012 at 08:00, took 0.25 s (ref E-3F9A1C); "
            "catch-up tick at 2026-11-29T07:45:00+00:00")
    assert redact(text) == text


@pytest.mark.parametrize("leak, placeholder", [
    ("123 45 6789", "[ssn]"),                                   # an SSN written with spaces
    ("123-45-6789", "[ssn]"),
    ("01103-1234", "[zip]"),                                    # ZIP+4
    ("3 Feb 1970", "[date]"), ("3 February 1970", "[date]"), ("February 3, 1970", "[date]"),
    ("Feb. 3rd 1970", "[date]"), ("03 feb 1970", "[date]"),
    ("10.0.0.12", "[ip]"), ("192.168.1.254", "[ip]"),
    ("https://fhir.example.org/Patient/123?name=Jo", "[url]"), ("http://10.0.0.12:8080/x", "[url]"),
    ("sftp://clinic-host/exports", "[url]"),
    ("1EG4-TE5-MK72", "[mbi]"), ("1EG4TE5MK72", "[mbi]"),        # Medicare Beneficiary Identifier
    ("1EG4 TE5 MK72", "[mbi]"),
    ("03-FEB-1970", "[date]"), ("3-Feb-1970", "[date]"),        # dates as some systems print them
    ("2001:db8:85a3:0:0:8a2e:370:7334", "[ip]"), ("fe80::1ff:fe23:4567:890a", "[ip]"), ("::1", "[ip]"),
])
def test_each_identifier_shape_is_masked(leak, placeholder):
    out = redact(f"delivery 17 failed for {leak}: retry in 2.5 s")
    assert leak not in out and placeholder in out
    assert out.startswith("delivery 17 failed for ") and out.endswith(": retry in 2.5 s")


@pytest.mark.parametrize("ordinary", [
    "run 4217 of refill_check attempt 2 of 5 succeeded in 0.25 s: now succeeded",
    "catch-up tick of backup_daily at 2026-11-29T12:55:00+00:00 (scheduled 2026-11-29T12:50:00Z)",
    "worker pool of 2 started; pid 12345; Python 3.11.4; sqlite 3.51.1",
    "delivery 17 on channel staff_mail: 3 notifications in 0.004 s (ref E-3F9A1C) for P-00012 at 08:00",
    "claiming failed (database is locked); try 2 again in 0.50 s",
    "config key runner::queues is unknown; 12:55:00 to 13:05:00 quiet hours",
    "cancelled 3 queued run(s) of job interaction_check: it is not in the configuration in force",
    "May 2026 report: 12 runs, 10.5% failed, evidence sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
])
def test_ordinary_log_text_is_not_mangled(ordinary):
    assert redact(ordinary) == ordinary


@pytest.fixture
def log_to():
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("medjobs_tui.test_redaction")
    logger.addHandler(handler)
    yield logger, buf
    logger.removeHandler(handler)


def test_the_filter_redacts_messages_args_and_tracebacks(log_to):
    logger, buf = log_to
    logger.error("could not store %s (%s)", "Jacinto644 Kris249", "1970-05-04")
    try:
        raise ValueError(LEAKY)
    except ValueError:
        logger.exception("handler crashed")
    text = buf.getvalue()
    assert "handler crashed" in text and "ValueError" in text and "Traceback" in text
    assert [s for s in SECRETS if s in text] == []


def test_installed_on_the_last_resort_handler(capsys):
    install_log_redaction()
    install_log_redaction()  # idempotent
    assert sum(isinstance(f, RedactingFilter) for f in logging.lastResort.filters) == 1
    logging.lastResort.handle(logging.LogRecord("medjobs_tui.x", logging.ERROR, __file__, 1, LEAKY, None, None))
    err = capsys.readouterr().err
    assert "import failed" in err and [s for s in SECRETS if s in err] == []
