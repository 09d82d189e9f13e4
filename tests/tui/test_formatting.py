"""How cells and dialogs word things: evidence checks, long text, job names, console warnings."""

from __future__ import annotations

from medjobs_tui.tui import formatting as fmt
from medjobs_tui.tui.screens import split_warnings


def test_a_job_check_reads_valid_or_invalid_with_its_count():
    assert fmt.validation("valid").plain == "valid"
    invalid = fmt.validation("invalid: 2")
    assert invalid.plain == "INVALID 2" and "red" in str(invalid.style)
    assert fmt.validation("no runs").plain == "no runs"


def test_the_patient_prefix_is_dropped_only_when_the_patient_column_says_it():
    message = "P-00047: order #110 has 1 day(s) of supply left (critical at <= 3 day(s))."
    assert fmt.without_patient_prefix(message, "P-00047").startswith("order #110")
    assert fmt.without_patient_prefix(message, "P-00001") == message
    assert fmt.without_patient_prefix("Job backup failed: run 3 is dead.", None) == "Job backup failed: run 3 is dead."


def test_long_text_is_one_line_ending_in_an_ellipsis_where_cut():
    text = fmt.long_text("handler error\n(ref E-1)")
    assert text.plain == "handler error (ref E-1)" and text.no_wrap and text.overflow == "ellipsis"
    assert fmt.long_text(None).plain == fmt.MISSING


def test_a_job_shows_its_type_only_when_the_name_does_not_say_it():
    assert fmt.job("backup", "backup").plain == "backup"
    assert fmt.job("night_backup", "backup").plain == "night_backup (backup)"


def test_the_consoles_warning_lines_are_split_from_the_record():
    warnings, record = split_warnings("# WARNING: this record does not match\nevidence_version: 1\n# kept\n")
    assert warnings == ["WARNING: this record does not match"]
    assert record == "evidence_version: 1\n# kept\n"
    assert split_warnings("evidence_version: 1\n") == ([], "evidence_version: 1\n")
