"""MedJobs' metrics in the Prometheus text exposition format (``prometheus_client``), for an existing monitoring stack.

Every value is read from the store when collected (nothing is kept in process memory), so the CLI, the
dashboard and the runner's textfile all show the same figures as ``medjobs metrics``. Labels carry job
names and statuses only: never patient data. Durations in seconds, ratios in 0..1, instants as Unix
seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from medjobs_tui import __version__
from medjobs_tui.config import Settings
from medjobs_tui.engine import validation
from medjobs_tui.engine.metrics import job_metrics
from medjobs_tui.store import runs as store_runs

STATUSES = ("valid", "failing", "stale")
"""The values of ``medjobs_job_validation_status``'s ``status`` label (one is 1, the others 0)."""


class MedJobsCollector(Collector):
    """Collects the per-job metrics and validation status from ``db`` at ``now()`` on every scrape."""

    def __init__(self, db: Any, settings: Settings, now) -> None:
        self.db, self.settings, self.now = db, settings, now

    def collect(self) -> Iterator[Any]:
        attempts = store_runs.attempts_by_job(self.db)
        terminal = store_runs.terminal_runs_by_job(self.db)
        metrics = [job_metrics(name, attempts.get(name, []), terminal.get(name, []), self.settings.evidence_dir)
                   for name in self.settings.jobs]
        checks = {v.job_name: v for v in validation.evaluate(self.db, self.settings, self.now())}
        info = InfoMetricFamily("medjobs", "MedJobs build and clinic")
        info.add_metric([], {"version": __version__})
        yield info
        runs = CounterMetricFamily("medjobs_job_runs", "Finished runs (succeeded or dead)", labels=["job"])
        att = CounterMetricFamily("medjobs_job_attempts", "Finished attempts", labels=["job"])
        retries = CounterMetricFamily("medjobs_job_retries", "Attempts after the first of their run", labels=["job"])
        timeouts = CounterMetricFamily("medjobs_job_timeouts", "Attempts stopped at the job's timeout", labels=["job"])
        success = GaugeMetricFamily("medjobs_job_success_ratio", "Share of finished attempts that succeeded (0..1)",
                                    labels=["job"])
        errors = GaugeMetricFamily("medjobs_job_error_ratio", "Share of finished attempts that failed, timed out "
                                   "or crashed (0..1)", labels=["job"])
        last = GaugeMetricFamily("medjobs_job_last_duration_seconds", "Duration of the latest attempt", labels=["job"])
        p50 = GaugeMetricFamily("medjobs_job_duration_p50_seconds", "Median attempt duration", labels=["job"])
        p95 = GaugeMetricFamily("medjobs_job_duration_p95_seconds", "95th percentile attempt duration", labels=["job"])
        valid = GaugeMetricFamily("medjobs_job_validation_status", "1 for the job's validation status now, 0 for "
                                  "the others", labels=["job", "status"])
        last_run = GaugeMetricFamily("medjobs_job_last_run_timestamp_seconds", "When the latest run finished "
                                     "(Unix seconds)", labels=["job"])
        for m in metrics:
            job = [m.job_name]
            runs.add_metric(job, m.runs)
            att.add_metric(job, m.attempts)
            retries.add_metric(job, m.retry_count)
            timeouts.add_metric(job, m.timeout_count)
            for family, value in ((success, m.success_rate), (errors, m.error_rate), (last, m.last_duration_s),
                                  (p50, m.p50_duration_s), (p95, m.p95_duration_s)):
                if value is not None:
                    family.add_metric(job, value)
            check = checks[m.job_name]
            for status in STATUSES:
                valid.add_metric([m.job_name, status], 1.0 if check.status == status else 0.0)
            if check.last_run_at is not None:
                last_run.add_metric(job, check.last_run_at.timestamp())
        yield from (runs, att, retries, timeouts, success, errors, last, p50, p95, valid, last_run)
        waiting = GaugeMetricFamily("medjobs_runs_waiting", "Runs queued or waiting out a backoff")
        waiting.add_metric([], store_runs.runs_waiting(self.db))
        yield waiting


def registry(db: Any, settings: Settings, now) -> CollectorRegistry:
    """A registry holding only MedJobs' collector over ``db`` (``now``: a callable giving aware UTC)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(MedJobsCollector(db, settings, now))
    return reg


def exposition(db: Any, settings: Settings, now) -> str:
    """The metrics as Prometheus text exposition format 0.0.4 (UTF-8 text)."""
    return generate_latest(registry(db, settings, now)).decode("utf-8")


def write_textfile(db: Any, settings: Settings, now, path: Path) -> None:
    """Rewrite ``path`` atomically (temporary file, then rename) with the metrics, for node_exporter's
    textfile collector. Raises OSError when the folder cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry(db, settings, now))
