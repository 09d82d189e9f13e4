"""Retry policy: whether a failed attempt is tried again, and after what backoff delay."""

from __future__ import annotations

from datetime import datetime, timedelta

from medjobs_tui.config import RetryPolicy


def backoff_seconds(policy: RetryPolicy, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one.

    fixed: ``delay``; exponential: ``min(delay * 2**(attempt - 1), max_delay)``
    (attempt 1 -> delay, 2 -> 2 x delay, 3 -> 4 x delay ...). No jitter: one workstation runs one
    runner, so there is no thundering herd to spread.
    """
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    if policy.backoff == "fixed":
        return float(policy.delay)
    return float(min(policy.delay * 2 ** (attempt - 1), policy.max_delay))


def next_attempt_at(policy: RetryPolicy, attempt: int, max_attempts: int, now: datetime) -> datetime | None:
    """When attempt ``attempt + 1`` may start, or None when ``attempt`` was the last allowed (-> dead)."""
    if attempt >= max_attempts:
        return None
    return now + timedelta(seconds=backoff_seconds(policy, attempt))
