"""Retry policy: whether a failed attempt is tried again, and after what backoff delay (capped, optionally jittered)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from medjobs_tui.config import RetryPolicy

_RNG = random.Random()
"""The jitter's random source; tests pass a seeded ``random.Random`` instead."""


def backoff_seconds(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one.

    The ceiling: fixed backoff ``delay``; exponential ``min(max_delay, delay * 2**(attempt - 1))``
    (attempt 1 -> delay, 2 -> 2 x delay, 3 -> 4 x delay ..., never above ``max_delay``).
    With ``jitter: true`` the wait is "full jitter"::

        wait = random.uniform(0, ceiling)    # = random(0, min(max_delay, delay * 2**(attempt - 1)))

    Source: Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015
    (``sleep = random_between(0, min(cap, base * 2 ** attempt))``, attempt counted from 0 there):
    spreading retries over the whole window keeps runs that failed together (a store outage, a
    downstream service) from retrying together. ``rng`` is the random source (default: a module one).
    """
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    if policy.backoff == "fixed":
        ceiling = float(policy.delay)
    else:
        ceiling = float(min(policy.delay * 2 ** (attempt - 1), policy.max_delay))
    if policy.jitter:
        return (rng or _RNG).uniform(0.0, ceiling)
    return ceiling


def next_attempt_at(policy: RetryPolicy, attempt: int, max_attempts: int, now: datetime,
                    rng: random.Random | None = None) -> datetime | None:
    """When attempt ``attempt + 1`` may start, or None when ``attempt`` was the last allowed (-> dead)."""
    if attempt >= max_attempts:
        return None
    return now + timedelta(seconds=backoff_seconds(policy, attempt, rng))
