"""The periodic alert evaluation: the alerts whose cause is read from the system's own records, opened,
bumped and resolved (``notify.alerts``). The runner calls ``evaluate`` every minute (with the validation
results) and once at start before catching up missed ticks; the console calls it before listing alerts,
so a console without a runner still sees a schedule that stopped ticking.

- ``schedule_missed`` (dead-man's switch), per job with alerts enabled: a scheduled fire time older than
  ``alerts.schedule_grace`` seconds lies after the job's latest recorded tick (``jobs.ticks_seen_until``):
  no runner fired it. It fires whether or not any run failed (a runner down, a scheduler stuck) and
  resolves when the schedule ticks again (a tick or catch-up row at or after the latest expected fire time).
  A job never ticked (no watermark) is not watched yet; the repeated hour of a DST change is not a miss.
- ``error_rate``, per job with alerts enabled: the share of its attempts finished in the last 24 h that
  failed, timed out or crashed is over ``alerts.error_rate_threshold`` percent (with at least
  ``alerts.error_rate_min_attempts`` of them); resolves when back at or under it (or too few attempts).
- ``critical_job_failing``, per critical-path job with alerts enabled: validation status ``failing``
  (``engine.validation``); resolves when the job is valid or stale again. Its opening notice is
  validation's daily ``ops_alert``.
- ``run_dead``: opened when a run goes dead (``engine.outcomes``); resolved here too if its run has since
  succeeded (its retry) or is no longer kept (pruned).

``supply_critical`` and ``interaction_major`` are raised and resolved by their jobs (``jobs.supply_monitor``,
``jobs.interaction_check``), which see the whole clinic on every run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from medjobs_tui.clock import iso
from medjobs_tui.config import Settings
from medjobs_tui.engine import ticks
from medjobs_tui.engine.validation import JobValidation
from medjobs_tui.notify.alerts import Observed, reconcile, resolve_alert
from medjobs_tui.store import alerts as store_alerts
from medjobs_tui.store import ticks as store_ticks

ERROR_WINDOW_S = 24 * 3600
"""The error-rate window, in seconds."""

MAX_MISSED = 2000
"""At most this many missed fire times are counted per job and evaluation."""


def job_scope(job_name: str) -> str:
    """The scope of a job's alerts: ``job <name>``."""
    return f"job {job_name}"


def _job_of(scope: str) -> str | None:
    return scope[4:] if scope.startswith("job ") else None


def _hhmm(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def schedule_switch(db: Any, settings: Settings, now: datetime) -> dict[str, int]:
    """The dead-man's switch of every job at ``now`` (see the module text); returns reconcile's counts."""
    grace = timedelta(seconds=settings.alerts.schedule_grace)
    observed: dict[str, Observed] = {}
    watched: dict[str, datetime | None] = {}
    for name, job in settings.jobs.items():
        if not job.monitoring_config.alerts_enabled:
            continue
        seen = store_ticks.ticks_seen_until(db, name)
        watched[name] = seen
        until = now - grace
        if seen is None or until <= seen:
            continue
        missed = ticks.fire_times(ticks.make_trigger(job, settings), seen, until, limit=MAX_MISSED)
        missed = [t for t in missed if not ticks.is_repeated_hour(t, settings.zone)]
        if not missed:
            continue
        more = "or more " if len(missed) >= MAX_MISSED else ""
        observed[job_scope(name)] = Observed(
            summary=f"job {name}: {len(missed)} {more}scheduled tick(s) since {_hhmm(missed[0])} not recorded "
                    f"(last recorded {_hhmm(seen)})",
            ref=iso(missed[-1]), severity="critical" if job.validation_rules.critical_path else "high",
            job_name=name)

    def reason(row: dict[str, Any]) -> str | None:
        name = _job_of(row["scope"])
        if name not in settings.jobs:
            return f"job {name} is no longer configured"
        if name not in watched:
            return f"alerts are disabled for job {name}"
        seen = watched[name]
        return f"job {name}: schedule ticks again (tick of {_hhmm(seen)} recorded)" if seen else None

    return reconcile(db, "schedule_missed", observed, now, reason)


def error_rates(db: Any, settings: Settings, now: datetime) -> dict[str, int]:
    """The ``error_rate`` alerts at ``now`` (see the module text); returns reconcile's counts."""
    cfg = settings.alerts
    stats = store_alerts.attempt_outcomes_since(db, now - timedelta(seconds=ERROR_WINDOW_S))
    observed: dict[str, Observed] = {}
    for name, job in settings.jobs.items():
        s = stats.get(name)
        if not job.monitoring_config.alerts_enabled or not s or s["finished"] < cfg.error_rate_min_attempts:
            continue
        rate = 100.0 * s["errors"] / s["finished"]
        if rate > cfg.error_rate_threshold:
            observed[job_scope(name)] = Observed(
                summary=f"job {name}: {rate:.0f} percent of {s['finished']} attempts in 24 h failed or timed out "
                        f"(threshold {cfg.error_rate_threshold:g} percent)",
                ref=f"attempt {s['last_error']}", job_name=name)

    def reason(row: dict[str, Any]) -> str:
        name = _job_of(row["scope"])
        if name not in settings.jobs or not settings.jobs[name].monitoring_config.alerts_enabled:
            return f"alerts are off or job {name} is no longer configured"
        s = stats.get(name) or {"finished": 0, "errors": 0}
        if s["finished"] < cfg.error_rate_min_attempts:
            return f"job {name}: only {s['finished']} attempt(s) in 24 h (fewer than {cfg.error_rate_min_attempts})"
        return (f"job {name}: error rate back to {100.0 * s['errors'] / s['finished']:.0f} percent of "
                f"{s['finished']} attempts in 24 h (threshold {cfg.error_rate_threshold:g} percent)")

    return reconcile(db, "error_rate", observed, now, reason)


def critical_failing(db: Any, settings: Settings, results: list[JobValidation], now: datetime) -> dict[str, int]:
    """The ``critical_job_failing`` alerts from validation ``results`` at ``now``; returns reconcile's counts."""
    observed: dict[str, Observed] = {}
    status = {v.job_name: v.status for v in results}
    for v in results:
        job = settings.jobs.get(v.job_name)
        if job is None or not v.critical_path or v.status != "failing" or not job.monitoring_config.alerts_enabled:
            continue
        observed[job_scope(v.job_name)] = Observed(
            summary=f"critical job {v.job_name} failing: " + " / ".join(v.reasons), ref=" | ".join(v.reasons),
            job_name=v.job_name)

    def reason(row: dict[str, Any]) -> str:
        name = _job_of(row["scope"])
        if name not in status:
            return f"job {name} is no longer configured"
        if status[name] == "failing":
            return f"alerts are off for job {name} or it is no longer on the critical path"
        return f"job {name} is {status[name]} again: its critical checks pass"

    return reconcile(db, "critical_job_failing", observed, now, reason, notify=False)


def dead_runs(db: Any, now: datetime) -> int:
    """Resolve every active ``run_dead`` alert whose run has since succeeded or is no longer kept; return how many."""
    rows = store_alerts.active(db, "run_dead")
    runs = store_alerts.run_states(db, [int(r["scope"].split()[1]) for r in rows])
    done = 0
    for row in rows:
        run_id = int(row["scope"].split()[1])
        run = runs.get(run_id)
        if run is None:
            why = f"run {run_id} is no longer kept (pruned)"
        elif run["status"] == "succeeded":
            why = f"run {run_id} succeeded on retry (attempt {run['attempt']})"
        elif run["status"] == "cancelled":
            why = f"run {run_id} was cancelled"
        else:
            continue
        done += resolve_alert(db, row["id"], why, now)
    return done


def evaluate(db: Any, settings: Settings, now: datetime,
             results: list[JobValidation] | None = None) -> dict[str, Any]:
    """Evaluate every alert read from the records at ``now`` (aware UTC): the dead-man's switch, error
    rates, dead runs, and with validation ``results`` the critical jobs failing. Returns what changed per
    kind. Raises the store's errors (the runner logs them)."""
    out: dict[str, Any] = {
        "schedule_missed": schedule_switch(db, settings, now),
        "error_rate": error_rates(db, settings, now),
        "run_dead": {"resolved": dead_runs(db, now)},
    }
    if results is not None:
        out["critical_job_failing"] = critical_failing(db, settings, results, now)
    return out
