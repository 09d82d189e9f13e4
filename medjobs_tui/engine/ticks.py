"""Ticks from the schedule: each job's trigger, the fire times APScheduler delivers, DST, coalescing, misfires.

The first step of a run's life. APScheduler decides *when* a job fires; this module decides what each
fire time becomes, keyed by the fire time itself (APScheduler's scheduled run time, in UTC), never by
the runner's clock, so two runners whose clocks differ record a fire time once:

- **Wall-clock schedules** (a cron whose hour field names hours, e.g. ``30 1 * * *``): each named local
  time runs once per local day. On the fall-back day the second occurrence of the repeated hour is
  recorded as ``skipped`` (``repeated hour``); on the spring-forward day a time in the gap runs once, at
  the end of the gap. APScheduler 3.11's own CronTrigger fires such a job twice on fall-back and a
  gap time an hour after its wall time (02:30 at 03:30, not at 03:00), in America/New_York and
  Australia/Sydney alike, hence ``WallClockCronTrigger``.
- **Sub-daily schedules** (``*/15 * * * *``, ``5 * * * *``, intervals) keep every real instant.
- **Coalescing**: at most one scheduled run of a job waits in the queue; a further tick meanwhile is
  recorded as ``coalesced`` (a row, not run).
- **Misfires**: fire times missed while no runner ran (found from the job's watermark at start), or
  handed over several at once by APScheduler (the process was suspended: all but the newest were
  missed), follow the job's ``misfire`` policy: ``coalesce`` queues one catch-up run (trigger
  ``catch_up``) for all of them, ``skip`` records one ``skipped`` row. Lateness is never judged by the
  runner's clock, so two runners whose clocks differ treat a fire time alike.
"""

from __future__ import annotations

import concurrent.futures
import logging
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable

from apscheduler.executors.base import BaseExecutor
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from medjobs_tui.clock import iso
from medjobs_tui.config import JobConfig, Settings
from medjobs_tui.store import ticks as store_ticks

log = logging.getLogger(__name__)

UTC = timezone.utc
INTERVAL_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Interval schedules count from this instant, so every runner on a store fires (and dedupes) the same ticks."""
CATCH_UP_LIMIT = 1000
"""At most this many missed fire times are listed per job; past it the count says "more than"."""
REPEATED_HOUR = "repeated hour"
_DST_SHIFT = timedelta(hours=3)
"""More than any UTC-offset change of a DST transition (1 h almost everywhere; 30 min on Lord Howe)."""


# ------------------------------------------------------------------------------------------ triggers


def is_wall_clock(cron: str) -> bool:
    """True if the crontab ``cron`` names local clock hours (``30 1 * * *``, ``0 8,20 * * 1-5``): its hour
    field is neither ``*`` nor a step over every hour (``*/2``). Such a schedule runs each named local
    time once per local day; any other schedule keeps every real instant."""
    hour = cron.split()[1]
    return hour != "*" and not hour.startswith("*/")


class WallClockCronTrigger(BaseTrigger):
    """A crontab of local clock times, read the way a clinic reads its wall clock across DST.

    Fire times are the crontab's wall times in ``zone``, as UTC instants: a wall time that occurs twice
    (fall-back) yields both instants (the tick records the second as ``repeated hour``); a wall time that
    does not exist (spring-forward gap) yields the end of the gap, once. ``get_next_fire_time`` follows
    APScheduler's contract: the first fire time after ``previous_fire_time``, else at or after ``now``;
    it is returned in UTC (Python compares two aware times of one zone by wall time, ignoring fold).
    """

    def __init__(self, cron: str, zone: tzinfo) -> None:
        self.cron = cron
        self.timezone = zone
        self._wall = CronTrigger.from_crontab(cron, timezone=UTC)  # wall times, computed as if zone were UTC

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        # arithmetic in UTC: adding to an aware local time would drop its fold (the repeated hour)
        start = (previous_fire_time.astimezone(UTC) + timedelta(microseconds=1)) if previous_fire_time \
            else now.astimezone(UTC)
        # a wall time up to _DST_SHIFT before start's own may still fall after start (the repeated hour)
        cand = self._wall.get_next_fire_time(None, _as_wall(start, self.timezone) - _DST_SHIFT)
        best: datetime | None = None
        while cand is not None and (best is None or cand <= _as_wall(best, self.timezone) + _DST_SHIFT):
            for instant in wall_instants(cand.replace(tzinfo=None), self.timezone):
                if instant >= start and (best is None or instant < best):
                    best = instant
            cand = self._wall.get_next_fire_time(cand, cand)
        return best  # in UTC: aware times sharing one zone compare by wall time, fold ignored

    def __str__(self) -> str:
        return f"wall-clock cron[{self.cron}]"


def _as_wall(instant: datetime, zone: tzinfo) -> datetime:
    """The local wall time of ``instant`` in ``zone``, labelled UTC (for the wall-time crontab)."""
    return instant.astimezone(zone).replace(tzinfo=UTC, fold=0)


def wall_instants(wall: datetime, zone: tzinfo) -> list[datetime]:
    """The UTC instants at which naive local time ``wall`` occurs in ``zone``, earliest first.

    One instant normally; two on the fall-back day's repeated hour; for a time in the spring-forward
    gap, none exists, so the end of the gap (the transition instant) stands in for it.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if first < second:                       # fall-back: the wall time occurs twice
        return [first, second]
    return [_transition(second, first, zone)]   # gap: fold=1 maps before it, fold=0 after it


def _transition(before: datetime, after: datetime, zone: tzinfo) -> datetime:
    """The first instant (whole second) in (before, after] whose UTC offset in ``zone`` is ``after``'s."""
    target = after.astimezone(zone).utcoffset()
    lo, hi = int(before.timestamp()), int(after.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def is_repeated_hour(fire_time: datetime, zone: tzinfo) -> bool:
    """True if ``fire_time`` is the second occurrence of its local wall time (the fall-back day's repeated hour)."""
    local = fire_time.astimezone(zone)
    return local.fold == 1 and local.replace(fold=0).astimezone(UTC) != local.astimezone(UTC)


def make_trigger(job: JobConfig, settings: Settings) -> BaseTrigger:
    """The APScheduler trigger of ``job``: a wall-clock crontab (``WallClockCronTrigger``) or a sub-daily
    crontab in the clinic's zone, or an interval in seconds counted from INTERVAL_EPOCH."""
    if job.schedule.type == "cron":
        cron = str(job.schedule.value)
        if is_wall_clock(cron):
            return WallClockCronTrigger(cron, settings.zone)
        return CronTrigger.from_crontab(cron, timezone=settings.zone)
    return IntervalTrigger(seconds=int(job.schedule.value), start_date=INTERVAL_EPOCH, timezone=settings.zone)


def fire_times(trigger: BaseTrigger, after: datetime, until: datetime, limit: int = CATCH_UP_LIMIT) -> list[datetime]:
    """Fire times of ``trigger`` in (``after``, ``until``], oldest first, at most ``limit`` of them (UTC)."""
    out: list[datetime] = []
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    t = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while t is not None and t <= until and len(out) < limit:
        if t > after:
            out.append(t.astimezone(UTC))
        t = trigger.get_next_fire_time(t, t)
    return out


def next_fire_time(job: JobConfig, settings: Settings, after: datetime) -> datetime | None:
    """The first instant after ``after`` at which ``job`` will run (a repeated-hour fire time is passed over)."""
    trigger = make_trigger(job, settings)
    t = trigger.get_next_fire_time(None, after)
    while t is not None and job.schedule.type == "cron" and is_wall_clock(str(job.schedule.value)) \
            and is_repeated_hour(t, settings.zone):
        t = trigger.get_next_fire_time(t, t)
    return t


class TickExecutor(BaseExecutor):
    """An APScheduler executor that calls ``job.func(*job.args, run_times)`` with APScheduler's own
    scheduled run times (aware) in a small thread pool of its own.

    APScheduler's stock executors call the function without its scheduled run time and drop run times
    past ``misfire_grace_time`` or beyond ``max_instances``; here every run time reaches the tick, which
    decides (fire-time key, DST, coalescing, misfire policy).
    """

    def __init__(self, max_workers: int = 2) -> None:
        super().__init__()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="medjobs-tick")

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:  # no max_instances: no tick is dropped
        self._do_submit_job(job, run_times)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._pool.submit(self._call, job.func, tuple(job.args), list(run_times))

    @staticmethod
    def _call(func: Callable[..., Any], args: tuple[Any, ...], run_times: list[datetime]) -> None:
        try:
            func(*args, run_times)
        except Exception as exc:  # noqa: BLE001 - a pool thread: say it in one line, never swallow it
            log.error("tick of %s at %s failed: %s", args[0] if args else "?",
                      ", ".join(iso(t) or "" for t in run_times), type(exc).__name__)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait)


# ------------------------------------------------------------------------------------------ recording


def record_fire_times(db: Any, settings: Settings, job_name: str, times: list[datetime], now: datetime,
                      actor: str = "runner") -> list[tuple[datetime, int | None, str | None]]:
    """Record the fire times ``times`` of ``job_name`` that APScheduler handed over together (``now`` is
    only the recording instant).

    The newest is one tick: queued; ``coalesced`` while a scheduled run of the job waits; ``skipped`` if
    the job is paused or (wall-clock schedules) it is the repeated hour's second occurrence; or nothing
    if already recorded. Older ones were missed (APScheduler hands over several only when the process
    was suspended past them) and go through the job's misfire policy (``catch_up``) first.
    Returns (fire time, run id or None, status or None) per row.
    """
    times = sorted(t.astimezone(UTC) for t in times)
    if not times:
        return []
    out = catch_up(db, settings, job_name, times[:-1], now, actor)
    out.append((times[-1], *_record_one(db, settings, job_name, times[-1], now, actor)))
    return out


def _record_one(db: Any, settings: Settings, job_name: str, fire_time: datetime, now: datetime, actor: str,
                trigger: str = "schedule", status: str = "queued", reason: str | None = None):
    job = settings.jobs[job_name]
    if status == "queued" and _wall_clock(job) and is_repeated_hour(fire_time, settings.zone):
        status, reason = "skipped", REPEATED_HOUR
    return store_ticks.record_tick(
        db, job_name=job_name, job_type=job.job_type, queue=job.queue_name, priority=job.priority_rank,
        max_attempts=job.retry_policy.max_attempts, fire_time=fire_time, now=now, trigger=trigger,
        status=status, reason=reason, actor=actor)


def _wall_clock(job: JobConfig) -> bool:
    return job.schedule.type == "cron" and is_wall_clock(str(job.schedule.value))


def catch_up(db: Any, settings: Settings, job_name: str, missed: list[datetime], now: datetime,
             actor: str = "runner", more: bool = False) -> list[tuple[datetime, int | None, str | None]]:
    """Apply ``job_name``'s misfire policy to its ``missed`` fire times (oldest first): one row for them all.

    ``coalesce``: one run with trigger ``catch_up`` at the latest missed fire time (its evidence says
    so), coalesced in turn if a scheduled run of the job already waits. ``skip``: one ``skipped`` row
    naming how many ticks were missed. A repeated-hour occurrence of a wall-clock schedule is not a
    missed run and is left out. Logs one line. ``more`` means the list was cut at CATCH_UP_LIMIT.
    """
    job = settings.jobs[job_name]
    if _wall_clock(job):
        missed = [t for t in missed if not is_repeated_hour(t, settings.zone)]
    if not missed:
        return []
    count = f"more than {len(missed)}" if more else str(len(missed))
    span = iso(missed[0]) if len(missed) == 1 else f"{iso(missed[0])} to {iso(missed[-1])}"
    if job.misfire == "skip":
        reason = f"missed {count} tick(s) at {span} while no runner was running (misfire: skip)"
        run_id, status = _record_one(db, settings, job_name, missed[-1], now, actor, status="skipped", reason=reason)
    else:
        reason = f"catch-up for {count} missed tick(s) at {span} (misfire: coalesce)"
        run_id, status = _record_one(db, settings, job_name, missed[-1], now, actor, trigger="catch_up", reason=reason)
    if run_id is not None:
        log.warning("job %s: %s: run %s %s", job_name, reason, run_id, status)
    return [(missed[-1], run_id, status)]


def catch_up_all(db: Any, settings: Settings, now: datetime, actor: str = "runner") -> list[int]:
    """At a runner's start: for every job, the fire times missed since its watermark (while no runner ran)
    go through its misfire policy; a job never seen before starts being watched from ``now``.
    Returns the ids of the rows recorded."""
    ids: list[int] = []
    for name, job in settings.jobs.items():
        seen = store_ticks.ticks_seen_until(db, name)
        if seen is None:
            store_ticks.start_watching(db, name, now)
            continue
        trigger = make_trigger(job, settings)
        missed = fire_times(trigger, seen, now, CATCH_UP_LIMIT + 1)
        more = len(missed) > CATCH_UP_LIMIT
        if more:   # keep the first ones for the count and find the latest one near now
            latest = next((ts[-1] for back in (3600, 86400, 32 * 86400)
                           if (ts := fire_times(trigger, max(seen, now - timedelta(seconds=back)), now))), None)
            missed = missed[:CATCH_UP_LIMIT] + ([latest] if latest and latest > missed[CATCH_UP_LIMIT - 1] else [])
        for _, run_id, _ in catch_up(db, settings, name, missed, now, actor, more=more):
            if run_id is not None:
                ids.append(run_id)
    return ids
