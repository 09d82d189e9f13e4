"""The operator console's views and bulk actions: filtered runs, a run's story, a job's page, the overview,
the runners alive, the log, exports, and retry or cancel of many runs at once.

A mixin of ``Console`` (console/operations.py): it uses the console's store connection, clock, settings,
role checks and audit. Reads fetch only what a screen shows; every action is audited as the single ones are.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import statistics
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from medjobs_tui.clock import parse_iso
from medjobs_tui.console.errors import ConsoleError
from medjobs_tui.console.logbook import logbook
from medjobs_tui.console.models import (
    Actor, AttemptRow, BulkResult, DayStats, HistoryEntry, JobPage, LogLine, Overview, QueueLoad, RunFilter,
    RunnerInfo, RunRow, RunStory,
)
from medjobs_tui.engine import evidence as evidence_mod
from medjobs_tui.engine import runlog
from medjobs_tui.engine.recovery import LEASE_SECONDS
from medjobs_tui.engine.ticks import next_fire_time
from medjobs_tui.store import alerts as store_alerts
from medjobs_tui.store import runs as store_runs
from medjobs_tui.store import views as store_views

if TYPE_CHECKING:
    from medjobs_tui.console.operations import Console

EXPORT_FORMATS = ("csv", "json")

VIEWS = ("overview", "queue", "jobs", "metrics", "evidence", "notifications", "doses", "validation", "log",
         "alerts", "backups")
"""The views a snapshot can hold (the dashboard's tabs)."""


def retry_words(policy) -> str:
    """A retry policy in words, as ``engine.retry.backoff_seconds`` applies it: fixed waits ``delay`` between
    attempts (``max_delay`` does not apply), exponential doubles it from ``delay`` up to ``max_delay``; with
    ``jitter`` each wait is a random share of that (full jitter)."""
    if policy.backoff == "exponential":
        text = (f"{policy.max_attempts} attempts, {policy.delay:g} s before the second, doubling each time, "
                f"at most {policy.max_delay:g} s")
    else:
        text = f"{policy.max_attempts} attempts, {policy.delay:g} s apart"
    return text + (" (full jitter: a random wait up to that)" if policy.jitter else "")


class ConsoleViews:
    """Views and bulk actions of the Console (mixed into it; ``self`` is the Console)."""

    # ------------------------------------------------------------------ runs

    def find_runs(self: Console, run_filter: RunFilter | None = None, limit: int = 200,
                  include_skipped: bool = True) -> list[RunRow]:
        """The newest runs matching ``run_filter``, newest first: every state (cancelled, coalesced; skipped
        ticks unless ``include_skipped`` is False and no status is asked for); without a status filter every
        queued or running run is included too, however old. Raises ConsoleError for an unknown job."""
        f = run_filter or RunFilter()
        if f.job:
            self._job(f.job)
        exclude = ("skipped",) if not include_skipped and not f.statuses else ()
        return [run_row(r) for r in store_views.find_runs(self.db, limit=limit, job=f.job, statuses=f.statuses,
                                                          since=f.since, text=f.text, exclude=exclude)]

    def run_story(self: Console, run_id: int) -> RunStory:
        """Run ``run_id``'s whole story: state history (who or what moved it), attempts, trigger, evidence.
        Raises ConsoleError if there is no such run."""
        row = store_runs.get_run(self.db, run_id)
        if row is None:
            raise ConsoleError(f"no run {run_id}")
        valid = None
        if row["evidence_path"]:
            valid = evidence_mod.is_valid(self.settings.evidence_dir, row["evidence_path"], row["evidence_sha256"])
        return RunStory(
            run=run_row(row), created_by=row["created_by"],
            history=[HistoryEntry(parse_iso(h["at"]), h["from_status"], h["to_status"], h["actor"], h["note"])
                     for h in store_runs.run_history(self.db, run_id)],
            attempts=[AttemptRow(a["attempt"], parse_iso(a["started_at"]), parse_iso(a["finished_at"]),
                                 a["duration_s"], a["outcome"], a["error"])
                      for a in store_runs.run_attempts(self.db, run_id)],
            evidence_path=row["evidence_path"], evidence_valid=valid,
            summary=json.loads(row["summary"]) if row["summary"] else None,
        )

    # ------------------------------------------------------------------ jobs

    def next_fire_times(self: Console, job_name: str, count: int = 5) -> list[datetime]:
        """The next ``count`` instants (aware UTC) at which ``job_name``'s schedule fires, from now."""
        job = self._job(job_name)
        out: list[datetime] = []
        after = self.clock.now()
        while len(out) < count:
            nxt = next_fire_time(job, self.settings, after)
            if nxt is None:
                break
            out.append(nxt.astimezone(timezone.utc))
            after = nxt + timedelta(microseconds=1)
        return out

    def job_page(self: Console, job_name: str, days: int = 7, limit: int = 50) -> JobPage:
        """Job ``job_name``'s page: its row, next five fire times, policy, newest runs, and per clinic-local day
        of the last ``days`` its attempts' outcomes and median seconds. Raises ConsoleError for an unknown job."""
        job = self._job(job_name)
        row = next(j for j in self.jobs() if j.name == job_name)
        policy = job.retry_policy
        retry = retry_words(policy)
        lines = [("priority", job.priority), ("queue", job.queue_name), ("schedule", row.schedule),
                 ("retry", retry), ("timeout", f"{job.timeout:g} s"),
                 ("alerts", "on a dead run" if job.monitoring_config.alerts_enabled else "off")]
        now = self.clock.now()
        zone = self.settings.zone
        start_day = (now.astimezone(zone) - timedelta(days=days - 1)).date()
        since = datetime.combine(start_day, datetime.min.time(), zone)
        buckets: dict[str, list[dict[str, Any]]] = {
            (start_day + timedelta(days=i)).isoformat(): [] for i in range(days)}
        for a in store_views.job_attempts_since(self.db, job_name, since):
            day = parse_iso(a["finished_at"]).astimezone(zone).date().isoformat()
            buckets.setdefault(day, []).append(a)
        stats = []
        for day, attempts in sorted(buckets.items()):
            durations = [a["duration_s"] for a in attempts if a["duration_s"] is not None]
            stats.append(DayStats(
                day, sum(a["outcome"] == "succeeded" for a in attempts), sum(a["outcome"] == "failed" for a in attempts),
                sum(a["outcome"] == "timed_out" for a in attempts), statistics.median(durations) if durations else None))
        runs = self.find_runs(RunFilter(job=job_name), limit)
        dead = [r["id"] for r in store_views.find_runs(self.db, limit=10_000, job=job_name, statuses=("dead",))]
        return JobPage(row, self.next_fire_times(job_name), lines, runs, stats, dead)

    # ------------------------------------------------------------------ overview and runners

    def runners_alive(self: Console) -> list[RunnerInfo]:
        """The runners serving this store now (heartbeat within the lease); this console's own marked."""
        own = getattr(self.runner, "id", None)
        after = self.clock.now() - timedelta(seconds=LEASE_SECONDS)
        return [RunnerInfo(r["id"], parse_iso(r["started_at"]), parse_iso(r["heartbeat_at"]), r["id"] == own)
                for r in store_views.live_runners(self.db, after)]

    def change_token(self: Console) -> tuple[int, int, str | None]:
        """What tells whether the store may have changed, read on this thread's connection: (that connection's
        id, its ``data_version``, the embedded runner's state in words). Two equal tokens mean no other
        connection committed in between and the runner's state is the same; this connection's own writes
        do not change it (a caller that wrote refreshes anyway)."""
        db = self.db
        return id(db), store_views.data_version(db), self.runner_status()

    def status_counts(self: Console) -> dict[str, int]:
        """How many runs are in each state."""
        return store_views.status_counts(self.db)

    def overview(self: Console) -> Overview:
        """The landing page's figures (see ``Overview``): computed in SQL, a handful of rows whatever the store's size."""
        now = self.clock.now().replace(second=0, microsecond=0)
        minutes = [now - timedelta(minutes=59 - i) for i in range(60)]
        index = {m.isoformat(timespec="minutes")[:16]: i for i, m in enumerate(minutes)}
        series = {"succeeded": [0] * 60, "failed": [0] * 60, "timed_out": [0] * 60}
        for minute, outcome, n in store_views.attempts_per_minute(self.db, minutes[0]):
            if outcome in series and minute in index:
                series[outcome][index[minute]] += n
        load = store_views.queue_load(self.db)
        queues = [QueueLoad(name, load.get(name, {}).get("queued", 0), load.get(name, {}).get("running", 0),
                            q.concurrency, load.get(name, {}).get("busy", 0))
                  for name, q in self.settings.runner.queues.items()]
        jobs = self.jobs()
        return Overview(
            minutes=minutes, succeeded=series["succeeded"], failed=series["failed"], timed_out=series["timed_out"],
            queues=queues, next_fires=[(j.name, j.next_run_at) for j in sorted(
                jobs, key=lambda j: (j.next_run_at is None, j.next_run_at or now))],
            staff_alerts_24h=store_views.staff_alerts_since(self.db, self.clock.now() - timedelta(hours=24)),
            dead_runs=self.status_counts().get("dead", 0), runners=self.runners_alive(),
            runner_problem=self.runner_status(),
            open_alerts=store_alerts.count_by_state(self.db).get("open", 0),
        )

    def log_lines(self: Console, min_level: str = "INFO", limit: int = 500, own: bool = True) -> list[LogLine]:
        """The newest runner log lines at ``min_level`` or above, newest first (masked at the source): this
        process's own (kept in memory, live) and those every other runner of the clinic (a headless
        ``medjobs run``, another console) wrote to its log file (``engine.runlog``); without ``own``, only
        the file's (``medjobs log``: a command has no runner of its own). Raises ConsoleError for an unknown
        level."""
        try:
            mine = logbook().lines(min_level, limit) if own else []
            try:
                others = [LogLine(f.key, f.at, f.level, f.logger, f.message, source=f.source)
                          for f in runlog.read_lines(self.settings, min_level, limit)
                          if not own or f.source != runlog.SOURCE]
            except OSError:                         # an unreadable log file leaves this console's own lines
                others = []
        except ValueError as exc:
            raise ConsoleError(str(exc)) from None
        return sorted(mine + others, key=lambda line: line.at, reverse=True)[:limit]

    def follow_log(self: Console, min_level: str = "INFO", poll_s: float = 0.5,
                   sleep: Callable[[float], None] | None = None) -> Iterator[LogLine]:
        """Each line at ``min_level`` or above the clinic's runners write from now on, as it comes (see
        ``engine.runlog.follow``); runs until the caller stops. Raises ConsoleError for an unknown level."""
        try:
            floor = runlog.level_floor(min_level)
        except ValueError as exc:
            raise ConsoleError(str(exc)) from None
        extra = {} if sleep is None else {"sleep": sleep}
        for f in runlog.follow(self.settings, poll_s, **extra):
            if runlog.level_floor(f.level) >= floor:
                yield LogLine(f.key, f.at, f.level, f.logger, f.message, source=f.source)

    # ------------------------------------------------------------------ bulk actions

    def retry_many(self: Console, actor: Actor, run_ids: Iterable[int]) -> BulkResult:
        """Retry each run of ``run_ids`` (see ``retry``); each is audited. A run that cannot be retried is
        left and reported; a role that may not retry is refused before any run changes (PermissionDenied)."""
        return self._bulk(actor, "run.retry", run_ids, self.retry)

    def cancel_many(self: Console, actor: Actor, run_ids: Iterable[int]) -> BulkResult:
        """Cancel each queued run of ``run_ids``; each is audited; the others are reported with the reason."""
        return self._bulk(actor, "run.cancel", run_ids, self.cancel)

    def dead_runs(self: Console, job_name: str) -> list[int]:
        """The ids of job ``job_name``'s dead runs, oldest first (for "retry all dead runs of this job")."""
        self._job(job_name)
        return sorted(r["id"] for r in store_views.find_runs(self.db, limit=10_000, job=job_name, statuses=("dead",)))

    def _bulk(self: Console, actor: Actor, action: str, run_ids: Iterable[int], one) -> BulkResult:
        ids = list(dict.fromkeys(int(i) for i in run_ids))
        if not ids:
            raise ConsoleError("no runs selected")
        self.authorise(actor, action, f"runs:{len(ids)}")
        done, refused = [], []
        for run_id in ids:
            try:
                one(actor, run_id)
            except ConsoleError as exc:
                refused.append((run_id, str(exc)))
            else:
                done.append(run_id)
        return BulkResult(done, refused)

    # ------------------------------------------------------------------ export

    def export_table(self: Console, actor: Actor, view: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
                     path: Path, fmt: str | None = None, *, overwrite: bool = False) -> Path:
        """Write a view's rows (as shown: pseudonyms, masked errors) to ``path`` as CSV or JSON (``fmt``, else
        from the suffix; CSV cells that a spreadsheet would run as a formula escaped, see ``csv_cell``); audited
        with the view, the row count and the format. Returns the path written. A file already at ``path`` is
        replaced only with ``overwrite`` (the dashboard asks first). Raises ConsoleError for an unknown format,
        an existing file without ``overwrite`` or a path that cannot be written (nothing half-written)."""
        path = Path(path).expanduser()
        fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
        if fmt not in EXPORT_FORMATS:
            raise ConsoleError(f"export format must be csv or json (got {fmt!r})")
        self.authorise(actor, "view.export", f"view:{view}")
        if path.exists() and not overwrite:
            self._audit_export_refused(actor, view, fmt, path)
            raise ConsoleError(f"{path} already exists; nothing written (choose another name, or confirm replacing it)")
        text = render_table(columns, rows, fmt)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = write_temp_beside(path, text)      # a fresh name: a link planted there is never followed
            if overwrite:
                tmp.replace(path)
            else:
                try:
                    os.link(tmp, path)           # fails if a file appeared there meanwhile: never replaced unasked
                except FileExistsError:
                    self._audit_export_refused(actor, view, fmt, path)
                    raise ConsoleError(f"{path} already exists; nothing written (choose another name, or confirm "
                                       "replacing it)") from None
                except OSError:                  # a file system without hard links
                    if path.exists():
                        raise ConsoleError(f"{path} already exists; nothing written") from None
                    tmp.replace(path)
                finally:
                    tmp.unlink(missing_ok=True)
        except OSError as exc:
            try:
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise ConsoleError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
        self._audit_ok(actor, "view.export", f"view:{view}", {"rows": len(rows), "format": fmt, "file": path.name})
        return path

    def _audit_export_refused(self: Console, actor: Actor, view: str, fmt: str, path: Path) -> None:
        """Audit an export refused because a file is already at ``path`` (outcome error; the file name only)."""
        from medjobs_tui.security import audit

        audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role, action="view.export",
                     target=f"view:{view}", outcome="error", at=self.clock.now(),
                     detail={"format": fmt, "file": path.name, "reason": "file exists"})


def write_temp_beside(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a new temporary file beside ``path`` (``.<name>.<16 random hex>.part``, mode 0600)
    and return its path, for the caller to rename into place. The file is created with O_CREAT|O_EXCL|O_NOFOLLOW:
    a file or symbolic link someone planted under that name is never opened or followed (with a random name,
    nothing can be planted in advance). Raises OSError when the folder cannot be written. Source: CWE-59 (link
    following), CWE-377 (insecure temporary file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(16):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp
    raise FileExistsError(f"{path.parent}: no free temporary file name")


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """``rows`` under ``columns`` as CSV (RFC 4180: a header line, then one line per row, CRLF; cells escaped by
    ``csv_cell``) or JSON (a list of objects)."""
    if fmt == "json":
        return json.dumps([dict(zip(columns, row)) for row in rows], indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")    # RFC 4180; a cell holding a CR or LF is then quoted
        writer.writerow([csv_cell(c) for c in columns])
        writer.writerows([csv_cell(c) for c in row] for row in rows)
        return buffer.getvalue()
    raise ValueError(f"unknown format {fmt!r}")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a CSV cell as a formula (OWASP, CSV Injection)."""

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: one that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a single quote in front (OWASP's CSV Injection guidance), unless it is a plain number
    (``-3``, ``+1.5``) or the lone ``-`` that stands for nothing, which no spreadsheet runs. None is empty."""
    text = "" if value is None else str(value)
    if text[:1] in FORMULA_START and text != "-" and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def run_row(r: dict[str, Any]) -> RunRow:
    """A runs row of the store as the console's RunRow (priority by name)."""
    from medjobs_tui.console.operations import PRIORITY_NAMES

    return RunRow(
        id=r["id"], job_name=r["job_name"], job_type=r["job_type"], queue=r["queue"],
        priority=PRIORITY_NAMES.get(r["priority"], str(r["priority"])), status=r["status"], attempt=r["attempt"],
        max_attempts=r["max_attempts"], trigger=r["trigger"], scheduled_at=parse_iso(r["scheduled_at"]),
        available_at=parse_iso(r["available_at"]), started_at=parse_iso(r["started_at"]),
        finished_at=parse_iso(r["finished_at"]), duration_s=r["duration_s"], error=r["error"],
        progress_done=r.get("progress_done"), progress_total=r.get("progress_total"),
        progress_at=parse_iso(r.get("progress_at")),
    )
