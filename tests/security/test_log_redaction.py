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
