"""config.yaml -> validated, typed settings; a bad file raises ConfigError naming key, line and what is allowed.

The file is validated with pydantic. Every error is reported against the YAML source: the dotted key,
the line it stands on (1-based) and what is allowed there, e.g.::

    config.yaml:14: jobs.backup.timeout: must be greater than 0 (got -5)

Paths in the file are relative to the file itself, so two config files in two folders never share a
database, backups or evidence. The file is chosen by ``--config PATH``, else ``MEDJOBS_CONFIG``, else
``./config.yaml``.
"""

from __future__ import annotations

import functools

import ipaddress
import logging
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError, ValidationInfo,
    field_validator, model_validator,
)

JOB_TYPES = (
    "medication_reminder",
    "refill_check",
    "interaction_check",
    "supply_monitor",
    "analytics_rollup",
    "backup",
)
"""The six kinds of job MedJobs runs; each has one handler in ``medjobs_tui.jobs``."""

PRIORITIES = {"critical": 3, "high": 2, "normal": 1, "low": 0}
"""Priority names -> rank; the dispatcher claims the highest rank first."""

DEFAULT_QUEUE_BY_TYPE = {
    "medication_reminder": "clinical",
    "refill_check": "clinical",
    "interaction_check": "clinical",
    "supply_monitor": "clinical",
    "analytics_rollup": "maintenance",
    "backup": "maintenance",
}
"""Routing of job types to queues when a job names no queue of its own."""

ENV_VAR = "MEDJOBS_CONFIG"
MAX_TIMEOUT_S = 24 * 3600
"""No job may run longer than a day: a longer timeout is a typo, not a plan."""
MAX_INTERVAL_S = 366 * 24 * 3600
"""An interval schedule fires at least once a year (366 days, in seconds): a longer one is a typo."""
MAX_ERRORS_SHOWN = 20
"""A bad config file reports every problem, one per line, up to this many (then how many more)."""
JOB_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""Job names are identifiers: they appear in dedupe keys, file names, logs and the audit trail."""
FORBIDDEN_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
"""Kernel and device trees: no store, backup or evidence path may lie in them."""

JobName = Annotated[str, StringConstraints(pattern=JOB_NAME_PATTERN)]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

# How many administrations a day each standard timing code means; the clinic's table must give
# exactly that many clock times. Source: HL7 v3 GTSAbbreviation / FHIR Timing.code value set.
TIMING_CODE_DOSES_PER_DAY = {
    "QD": 1, "QHS": 1, "BID": 2, "TID": 3, "QID": 4,
    "Q4H": 6, "Q6H": 4, "Q8H": 3, "Q12H": 2, "Q3H": 8, "Q2H": 12, "Q1H": 24,
}


DEFAULT_EVENT_TIMES: dict[str, list[str]] = {
    "WAKE": ["07:00"], "MORN": ["08:00"], "MORN.early": ["07:00"], "MORN.late": ["10:00"], "NOON": ["12:00"],
    "AFT": ["14:00"], "AFT.early": ["13:00"], "AFT.late": ["16:00"], "EVE": ["18:00"], "EVE.early": ["17:00"],
    "EVE.late": ["20:00"], "NIGHT": ["22:00"], "PHS": ["20:30"], "HS": ["21:00"],
    "C": ["08:00", "12:00", "18:00"], "CM": ["08:00"], "CD": ["12:00"], "CV": ["18:00"],
    "AC": ["07:30", "11:30", "17:30"], "ACM": ["07:30"], "ACD": ["11:30"], "ACV": ["17:30"],
    "PC": ["08:30", "12:30", "18:30"], "PCM": ["08:30"], "PCD": ["12:30"], "PCV": ["18:30"],
}
"""The clinic's default EventTiming table (FHIR R4 valueset-event-timing: code -> local HH:MM). Meal codes
C/CM/CD/CV are the meal times; AC codes 30 minutes before, PC codes 30 minutes after. With an ``offset`` the
dose is that many minutes before (AC) or after (PC and every other code) the meal or event
(``clinical.timing.event_clock_time``). No standard sets these clock times: the clinic's choice."""


class ConfigError(Exception):
    """The configuration file cannot be used; ``str(err)`` is one message fit for an operator."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bools_for_numbers(cls, data: Any) -> Any:
        """YAML's ``true``/``false`` must not pass as 1/0 where a number is wanted (``timeout: true``)."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                value = data.get(name)
                if isinstance(value, bool) and field.annotation in (int, float):
                    raise ValueError(f"{name}: expected a number, got {str(value).lower()}")
        return data


class Schedule(_Strict):
    """When a job ticks: ``cron`` (five-field crontab in the clinic's zone) or ``interval`` (seconds)."""

    type: Literal["cron", "interval"]
    value: str | int

    @model_validator(mode="after")
    def _check_value(self) -> "Schedule":
        if self.type == "cron":
            if not isinstance(self.value, str):
                raise ValueError("a cron schedule's value is a crontab string like '*/15 * * * *'")
            try:
                CronTrigger.from_crontab(self.value)
            except ValueError as exc:
                raise ValueError(
                    f"bad cron expression {self.value!r}: {exc}; allowed: five fields "
                    "'minute hour day month weekday', e.g. '0 2 * * *'"
                ) from None
        else:
            if isinstance(self.value, bool) or not isinstance(self.value, int) or self.value <= 0:
                raise ValueError("an interval schedule's value is a whole number of seconds > 0")
            if self.value > MAX_INTERVAL_S:
                raise ValueError(f"an interval schedule's value is at most {MAX_INTERVAL_S} seconds "
                                 f"(366 days), got {self.value}")
        return self


class RetryPolicy(_Strict):
    """How a failed or timed-out run is retried.

    ``max_attempts`` counts every attempt including the first; ``delay`` is the wait in seconds before
    the next attempt. With ``backoff: exponential`` the wait before attempt n+1 is
    ``delay * 2**(n-1)``, capped at ``max_delay`` seconds. With ``jitter: true`` the wait is drawn
    uniformly between 0 and that value ("full jitter"; formula and source in ``engine.retry``).
    ``delay`` is at most a day, ``max_delay`` a week.
    """

    max_attempts: Annotated[int, Field(ge=1, le=25)] = 3
    delay: Annotated[float, Field(ge=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)] = 60
    backoff: Literal["fixed", "exponential"] = "fixed"
    max_delay: Annotated[float, Field(gt=0, le=7 * MAX_TIMEOUT_S, allow_inf_nan=False)] = 3600
    jitter: bool = False


class ValidationRules(_Strict):
    """What a run must leave behind to count as valid."""

    critical_path: bool = False
    evidence_required: bool = True


class MonitoringConfig(_Strict):
    """Whether a job's metrics are shown and its failures raise alerts."""

    metrics_enabled: bool = True
    alerts_enabled: bool = True


class _Options(_Strict):
    """Options of one job type; unknown keys are refused."""


class ReminderOptions(_Options):
    """medication_reminder: the look-ahead window and the look-back for missed reminders."""

    window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    lookback_hours: Annotated[float, Field(gt=0, le=7 * 24)] = 24


class RefillOptions(_Options):
    """refill_check: per-job overrides of the clinic's refill thresholds."""

    refill_lead_days: Annotated[int, Field(ge=0, le=90)] | None = None
    refill_elapsed_fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    refill_elapsed_fraction_controlled: Annotated[float, Field(gt=0, le=1)] | None = None


class InteractionOptions(_Options):
    """interaction_check: a clinic's own (licensed) knowledge base file, relative to config.yaml."""

    knowledge_base: str | None = None


class SupplyOptions(_Options):
    """supply_monitor: per-job overrides of the supply thresholds (days)."""

    critical_supply_days: Annotated[int, Field(ge=0, le=90)] | None = None
    low_supply_days: Annotated[int, Field(ge=0, le=90)] | None = None


class AnalyticsOptions(_Options):
    """analytics_rollup: roll up this clinic-local day instead of yesterday."""

    day: date | None = None


class BackupOptions(_Options):
    """backup: retention. Keep the newest verified backup of each of the last ``keep_daily`` days that have
    one, and of each of the last ``keep_weekly`` ISO weeks (clinic time); remove the others' files
    (as restic ``forget --keep-daily --keep-weekly``)."""

    keep_daily: Annotated[int, Field(ge=1, le=366)] = 7
    keep_weekly: Annotated[int, Field(ge=0, le=520)] = 4


OPTIONS_BY_TYPE: dict[str, type[_Options]] = {
    "medication_reminder": ReminderOptions, "refill_check": RefillOptions,
    "interaction_check": InteractionOptions, "supply_monitor": SupplyOptions,
    "analytics_rollup": AnalyticsOptions, "backup": BackupOptions,
}
"""The options each job type understands (config.yaml ``jobs.<name>.options``)."""


class JobConfig(_Strict):
    """One job of config.yaml in the seed's ``job_config`` shape.

    ``timeout`` is in seconds; at the timeout the worker process is killed. ``misfire`` says what becomes
    of ticks missed while no runner ran: ``coalesce`` (default) queues one catch-up run for all of them,
    ``skip`` records them as one skipped row. ``options`` holds job-type specific settings (for example
    ``window_minutes`` of the medication reminder).
    """

    priority: Literal["critical", "high", "normal", "low"]
    job_type: Literal[
        "medication_reminder", "refill_check", "interaction_check",
        "supply_monitor", "analytics_rollup", "backup",
    ]
    schedule: Schedule
    retry_policy: RetryPolicy = RetryPolicy()
    timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)]
    misfire: Literal["coalesce", "skip"] = "coalesce"
    queue: str | None = None
    validation_rules: ValidationRules = ValidationRules()
    monitoring_config: MonitoringConfig = MonitoringConfig()
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options_fit_the_job_type(self, info: ValidationInfo) -> "JobConfig":
        try:
            OPTIONS_BY_TYPE[self.job_type].model_validate(self.options)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "options"
            known = ", ".join(OPTIONS_BY_TYPE[self.job_type].model_fields) or "none"
            msg = "is not an option of this job type" if err["type"] == "extra_forbidden" else err["msg"]
            raise ValueError(f"options.{key}: {msg} (options of {self.job_type}: {known})") from None
        kb = self.options.get("knowledge_base")
        base = (info.context or {}).get("base_dir")
        if kb and base is not None:
            if not (Path(base) / kb).is_file():
                raise ValueError(f"options.knowledge_base: no file {kb!r} beside the config file")
            from medjobs_tui.clinical.interactions import KnowledgeBaseError, load_knowledge_base

            try:                  # a file every run would fail on stops start-up instead
                load_knowledge_base(Path(base) / kb)
            except (KnowledgeBaseError, OSError) as exc:
                raise ValueError(f"options.knowledge_base: {kb!r} cannot be used: {exc}") from None
        return self

    @model_validator(mode="after")
    def _queue_exists(self, info: ValidationInfo) -> "JobConfig":
        queues = (info.context or {}).get("queues")
        if queues is not None and self.queue_name not in queues:
            raise ValueError(
                f"routed to queue {self.queue_name!r}, which runner.queues does not define; "
                f"allowed: {', '.join(sorted(queues))}"
            )
        return self

    @property
    def priority_rank(self) -> int:
        """The numeric rank of ``priority`` (critical 3 .. low 0)."""
        return PRIORITIES[self.priority]

    @property
    def queue_name(self) -> str:
        """The queue this job is routed to: its own ``queue`` or its job type's default."""
        return self.queue or DEFAULT_QUEUE_BY_TYPE[self.job_type]


class Thresholds(_Strict):
    """Clinical thresholds, in days unless named otherwise. No standard sets the supply ones."""

    refill_lead_days: Annotated[int, Field(ge=0, le=90)] = 7
    critical_supply_days: Annotated[int, Field(ge=0, le=90)] = 3
    low_supply_days: Annotated[int, Field(ge=0, le=90)] = 7
    refill_elapsed_fraction: Annotated[float, Field(gt=0, le=1)] = 0.75
    refill_elapsed_fraction_controlled: Annotated[float, Field(gt=0, le=1)] = 0.85
    """The elapsed share of a fill's days supply at which a controlled substance's refill is due (DOMAIN.md
    "Refill due": 85-90% for C-III..V; ``clinical.controlled``)."""
    reminder_catch_up_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 60

    @model_validator(mode="after")
    def _critical_is_below_low(self) -> "Thresholds":
        if self.critical_supply_days > self.low_supply_days:
            raise ValueError(
                f"critical_supply_days ({self.critical_supply_days}) must not exceed low_supply_days "
                f"({self.low_supply_days}): critical is the more urgent level"
            )
        return self


class ClinicConfig(_Strict):
    """The clinic: its IANA time zone and its administration-time table (timing code -> HH:MM list)."""

    name: str = "Clinic"
    timezone: str
    administration_times: dict[str, list[str]]
    event_times: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_EVENT_TIMES))
    thresholds: Thresholds = Thresholds()
    controlled_substances: dict[Annotated[str, Field(min_length=1, max_length=100,
                                                     pattern=r"^[A-Za-z][A-Za-z ,.'()/+-]*$")],
                                Literal["II", "III", "IV", "V"]] = Field(default_factory=dict)
    """Ingredients the clinic's state schedules beyond the packaged DEA table (``clinical.controlled``), with
    their schedule: ``{ingredient: II | III | IV | V}``. Ingredient names as RxNorm gives them (letters, no
    strength or form: "gabapentin", not "Neurontin 300 mg")."""

    @field_validator("event_times")
    @classmethod
    def _event_times_are_clock_times(cls, table: dict[str, list[str]]) -> dict[str, list[str]]:
        for code, times in table.items():
            if not isinstance(times, list) or not times:
                raise ValueError(f"{code}: give a list of one or more 'HH:MM' times")
            for t in times:
                if not isinstance(t, str) or not _HHMM.match(t):
                    raise ValueError(f"{code}: {t!r} is not a clock time; allowed: 'HH:MM' (24-hour)")
            if sorted(times) != list(times) or len(set(times)) != len(times):
                raise ValueError(f"{code}: times must be distinct and in order, got {times}")
        return {**DEFAULT_EVENT_TIMES, **table}

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; allowed: an IANA zone name such as 'America/New_York'"
            ) from None
        return value

    @field_validator("administration_times")
    @classmethod
    def _table_is_complete(cls, table: dict[str, list[str]]) -> dict[str, list[str]]:
        for code in ("QD", "BID", "TID", "QID"):
            if code not in table:
                raise ValueError(f"missing timing code {code}; the table needs at least QD, BID, TID, QID")
        for code, times in table.items():
            for t in times:
                if not isinstance(t, str) or not _HHMM.match(t):
                    raise ValueError(f"{code}: {t!r} is not a clock time; allowed: 'HH:MM' (24-hour)")
            if sorted(times) != list(times) or len(set(times)) != len(times):
                raise ValueError(f"{code}: times must be distinct and in order, got {times}")
            want = TIMING_CODE_DOSES_PER_DAY.get(code)
            if want is not None and len(times) != want:
                raise ValueError(f"{code}: means {want} doses a day, so it needs {want} times, got {len(times)}")
        return table


class QueueConfig(_Strict):
    """A queue: how many of its runs may execute at once."""

    concurrency: Annotated[int, Field(ge=1, le=16)] = 1


class RunnerConfig(_Strict):
    """The embedded runner: dispatcher poll interval (seconds), the queues, and ``retention_days``: finished
    runs older than this are folded into daily metrics and removed (their evidence files stay)."""

    poll_interval: Annotated[float, Field(gt=0, le=60)] = 1.0
    retention_days: Annotated[int, Field(ge=1, le=3660)] = 90
    queues: dict[str, QueueConfig] = Field(
        default_factory=lambda: {"clinical": QueueConfig(concurrency=2), "maintenance": QueueConfig(concurrency=1)}
    )


AUDIENCES = ("patient", "staff", "prescriber")
"""Who a notification is for; every template names one (``notify.outbox.TEMPLATES``)."""

_CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")


def quiet_apprise() -> None:
    """Keep apprise's own log lines (which may quote a channel URL, its secret or a recipient address) out
    of MedJobs' logs: its logger stops propagating and discards what it is given. urllib3 (under apprise's
    web channels) logs hosts and request paths, where webhook tokens live: only its errors pass. Idempotent."""
    logger = logging.getLogger("apprise")
    logger.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def channel_plugin(url: str):
    """The apprise plugin object for ``url`` (a new one each call), or None if apprise does not understand it.

    Never logs the URL: apprise is quietened first.
    """
    import apprise  # here, not at the top: a clinic without channels never loads it (a fifth of start-up)

    quiet_apprise()
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - a malformed URL is a config error, reported without the URL
        return None


class ChannelConfig(_Strict):
    """One outgoing notification channel: an apprise URL and the audiences it serves.

    ``url`` is an apprise URL (``mailtos://user:pass@smtp.example.org?to=staff@example.org``, an SMS
    gateway, a chat webhook), or ``url_env`` names an environment variable holding it so the secret stays out
    of the file. The URL is never shown or logged: only the channel's name and scheme are.
    ``on_interrupted`` decides what happens to a send cut short between sending and recording it (the
    outcome is unknown): ``skip`` (the default: at most once; recorded ``unconfirmed``, never re-sent) or
    ``resend`` (sent again with the same idempotency-key header, for receivers that drop a key they have
    seen; only for channels that carry headers: e-mail, JSON/XML/form webhooks).

    Transmission security (45 CFR 164.312(e)(1)): a channel must use TLS. A scheme that apprise sends in clear
    text (``mailto://`` without a TLS mode apprise knows for the host, ``json://``, ``form://``, ``xml://``,
    ``ntfy://``...) is refused, unless its host is this machine (``localhost``, ``127.0.0.0/8``, ``::1``: the
    message never crosses a network) or ``allow_plaintext: true`` says in writing that the clinic accepts it
    (a relay on its own network); check-config then warns about it. Schemes that only exist over HTTPS
    (``slack://``, ``tgram://``...) pass.
    """

    audience: list[Literal["patient", "staff", "prescriber"]]
    url: SecretStr | None = None
    url_env: str | None = None
    on_interrupted: Literal["skip", "resend"] = "skip"
    allow_plaintext: bool = False

    @field_validator("audience")
    @classmethod
    def _audience_given(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"name at least one audience; allowed: {', '.join(AUDIENCES)}")
        if len(set(value)) != len(value):
            raise ValueError("an audience is listed twice")
        return value

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name like MEDJOBS_SMTP_URL")
        return value

    @model_validator(mode="after")
    def _url_is_usable(self) -> "ChannelConfig":
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url (an apprise URL) or url_env (a variable holding it)")
        if self.url_env is not None and not os.environ.get(self.url_env):
            raise ValueError(f"url_env: environment variable {self.url_env} is not set")
        plugin = channel_plugin(self.resolved_url())
        if plugin is None:
            raise ValueError(f"the {self.scheme}:// URL is not one apprise can send to (URL not shown: it may "
                             "hold a secret); see apprise's list of services")
        if self.sends_in_clear_text(plugin) and not self.allow_plaintext:
            raise ValueError(f"the {self.scheme}:// channel would send without TLS to another machine (45 CFR "
                             f"164.312(e)(1) transmission security): use its TLS scheme (mailtos://, jsons://, "
                             f"forms://...) or, for a relay on the clinic's own network, set allow_plaintext: true")
        if self.on_interrupted == "resend" and not isinstance(getattr(plugin, "headers", None), dict):
            raise ValueError(f"on_interrupted: resend needs a channel that carries the idempotency-key header "
                             f"(e-mail, json, xml, form); {self.scheme}:// cannot, so use skip")
        return self

    def sends_in_clear_text(self, plugin: Any = None) -> bool:
        """True if the channel sends without TLS to a host other than this machine.

        apprise marks a plugin that has both a clear and a TLS scheme (``protocol`` and ``secure_protocol``)
        with ``secure``; a plugin with only a TLS scheme (HTTPS APIs) is never clear text. ``plugin`` is the
        apprise object for the URL (made here when not given)."""
        plugin = plugin if plugin is not None else channel_plugin(self.resolved_url())
        if plugin is None or not getattr(type(plugin), "protocol", None) or getattr(plugin, "secure", True):
            return False
        host = str(getattr(plugin, "host", "") or "").strip("[]").lower()
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True

    def resolved_url(self) -> str:
        """The channel's apprise URL (a secret: never log or show it)."""
        if self.url is not None:
            return self.url.get_secret_value()
        return os.environ.get(self.url_env or "", "")

    @property
    def scheme(self) -> str:
        """The URL's scheme (``mailtos``, ``json``...), safe to show; ``?`` if there is none."""
        url = self.resolved_url()
        head, sep, _ = url.partition("://")
        return head.lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,31}", head) else "?"


class DeliveryRetry(_Strict):
    """How a failed send is retried: ``max_attempts`` sends in all; the wait before send n+1 is
    ``delay * 2**(n-1)`` seconds, capped at ``max_delay``."""

    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    delay: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)] = 30
    max_delay: Annotated[float, Field(gt=0, le=7 * MAX_TIMEOUT_S, allow_inf_nan=False)] = 3600


class NotificationsConfig(_Strict):
    """Delivery of the outbox (``notifications:`` in config.yaml).

    Every notification goes to the in-app inbox (the Notifications tab); ``channels`` add outgoing ones by
    audience. ``poll_interval`` (seconds) is how often the runner looks for due rows; ``claim_timeout``
    (seconds) is how long a send may stay unconfirmed before another deliverer takes it for interrupted
    (a deliverer on this host whose process is gone is taken for interrupted at once); ``stale_after``
    (seconds) is how late past its due time a notification may still be sent: later, it is recorded
    ``expired`` (a dose reminder hours late does more harm than good).
    """

    poll_interval: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 5.0
    claim_timeout: Annotated[float, Field(ge=30, le=3600, allow_inf_nan=False)] = 300
    stale_after: Annotated[float, Field(ge=60, le=7 * MAX_TIMEOUT_S, allow_inf_nan=False)] = 6 * 3600
    retry: DeliveryRetry = DeliveryRetry()
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: dict[str, ChannelConfig]) -> dict[str, ChannelConfig]:
        for name in value:
            if name == "inbox" or not _CHANNEL_NAME.match(str(name)):
                raise ValueError(f"channel name {name!r}: allowed: lower-case letters, digits and _ (at most 32), "
                                 "starting with a letter; 'inbox' is the built-in in-app channel")
        return value

    def channels_for(self, audience: str) -> list[str]:
        """Names of the channels serving ``audience``, in config order."""
        return [name for name, ch in self.channels.items() if audience in ch.audience]


class PathsConfig(_Strict):
    """Where the store, backups and evidence live; relative paths are relative to the config file."""

    database: str = "data/medjobs.db"
    backups: str = "data/backups"
    evidence: str = "evidence"
    metrics_textfile: str | None = None
    """Optional: a ``.prom`` file the runner rewrites every minute with the metrics in the Prometheus text
    format (for node_exporter's textfile collector); None writes none."""


PASSWORD_HASH_FLOOR = {"memory_kib": 19 * 1024, "iterations": 2, "lanes": 1}
"""OWASP's minimum Argon2id cost (Password Storage Cheat Sheet: m=19 MiB, t=2, p=1): ``security.password_hash``
below it in any field stops start-up."""

TEST_HASH_ENV = "MEDJOBS_TEST_ONLY_CHEAP_PASSWORD_HASH"
"""The test suite's switch (set by tests/conftest.py, inherited by the CLI processes the tests start): when it
is ``1``, ``security.password_hash`` may go below PASSWORD_HASH_FLOOR so the tests hash quickly. It is an
environment variable of the test run, not a config value: a clinic's config.yaml cannot lower the floor."""


class PasswordHashConfig(_Strict):
    """Argon2id cost of new password hashes: ``memory_kib`` KiB, ``iterations`` passes, ``lanes``.

    Defaults are OWASP's minimum for Argon2id (m=19 MiB, t=2, p=1; OWASP Password Storage Cheat Sheet), and
    no field may be lower (PASSWORD_HASH_FLOOR) unless the test suite's TEST_HASH_ENV is set. A stored hash
    keeps the cost it was made with (a weaker one is replaced at the next sign-in).
    """

    memory_kib: Annotated[int, Field(ge=8, le=4 * 1024 * 1024)] = 19 * 1024
    iterations: Annotated[int, Field(ge=1, le=100)] = 2
    lanes: Annotated[int, Field(ge=1, le=16)] = 1

    @model_validator(mode="after")
    def _not_below_owasp(self) -> "PasswordHashConfig":
        low = [f"{k} {getattr(self, k)} < {v}" for k, v in PASSWORD_HASH_FLOOR.items() if getattr(self, k) < v]
        if low and os.environ.get(TEST_HASH_ENV) != "1":
            raise ValueError(
                f"Argon2id cost below OWASP's minimum ({', '.join(low)}); use at least "
                + ", ".join(f"{k}: {v}" for k, v in PASSWORD_HASH_FLOOR.items()) + " (or leave it out)")
        return self


class SecurityConfig(_Strict):
    """Keys, sign-in and session settings.

    ``key_file``: where the clinic's key file lives (relative to the config file; ``$MEDJOBS_KEY_FILE``
    overrides). It must lie outside the store's folder and the backups folder, so no copy of the store
    carries its key. ``idle_timeout``: seconds without input before the dashboard locks and a
    ``medjobs login`` session expires (automatic logoff, 45 CFR 164.312(a)(2)(iii)); default 10 minutes.
    ``session_lifetime``: seconds after which a ``medjobs login`` session ends, and the dashboard locks until the
    password is typed again, however busy its user was (an absolute limit beside the idle one; default 12 hours,
    at most 24 hours). Source: OWASP Session Management Cheat
    Sheet (absolute timeout); NIST SP 800-63B 7.2 (reauthentication).
    ``password_hash``: the Argon2id cost of new password hashes.
    """

    key_file: str = "keys/medjobs.key"
    idle_timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)] = 600
    session_lifetime: Annotated[float, Field(ge=60, le=MAX_TIMEOUT_S, allow_inf_nan=False)] = 12 * 3600
    password_hash: PasswordHashConfig = PasswordHashConfig()


REVIEW_ROLES = ("technical lead", "security officer", "compliance officer", "project manager")
"""Review roles a reviewer may carry; each sign-off item names the one that signs it."""

MEANINGS = ("reviewed", "approved", "responsible")
"""What a signature means (21 CFR 11.50(a)(3): review, approval, responsibility)."""

_SIGNOFF_KEY = r"^[a-z][a-z0-9_]{0,47}$"
SignoffKey = Annotated[str, StringConstraints(pattern=_SIGNOFF_KEY)]


class SignoffItem(_Strict):
    """One item of a sign-off checklist: its title and the review role whose holder signs it."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    review_role: Literal["technical lead", "security officer", "compliance officer", "project manager"]


class Checklist(_Strict):
    """A sign-off checklist: title, items (key -> item, in order), the checklists that must be complete before
    any of its items may be signed (``requires``, earlier ones only), and the meaning offered first."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    items: dict[SignoffKey, SignoffItem]
    requires: list[str] = Field(default_factory=list)
    meaning: Literal["reviewed", "approved", "responsible"] = "reviewed"

    @field_validator("items")
    @classmethod
    def _has_items(cls, value: dict[str, SignoffItem]) -> dict[str, SignoffItem]:
        if not value:
            raise ValueError("a checklist needs at least one item")
        return value


def _item(title: str, role: str) -> dict[str, str]:
    return {"title": title, "review_role": role}


DEFAULT_CHECKLISTS: dict[str, dict[str, Any]] = {
    "technical_review": {"title": "Technical Review", "meaning": "reviewed", "items": {
        "code_review": _item("Code review completed", "technical lead"),
        "tests_passing": _item("Tests passing", "technical lead"),
        "performance_verified": _item("Performance verified", "technical lead"),
        "security_validated": _item("Security validated", "security officer")}},
    "compliance_review": {"title": "Compliance Review", "meaning": "reviewed", "items": {
        "hipaa_compliance": _item("HIPAA compliance verified", "compliance officer"),
        "data_protection": _item("Data protection validated", "security officer"),
        "audit_requirements": _item("Audit requirements met", "compliance officer"),
        "documentation_complete": _item("Documentation complete", "project manager")}},
    "final_approval": {"title": "Final Approval", "meaning": "approved",
                       "requires": ["technical_review", "compliance_review"], "items": {
        "technical_lead": _item("Technical lead", "technical lead"),
        "security_officer": _item("Security officer", "security officer"),
        "compliance_officer": _item("Compliance officer", "compliance officer"),
        "project_manager": _item("Project manager", "project manager")}},
}
"""VALIDATION.md section 6: the three checklists and who signs each item (used when config.yaml has no
``signoff`` section)."""


class SignoffConfig(_Strict):
    """The sign-off checklists (``signoff.checklists`` in config.yaml; VALIDATION.md section 6 by default).
    An item is named ``<checklist>.<item>``, e.g. ``technical_review.code_review``."""

    checklists: dict[SignoffKey, Checklist] = Field(
        default_factory=lambda: {k: Checklist.model_validate(v) for k, v in DEFAULT_CHECKLISTS.items()})

    @field_validator("checklists")
    @classmethod
    def _requires_earlier_ones(cls, value: dict[str, Checklist]) -> dict[str, Checklist]:
        if not value:
            raise ValueError("give at least one checklist (or leave the signoff section out for the defaults)")
        seen: list[str] = []
        for name, checklist in value.items():
            for needed in checklist.requires:
                if needed not in seen:
                    raise ValueError(f"{name}.requires: {needed!r} is not a checklist listed before {name}; "
                                     f"allowed: {', '.join(seen) or 'none (it is the first)'}")
            seen.append(name)
        return value

    def item(self, item_id: str) -> tuple[str, Checklist, str, SignoffItem] | None:
        """``(checklist key, checklist, item key, item)`` of ``checklist.item``, or None."""
        name, _, key = item_id.partition(".")
        checklist = self.checklists.get(name)
        if checklist is None or key not in checklist.items:
            return None
        return name, checklist, key, checklist.items[key]

    def item_ids(self) -> list[str]:
        """Every item's id, checklists and items in config order."""
        return [f"{name}.{key}" for name, c in self.checklists.items() for key in c.items]


class AlertsConfig(_Strict):
    """When MedJobs raises its own alerts (``engine.alerting``). No standard sets these: the clinic's choice.

    ``error_rate_threshold``: percent of a job's finished attempts in the last 24 h that failed or timed out
    above which an ``error_rate`` alert opens (it resolves when the rate is back at or under it), once the
    job has at least ``error_rate_min_attempts`` finished attempts in that window. ``schedule_grace``: seconds
    after a scheduled fire time before a tick with no recorded row counts as missed (the dead-man's switch).
    """

    error_rate_threshold: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = 25.0
    error_rate_min_attempts: Annotated[int, Field(ge=1, le=100_000)] = 4
    schedule_grace: Annotated[int, Field(ge=0, le=86_400)] = 120


class Settings(_Strict):
    """The whole validated config.yaml, plus the folder it was read from (``base_dir``)."""

    clinic: ClinicConfig
    jobs: dict[JobName, JobConfig]
    runner: RunnerConfig = RunnerConfig()
    paths: PathsConfig = PathsConfig()
    security: SecurityConfig = SecurityConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    signoff: SignoffConfig = SignoffConfig()
    alerts: AlertsConfig = AlertsConfig()
    base_dir: Path = Path(".")
    source: Path | None = None

    @model_validator(mode="after")
    def _paths_are_usable(self) -> "Settings":
        problems = []
        for key, path, want_dir in (("paths.database", self.database_path, False),
                                    ("paths.backups", self.backups_dir, True),
                                    ("paths.evidence", self.evidence_dir, True),
                                    *((("paths.metrics_textfile", self.metrics_textfile_path, False),)
                                      if self.metrics_textfile_path else ())):
            problem = _path_problem(path, want_dir)
            if problem:
                problems.append(f"{key}: {path} {problem}")
        key_file = self.key_file_path.resolve()
        broken = {key for key, *_ in (p.split(":", 1) for p in problems)}
        for name, folder in (("paths.database", self.database_path.parent.resolve()),
                             ("paths.backups", self.backups_dir.resolve())):
            if name not in broken and key_file.is_relative_to(folder):   # a broken path: its own error says it
                problems.append(f"security.key_file: {key_file} lies inside {folder}; the key file must be kept "
                                "outside the store's folder and the backups, so no copy carries its key")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _resolve(self, p: str) -> Path:
        return _resolved(self.base_dir, p)

    @property
    def database_path(self) -> Path:
        """Absolute path of the SQLite store."""
        return self._resolve(self.paths.database)

    @property
    def backups_dir(self) -> Path:
        """Absolute path of the backups folder."""
        return self._resolve(self.paths.backups)

    @property
    def metrics_textfile_path(self) -> Path | None:
        """Absolute path of the Prometheus textfile the runner rewrites every minute, or None."""
        return self._resolve(self.paths.metrics_textfile) if self.paths.metrics_textfile else None

    @property
    def evidence_dir(self) -> Path:
        """Absolute path of the evidence root (records go under ``jobs/<job_type>/YYYY/MM/DD``)."""
        return self._resolve(self.paths.evidence)

    @property
    def key_file_path(self) -> Path:
        """Absolute path of the key file as configured (``security.keys.key_file_path`` applies the env override)."""
        return self._resolve(self.security.key_file)

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone."""
        return ZoneInfo(self.clinic.timezone)


@functools.lru_cache(maxsize=256)
def _resolved(base_dir: Path, p: str) -> Path:
    """``p`` with ``~`` expanded, under ``base_dir`` unless absolute (the runner asks for the evidence folder
    for every outcome it records: a cache spares it the path arithmetic)."""
    path = Path(p).expanduser()
    return path if path.is_absolute() else (base_dir / path)


def _path_problem(path: Path, want_dir: bool) -> str | None:
    """Why ``path`` cannot hold a store file (``want_dir`` False) or be a folder of ours, or None.

    The path, symlinks resolved, must lie outside /proc, /sys and /dev; if it exists it must be a regular
    folder (or, for the store, a regular file), and the store's parent folder, if it exists, a folder.
    """
    real = path.resolve()
    for root in FORBIDDEN_ROOTS:
        if real == root or root in real.parents:
            return f"lies in {root}, a kernel or device tree; allowed: a regular folder elsewhere"
    if want_dir:
        if path.exists() and not real.is_dir():
            return "exists but is not a folder"
    else:
        if real.exists() and (real.is_dir() or not real.is_file()):
            return "exists but is not a file"
        if real.parent.exists() and not real.parent.is_dir():
            return f"cannot be created: {real.parent} is not a folder"
    return None


# --------------------------------------------------------------------------------------------
# Loading, with errors mapped back to YAML lines


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses anchors (``&a``) and aliases (``*a``) as it composes.

    An alias bomb (a few hundred bytes of nested aliases expanding to billions of nodes) therefore fails
    at its first anchor instead of hanging; config files never need them.
    """

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            kind = "aliases (*name)" if isinstance(event, yaml.AliasEvent) else "anchors (&name)"
            raise yaml.composer.ComposerError(
                None, None, f"YAML {kind} are not allowed in the config file; write the value out",
                event.start_mark)
        return super().compose_node(parent, index)


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    """Compose ``text`` once (refusing anchors and aliases) and construct it: (node tree, data)."""
    loader = _NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        return node, data
    finally:
        loader.dispose()


def default_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``explicit``, else ``$MEDJOBS_CONFIG``, else ``./config.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path("config.yaml")


_DOTTED_KEY = re.compile(r"[a-z_]+(\.[a-z_]+)+")
"""A config key written out in a message: ``paths.backups``."""


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int | None, tuple[Any, ...]]:
    """Walk ``loc`` into the composed YAML tree; return the 1-based line of the deepest node found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    node = value_node
                    line = key_node.start_mark.line + 1
                    break
            else:
                return line, loc
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line, loc
    return line, loc


def _describe(err: dict[str, Any]) -> str:
    msg = err["msg"]
    msg = re.sub(r"^(Value error|Assertion failed), ", "", msg)
    kind = err.get("type", "")
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a known key here"
    if kind == "literal_error":
        return f"{msg} (got {err.get('input')!r})"
    if kind.startswith(("greater_than", "less_than")):
        return f"{msg} (got {err.get('input')!r})"
    if kind == "string_pattern_mismatch" and err["loc"][-1] == "[key]":
        return (f"{err.get('input')!r} is not a job name; allowed: a lower-case letter, then up to 63 "
                "lower-case letters, digits or '_'")
    return msg


def _duplicate_keys(node: yaml.Node | None, path: str = "") -> list[tuple[int, str]]:
    """(1-based line, dotted key) of every mapping key given twice, in file order. PyYAML keeps the last silently."""
    found: list[tuple[int, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = f"{path}.{key_node.value}" if path else str(key_node.value)
            if key_node.value in seen:
                found.append((key_node.start_mark.line + 1, key))
            seen.add(key_node.value)
            found += _duplicate_keys(value_node, key)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicate_keys(item, f"{path}[{i}]")
    return found


def _report(name: str, problems: list[tuple[int | None, str]]) -> ConfigError:
    """One ConfigError listing ``problems`` ((line, text)) in line order, one per line, at most MAX_ERRORS_SHOWN."""
    ordered = sorted(problems, key=lambda p: (p[0] is None, p[0] or 0))
    lines = [f"{name}:{line or '?'}: {text}" for line, text in ordered[:MAX_ERRORS_SHOWN]]
    if len(ordered) > MAX_ERRORS_SHOWN:
        lines.append(f"{name}: ... and {len(ordered) - MAX_ERRORS_SHOWN} more problem(s)")
    return ConfigError("\n".join(lines))


def parse_settings(text: str, source: Path) -> Settings:
    """Validate config text read from ``source``; raise ConfigError naming key, line and what is allowed.

    Every problem found is reported, one per line in line order (up to MAX_ERRORS_SHOWN): duplicate
    keys and validation errors together. YAML anchors and aliases are refused (no alias bomb can hang
    start-up).
    """
    name = str(source)
    try:
        node, data = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:1: the file must be a mapping with 'clinic' and 'jobs' keys")
    problems: list[tuple[int | None, str]] = [
        (line, f"{key}: this key is given twice; give it once") for line, key in _duplicate_keys(node)]
    queues = ((data.get("runner") or {}).get("queues") if isinstance(data.get("runner"), dict) else None)
    context = {"queues": set(queues) if isinstance(queues, dict) else set(RunnerConfig().queues),
               "base_dir": source.resolve().parent}
    try:
        settings = Settings.model_validate(
            {**data, "base_dir": source.resolve().parent, "source": source.resolve()}, context=context)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in {"cron", "interval"}))
            if not loc and err.get("type") == "value_error":
                # a check across sections (paths, key file) names each key it found wrong: "paths.backups: ...;
                # security.key_file: ..."; each is reported at its own key's line
                for part in re.split(r"; (?=[a-z_]+(?:\.[a-z_]+)+: )", _describe(err)):
                    key, sep, text = part.partition(": ")
                    if sep and _DOTTED_KEY.fullmatch(key):
                        problems.append((_line_of(node, tuple(key.split(".")))[0], f"{key}: {text}"))
                    else:
                        problems.append((_line_of(node, ())[0], f"(top level): {part}"))
                continue
            line, _ = _line_of(node, loc)
            key = ".".join(str(p) for p in loc if p != "[key]") or "(top level)"
            problems.append((line, f"{key}: {_describe(err)}"))
        raise _report(name, problems) from None
    if problems:
        raise _report(name, problems)
    return settings


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the config file (see ``default_config_path``).

    Raises ConfigError when the file is missing, unreadable, not YAML, or invalid.
    """
    source = default_config_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found (set --config PATH or {ENV_VAR})") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a folder; --config takes the config file itself") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not a text file (byte {exc.start} is not UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config file: {exc.strerror}") from None
    return parse_settings(text, source)
