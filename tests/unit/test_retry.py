"""Retry backoff: capped exponential, and full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

from __future__ import annotations

import random
import statistics
from datetime import datetime, timedelta, timezone

import pytest

from medjobs_tui.config import RetryPolicy
from medjobs_tui.engine.retry import backoff_seconds, next_attempt_at


def test_exponential_backoff_doubles_from_the_delay_and_stops_at_max_delay():
    policy = RetryPolicy(max_attempts=8, delay=10, backoff="exponential", max_delay=100)
    assert [backoff_seconds(policy, n) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]


def test_fixed_backoff_waits_the_delay_every_time():
    policy = RetryPolicy(delay=30)
    assert [backoff_seconds(policy, n) for n in range(1, 4)] == [30, 30, 30]


def test_full_jitter_draws_uniformly_below_the_capped_exponential_with_a_seeded_rng():
    policy = RetryPolicy(max_attempts=8, delay=10, backoff="exponential", max_delay=100, jitter=True)
    ceilings = [10, 20, 40, 80, 100, 100]
    rng, same = random.Random(2026), random.Random(2026)
    got = [backoff_seconds(policy, n, rng) for n in range(1, 7)]
    assert got == [same.uniform(0, c) for c in ceilings]           # random(0, min(max_delay, delay * 2^(n-1)))
    assert all(0 <= g <= c for g, c in zip(got, ceilings))
    assert got != ceilings


def test_full_jitter_spreads_retries_over_the_whole_window():
    policy = RetryPolicy(delay=60, backoff="exponential", max_delay=3600, jitter=True)
    rng = random.Random(7)
    waits = [backoff_seconds(policy, 3, rng) for _ in range(2000)]   # window: 0 .. 240 s
    assert min(waits) < 5 and max(waits) > 235 and max(waits) <= 240
    assert statistics.mean(waits) == pytest.approx(120, rel=0.05)


def test_jitter_applies_to_a_fixed_backoff_too():
    policy = RetryPolicy(delay=300, jitter=True)
    rng = random.Random(3)
    assert all(0 <= backoff_seconds(policy, 1, rng) <= 300 for _ in range(100))


def test_the_last_allowed_attempt_has_no_next_attempt():
    now = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
    policy = RetryPolicy(max_attempts=2, delay=60)
    assert next_attempt_at(policy, 1, 2, now) == now + timedelta(seconds=60)
    assert next_attempt_at(policy, 2, 2, now) is None
