"""The handler registry and the contract every handler keeps: JSON summaries of counts, no patient data."""

from __future__ import annotations

import json
import re

import pytest

from medjobs_tui.config import JOB_TYPES
from medjobs_tui.jobs import HANDLERS, get_handler


def test_every_job_type_has_a_handler():
    assert set(HANDLERS) == set(JOB_TYPES)
    assert all(callable(get_handler(t)) for t in JOB_TYPES)


def test_unknown_job_type_raises_keyerror_naming_it():
    with pytest.raises(KeyError, match="'no_such_job'.*known job types"):
        get_handler("no_such_job")


def test_every_handler_has_real_work_on_the_demo_and_returns_json_counts(clinic):
    texts = [r["medication_text"].lower()
             for r in clinic.rows("SELECT DISTINCT medication_text FROM medication_requests")]
    work = {"supply_monitor": "critical", "refill_check": "notices_queued", "interaction_check": "alerts_new",
            "medication_reminder": "reminders_queued", "analytics_rollup": "orders", "backup": "rows_total"}
    for job_name, key in work.items():
        summary = clinic.run(job_name)
        text = json.dumps(summary)
        assert summary[key] > 0, f"{job_name} has no work on the demo clinic"
        assert not any(t in text.lower() for t in texts), f"{job_name} summary names a medication"
        assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", text.replace('"day": "2026-11-28"', "")), \
            f"{job_name} summary holds a date"
        scalars = [v for v in summary.values() if not isinstance(v, (dict, list))]
        assert scalars and all(isinstance(v, (int, float, str, bool)) or v is None for v in scalars)
