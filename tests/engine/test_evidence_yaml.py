"""Evidence records are written by ``evidence.dump_yaml``: byte for byte what PyYAML writes, without its
representer (about 0.5 ms a record, inside the transaction that records an outcome)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from medjobs_tui.engine import evidence
from medjobs_tui.engine.evidence import dump_yaml

TRICKY = ["", "yes", "No", "on", "OFF", "null", "~", "true", "0.1.0", "1e3", "1_000", ".5", "0x1F", "-x", "- x",
          "2026-11-29T16:12:31+00:00", "2026-11-29", "a: b", "x #c", "it's", " lead", "trail ", "a\nb", "é", "=",
          "<<", "12:30", "1.0", "+1", "/path/x.yaml", "killed at the timeout of 30 s", "x" * 69, "x" * 71]
texts = st.one_of(st.sampled_from(TRICKY), st.text(alphabet="abcXYZ019 _-:./'#T+,()=\"\\\t", max_size=30),
                  st.text(max_size=90))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15), st.floats(), texts)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
                      max_leaves=25)


def pyyaml(record) -> str:
    return yaml.dump(record, Dumper=evidence._DUMPER, sort_keys=False, allow_unicode=True)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(texts, values, max_size=8))
def test_dump_yaml_writes_exactly_what_pyyaml_writes(record):
    assert dump_yaml(record) == pyyaml(record)


def typical_record() -> dict:
    at = "2026-11-29T16:12:31+00:00"
    return {
        "evidence_version": 1, "medjobs_version": "0.1.0",
        "run": {"id": 12, "job_name": "refill_check", "job_type": "refill_check", "queue": "default",
                "priority": "normal", "trigger": "schedule", "status": "succeeded", "attempt": 1, "max_attempts": 3,
                "scheduled_at": at, "started_at": at, "finished_at": at, "duration_s": 1e-06, "error": None},
        "attempts": [{"attempt": 1, "started_at": at, "finished_at": at, "duration_s": 0.25, "outcome": "succeeded",
                      "error": None}],
        "validation_rules": {"max_duration_s": 60, "min_success_rate": 0.95, "required": []},
        "summary": {"orders": 40, "due": 3, "patients": ["P-0001", "P-0002"]},
        "audit_head": {"id": 7, "mac": "ab" * 32, "at": at}, "chain": {"prev_sha256": None},
    }


def test_a_typical_record_does_not_go_through_pyyaml(monkeypatch):
    expected = pyyaml(typical_record())

    def refuse(*args, **kwargs):
        raise AssertionError("PyYAML was used")

    monkeypatch.setattr(evidence.yaml, "dump", refuse)
    assert dump_yaml(typical_record()) == expected
    assert yaml.safe_load(expected) == typical_record()
