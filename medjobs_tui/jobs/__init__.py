"""The six job handlers, routed by job type.

``HANDLERS`` maps each job type of ``config.JOB_TYPES`` to its handler, ``def run(ctx: JobContext) -> dict``
(see ``jobs.base``); ``get_handler(job_type)`` looks one up.
"""

from __future__ import annotations

from medjobs_tui.jobs import (
    analytics_rollup,
    backup,
    interaction_check,
    medication_reminder,
    refill_check,
    supply_monitor,
)
from medjobs_tui.jobs.base import Handler, JobContext, PermanentError

HANDLERS: dict[str, Handler] = {
    "medication_reminder": medication_reminder.run,
    "refill_check": refill_check.run,
    "interaction_check": interaction_check.run,
    "supply_monitor": supply_monitor.run,
    "analytics_rollup": analytics_rollup.run,
    "backup": backup.run,
}
"""job_type -> handler."""


def get_handler(job_type: str) -> Handler:
    """The handler of ``job_type``; raises KeyError naming the type and the known ones."""
    try:
        return HANDLERS[job_type]
    except KeyError:
        raise KeyError(f"no handler for job type {job_type!r}; known job types: {', '.join(sorted(HANDLERS))}") \
            from None


__all__ = ["HANDLERS", "Handler", "JobContext", "PermanentError", "get_handler"]
