"""The ``medjobs`` command: opens the dashboard, or runs one operation of the console from the shell.

Every operation of the dashboard is also a command here, and both go through ``medjobs_tui.console``.
Exit codes: 0 done, 1 the operation failed (a run not green, a refused action), 2 bad usage or config.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datetime import timezone

import click
from rich.console import Console as RichConsole
from rich.table import Table
from rich.text import Text

from medjobs_tui.clock import parse_iso
from medjobs_tui.config import PRIORITIES, ConfigError, Settings, load_settings
from medjobs_tui.console import (
    CUSTODIAN, NOTIFICATION_STATES, RUN_STATES, RUNNER, Actor, Console, ConsoleError, RunFilter, SignInFailed, percent,
    render_table,
)
from medjobs_tui.console import identity
from medjobs_tui.console.accounts import check_username
from medjobs_tui.console import words
from medjobs_tui.engine import runlog
from medjobs_tui.console.words import parse_since
from medjobs_tui.security.masking import has_control_characters, install_log_redaction, printable
from medjobs_tui.security.keys import (
    KeyFileError, create_demo_keys, create_keys, key_file_exists, key_file_path, recover_keys, restore_key_file,
)
from medjobs_tui.store import StoreError

if TYPE_CHECKING:
    from medjobs_tui.engine.runner import Runner

# The runner (APScheduler, the worker pool, delivery) and the FHIR importer are imported by the commands that
# use them, not here: `medjobs` opening the dashboard paints its first tab sooner without them.

# On a terminal, tables fit its width; piped into a file or a log, they are laid out 160 wide, unwrapped.
out = RichConsole(highlight=False, width=None if sys.stdout.isatty() else 160)
err = RichConsole(stderr=True, highlight=False, soft_wrap=True)
LIMIT = click.IntRange(1, 10_000)


PASSWORD_FILE_ENV = "MEDJOBS_PASSWORD_FILE"
"""A file whose first line is the acting user's password (for scripts; keep it 0600)."""


class RunId(click.ParamType):
    """A record id (a run's by default): a whole number from 1, with a message that says so for ``abc`` or
    ``-3`` and where such ids are listed. ``name`` is how help shows it (RUN_ID, ORDER_ID)."""

    def __init__(self, name: str = "RUN_ID", what: str = "run id", listed_by: str = "medjobs runs") -> None:
        self.name, self.what, self.listed_by = name, what, listed_by

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip().lstrip("#")
            if not text.isdigit():
                self.fail(f"{value!r} is not {self._a()} {self.what}: {self.what}s are whole numbers like 42 "
                          f"(see `{self.listed_by}`)", param, ctx)
            number = int(text)
        if not 1 <= number <= 2**62:
            self.fail(f"{value!r} is not {self._a()} {self.what}: {self.what}s start at 1", param, ctx)
        return number

    def _a(self) -> str:
        return "an" if self.what[:1] in "aeiou" else "a"


ID = RunId()
ORDER_ID = RunId("ORDER_ID", "order id", "medjobs doses")


class AlertRef(click.ParamType):
    """An alert number of one list: MedJobs' own alerts (``A-4``) or interaction alerts (``I-4``); the bare number
    or the list's own prefix, while the other list's prefix is refused with the command that takes it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.name = f"{prefix}N"

    def convert(self, value, param, ctx) -> int:
        from medjobs_tui.console.alerts import AlertRefError, parse_alert_ref

        if isinstance(value, int):
            return value
        try:
            return parse_alert_ref(value, self.prefix)
        except AlertRefError as exc:
            self.fail(str(exc), param, ctx)
FORMATS = ("table", "csv", "json")


def format_option(command):
    """``--format table|csv|json`` (table by default): every view prints as a table or as CSV / JSON for scripts."""
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="table for people; csv or json for scripts and spreadsheets")(command)


class Ctx:
    """What every command shares: the config path, the named user and where their password comes from.

    The acting identity is authenticated, never declared: a live ``medjobs login`` session, or the
    password of ``--user`` (read from ``--password-fd``, ``$MEDJOBS_PASSWORD_FILE`` or a prompt).
    """

    def __init__(self, config: str | None, user: str | None, password_fd: int | None = None) -> None:
        self.config_path = config
        self.user = user
        self.password_fd = password_fd
        self._settings: Settings | None = None
        self._password: str | None = None
        self.session_token: str | None = None
        """The token of the live ``medjobs login`` session the actor came from (None: signed in by --user)."""

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    def console(self, runner: Runner | None = None) -> tuple[Console, Actor]:
        """A console over the store and the signed-in actor (see ``sign_in``)."""
        console = Console(self.settings, runner=runner)
        return console, self.sign_in(console)

    def viewer(self) -> Console:
        """A console for a signed-in person whose role may view operations (allowed views are not audited)."""
        console, actor = self.console()
        console.authorise(actor, "view.operations", "view")
        return console

    def sign_in(self, console: Console) -> Actor:
        """The actor of a live login session (for ``--user`` when it names the same user), else ``--user``
        signed in with their password. Raises ConsoleError when neither is there."""
        path = identity.session_file(self.settings.database_path)
        token = identity.read_session_token(path)
        if token is not None:
            try:
                actor = console.resume_session(token)
            except SignInFailed as exc:
                identity.remove_session_token(path)
                if self.user is None:
                    raise ConsoleError(f"{exc}: medjobs login --user NAME") from None
            else:
                if self.user in (None, actor.username):
                    self.session_token = token
                    return actor
        if self.user is None:
            raise ConsoleError("sign in first: `medjobs login --user NAME` opens a session, or give --user NAME "
                               "(the password is asked, or read from --password-fd N or $MEDJOBS_PASSWORD_FILE)")
        signed = console.sign_in(self.user, self.password(f"password of {self.user}"))
        for notice in signed.notices:
            err.print(f"[bold red]medjobs: NOTICE:[/] {notice}", markup=True, soft_wrap=True)
        return signed.actor

    def password(self, prompt: str) -> str:
        """The acting user's password: from ``--password-fd``, else ``$MEDJOBS_PASSWORD_FILE``, else asked
        (hidden) on the terminal. Raises ConsoleError when there is none to be had."""
        if self._password is not None:
            return self._password
        if self.password_fd is not None:
            try:
                with os.fdopen(self.password_fd, "r", closefd=False) as f:
                    line = f.readline()
            except OSError as exc:
                raise ConsoleError(f"--password-fd {self.password_fd}: cannot read it ({exc.strerror})") from None
        elif os.environ.get(PASSWORD_FILE_ENV):
            name = os.environ[PASSWORD_FILE_ENV]
            try:
                with open(name, encoding="utf-8") as f:
                    line = f.readline()
            except OSError as exc:
                raise ConsoleError(f"${PASSWORD_FILE_ENV} {name}: cannot read it ({exc.strerror})") from None
        elif sys.stdin.isatty():
            line = click.prompt(prompt, hide_input=True, err=True)
        else:
            raise ConsoleError(f"no password for {self.user}: no terminal to ask on; use --password-fd N or "
                               f"${PASSWORD_FILE_ENV}")
        self._password = line.rstrip("\r\n")
        return self._password


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]medjobs:[/] {message}", markup=True, soft_wrap=True)
    sys.exit(code)


class MedJobsGroup(click.Group):
    """Turns the errors users can cause (bad config, refused action) into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(f"config error: {exc}", 2)
        except StoreError as exc:
            _fail(f"store error: {exc}", 2)
        except KeyFileError as exc:
            _fail(f"key error: {exc}", 2)
        except ConsoleError as exc:
            _fail(str(exc), 1)
        except Exception as exc:
            fhir = sys.modules.get("medjobs_tui.fhir")      # never imported: the error cannot be one of its own
            if fhir is not None and isinstance(exc, fhir.FhirImportError):
                _fail(f"import error: {exc}", 2)
            raise


@click.group(cls=MedJobsGroup, invoke_without_command=True)
@click.option("--config", "config", envvar="MEDJOBS_CONFIG", type=click.Path(dir_okay=False),
              help="config file (default: $MEDJOBS_CONFIG, else ./config.yaml)")
@click.option("--user", envvar="MEDJOBS_USER",
              help="act as this user: their password is asked (or read from --password-fd / $MEDJOBS_PASSWORD_FILE)"
                   " unless a `medjobs login` session of theirs is live")
@click.option("--password-fd", type=click.IntRange(0, 65535), default=None,
              help="read the acting user's password from this file descriptor (first line)")
@click.version_option(package_name="medjobs-tui")
@click.pass_context
def main(ctx: click.Context, config: str | None, user: str | None, password_fd: int | None) -> None:
    """MedJobs: the clinic's medication background jobs. With no command, opens the dashboard (sign-in first)."""
    os.umask(0o077)  # every file MedJobs creates is 0600, every folder 0700 (store, WAL, backups, evidence, keys)
    install_log_redaction()  # every log line is redacted of identifier-shaped text on its way out
    ctx.obj = Ctx(config, user, password_fd)
    if ctx.invoked_subcommand is None:
        settings = ctx.obj.settings  # validate before anything starts
        from medjobs_tui.tui.app import run_dashboard

        run_dashboard(settings, username=user)


# ------------------------------------------------------------------------------------- data


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="read, check and count everything, write nothing")
@click.pass_obj
def import_cmd(obj: Ctx, paths: tuple[Path, ...], dry_run: bool) -> None:
    """Import FHIR R4 (bulk NDJSON files or folders of them, JSON resources and Bundles) into the store.

    Malformed records and hostile values are reported (file, line, JSON path) and skipped, each alone;
    the rest goes in. Exits 1 when anything was skipped, so a script notices. --dry-run reports the
    same without writing. Every import, failed ones included, is in the audit log.
    """
    console, actor = obj.console()
    report = console.import_fhir(actor, list(paths), dry_run=dry_run)
    for line in report.summary_lines():
        out.print(line, markup=False)
    if report.skipped:
        sys.exit(1)


@main.command()
@click.option("--if-empty", is_flag=True, help="do nothing if the store already has patients")
@click.option("--replace", is_flag=True, help="delete the demo clinic's data first (never imported data)")
@click.option("--seed", default=7, show_default=True, help="random seed (same seed, same clinic)")
@click.option("--patients", default=50, show_default=True, type=click.IntRange(12, 100_000), help="number of patients (10,000 is a clinic group; see make bench)")
@click.pass_obj
def demo(obj: Ctx, if_empty: bool, replace: bool, seed: int, patients: int) -> None:
    """Generate a deterministic synthetic demo clinic (no real patient data).

    In a store without users it also creates one demo user per role, prints their passwords once and
    keeps them in demo-users.txt (0600) beside the store: for the demo only.
    In a fresh folder (no store, no key file) the demo clinic's keys are created first.
    """
    recovery = create_demo_keys(obj.settings)
    if recovery is not None:
        out.print(f"demo clinic keys created in {key_file_path(obj.settings)}; recovery key (shown once): "
                  f"{recovery}", markup=False)
    console = Console(obj.settings)
    actor = None
    if not console.has_users():
        made = console.create_demo_users(CUSTODIAN)
        path = identity.write_demo_users(obj.settings.database_path, made)
        out.print(f"demo users (for the demo only; kept in {path}):", markup=False)
        for name, role, review_role, password in made:
            out.print(f"  {name:<15} {role:<9} {password}" + (f"   ({review_role})" if review_role else ""),
                      markup=False)
        actor = next(Actor(n, r, rr) for n, r, rr, _ in made if r == "admin")
    if if_empty and console.has_patients():
        out.print(f"the store already holds patients ({obj.settings.database_path}); demo not written")
        return
    actor = actor or obj.sign_in(console)
    report = console.write_demo(actor, seed=seed, patients=patients, replace=replace, if_empty=if_empty)
    if report is None:
        out.print(f"the store already holds patients ({obj.settings.database_path}); demo not written")
    else:
        out.print(f"demo clinic written to {obj.settings.database_path}: {report}", markup=False)


# ------------------------------------------------------------------------------------- runner


@main.command()
@click.option("--once", is_flag=True, help="run every job once, in priority order, then exit")
@click.pass_obj
def run(obj: Ctx, once: bool) -> None:
    """Run the job runner headless until interrupted (or, with --once, every job once).

    It acts as the `runner` service identity: it needs the store's key file, not a person's password,
    and may only run jobs.
    """
    from medjobs_tui.engine.runner import Runner

    settings = obj.settings
    console, actor = Console(settings), RUNNER
    console.authorise(actor, "runner.run", "runner")
    runlog.install(settings)            # its masked log, for `medjobs log` and every console's Log view
    runner = Runner(settings)
    if once:
        sys.exit(_run_once(settings, runner, console, actor))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner.start()
    out.print(f"runner started for {settings.clinic.name} ({len(settings.jobs)} jobs); Ctrl+C stops it")
    reason = "sigterm"
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        reason = "ctrl+c"
    finally:
        try:
            console.runner_stopping(actor, reason)          # audited: the clinic's jobs stop with it
        except Exception as exc:  # noqa: BLE001 - the runner stops all the same
            err.print(f"could not audit the runner's stop: {type(exc).__name__}", markup=False)
        runner.stop()
        out.print("runner stopped")


KEY_FIGURES = 5  # the handler's first few scalar figures (supply: checked = critical+low+ok+unknown); `medjobs evidence RUN_ID` shows them all


def _run_once(settings: Settings, runner: Runner, console: Console, actor: Actor) -> int:
    from medjobs_tui.store import runs as store_runs

    paused = store_runs.paused_jobs(runner.db)          # an operator stopped them: --once runs the others
    order = sorted((n for n in settings.jobs if n not in paused),
                   key=lambda n: (-PRIORITIES[settings.jobs[n].priority], n))
    runner.recover()
    run_ids = {name: runner.enqueue(name, actor.username, trigger="once") for name in order}
    interrupted = False
    delivered = None
    try:
        runner.drain(only=set(run_ids.values()))
        delivered = runner.delivery.run_pass()  # the notifications the runs queued, and any still due
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runner.stop()  # attempts cut short are recorded as interrupted and re-queued
    table = Table(title=f"medjobs run --once: {settings.clinic.name}")
    for col in ("job", "priority", "run", "status", "attempt", "duration"):
        table.add_column(col, no_wrap=True)
    table.add_column("key figures", overflow="fold")
    all_ok = True
    for name in order:
        row = console.run(run_ids[name])
        ok = row.status == "succeeded"
        all_ok &= ok
        summary = console.run_summary(row.id) or {}
        scalars = [(k, v) for k, v in summary.items() if isinstance(v, (int, float, str)) and len(str(v)) <= 24]
        figures = ", ".join(f"{k}={v}" for k, v in scalars[:KEY_FIGURES])
        table.add_row(
            name, row.priority, str(row.id), f"[{'green' if ok else 'red'}]{row.status}[/]",
            f"{row.attempt}/{row.max_attempts}", f"{row.duration_s:.3f} s" if row.duration_s is not None else "-",
            figures if ok else (row.error or ""),
        )
    out.print(table)
    if paused:
        out.print(f"paused, not run: {', '.join(sorted(paused & set(settings.jobs)))} (medjobs resume JOB)",
                  markup=False)
    if delivered is not None:
        out.print(f"notifications: {delivered.sent} sent, {delivered.retrying} to retry, {delivered.failed} failed, "
                  f"{delivered.expired} expired, {delivered.unconfirmed} unconfirmed (medjobs notifications)")
    if interrupted:
        err.print("interrupted: runs not finished are queued again for the next runner")
        return 130
    return 0 if all_ok else 1


# ------------------------------------------------------------------------------------- operations


@main.command()
@click.argument("job")
@click.option("--wait", is_flag=True, help="run it here and now, and wait for the outcome")
@click.pass_obj
def trigger(obj: Ctx, job: str, wait: bool) -> None:
    """Queue a run of JOB now."""
    from medjobs_tui.engine.runner import Runner

    runner = Runner(obj.settings) if wait else None
    console, actor = obj.console(runner)
    run_id = console.trigger(actor, job)
    if not wait:
        if console.runners_alive():
            out.print(f"queued run {run_id} of {job}; a runner of the clinic is alive and will run it")
        else:
            out.print(f"queued run {run_id} of {job}; no runner is running now: it runs once the console or "
                      "`medjobs run` starts (or run it here: `medjobs trigger --wait`)")
        return
    try:
        runner.drain(only={run_id})
    finally:
        runner.stop()
    row = console.run(run_id)
    out.print(f"run {run_id} of {job}: {row.status}" + (f" ({row.error})" if row.error else ""))
    if row.status != "succeeded":
        sys.exit(1)


@main.command()
@click.argument("job")
@click.pass_obj
def pause(obj: Ctx, job: str) -> None:
    """Pause JOB: its schedule ticks are recorded as skipped until resumed."""
    console, actor = obj.console()
    changed = console.pause(actor, job)
    out.print(f"{job} paused" if changed else f"{job} was already paused")


@main.command()
@click.argument("job")
@click.pass_obj
def resume(obj: Ctx, job: str) -> None:
    """Resume a paused JOB."""
    console, actor = obj.console()
    changed = console.resume(actor, job)
    out.print(f"{job} resumed" if changed else f"{job} was not paused")


@main.command()
@click.argument("run_ids", type=ID, nargs=-1)
@click.option("--dead-of", "dead_of", metavar="JOB", help="retry every dead run of JOB")
@click.pass_obj
def retry(obj: Ctx, run_ids: tuple[int, ...], dead_of: str | None) -> None:
    """Retry runs now: a dead run gets one more attempt, a failed one waiting out its backoff runs at once.
    Give RUN_IDs, or --dead-of JOB for all of that job's dead runs; each is audited."""
    console, actor = obj.console()
    ids = list(run_ids) + (console.dead_runs(dead_of) if dead_of else [])
    if not ids:
        raise click.UsageError("give one or more RUN_IDs, or --dead-of JOB" if not dead_of
                               else f"{dead_of} has no dead runs")
    if len(ids) == 1 and not dead_of:
        console.retry(actor, ids[0])
        out.print(f"run {ids[0]} queued again")
        return
    _report_bulk(console.retry_many(actor, ids), "queued again")


@main.command()
@click.argument("run_ids", type=ID, nargs=-1, required=True)
@click.pass_obj
def cancel(obj: Ctx, run_ids: tuple[int, ...]) -> None:
    """Cancel queued runs RUN_IDS (each audited)."""
    console, actor = obj.console()
    if len(run_ids) == 1:
        console.cancel(actor, run_ids[0])
        out.print(f"run {run_ids[0]} cancelled")
        return
    _report_bulk(console.cancel_many(actor, run_ids), "cancelled")


def _report_bulk(result, verb: str) -> None:
    if result.done:
        out.print(f"{len(result.done)} run(s) {verb}: {', '.join(map(str, result.done))}")
    for run_id, reason in result.refused:
        err.print(f"run {run_id} left as it was: {reason}", markup=False)
    if result.refused:
        sys.exit(1)


# ------------------------------------------------------------------------------------- doses


@main.group()
def dose() -> None:
    """Record what happened to a scheduled dose (taken, skipped, refused), or show a dose's history."""


def _dose_command(status: str, meaning: str):
    @click.argument("order_id", type=ORDER_ID)
    @click.argument("instant")
    @click.option("--at", "at", default=None,
                  help="when it happened: 'YYYY-MM-DD HH:MM' local or ISO 8601 with offset (default: now)")
    @click.pass_obj
    def command(obj: Ctx, order_id: int, instant: str, at: str | None, early: bool = False) -> None:
        console, actor = obj.console()
        done = console.record_dose(actor, order_id, instant, status, at=at, early=early)
        replaced = f" (was {done.previous}; kept in the dose's history)" if done.previous else ""
        out.print(f"order {done.order_id} ({done.patient}), dose due {done.local_time}: {done.status}{replaced}",
                  markup=False)

    command.__doc__ = (f"Record that the dose of ORDER_ID due at INSTANT was {meaning}.\n\n"
                       "INSTANT: 'YYYY-MM-DD HH:MM' in the patient's local time, or ISO 8601 with an offset. "
                       "A confirmation always wins over 'reminder missed'; the earlier entry stays in the history. "
                       "The same status twice is refused."
                       + (" A dose is recorded taken at most 2 h before it is due (ISMP timely administration) "
                          "unless --early says it really was taken earlier." if status == "taken" else ""))
    if status == "taken":
        command = click.option("--early", is_flag=True,
                               help="the dose really was taken more than 2 h before it was due (recorded as early)")(command)
    return dose.command(status)(command)


for _status, _meaning in (("taken", "taken"), ("skipped", "skipped (not given)"),
                          ("refused", "refused by the patient")):
    _dose_command(_status, _meaning)


@dose.command("history")
@click.argument("order_id", type=ORDER_ID)
@click.argument("instant")
@click.pass_obj
def dose_history(obj: Ctx, order_id: int, instant: str) -> None:
    """Every entry that stood for the dose of ORDER_ID due at INSTANT, oldest first."""
    console = obj.viewer()
    rows = console.dose_history(order_id, instant)
    _print_table(("status", "happened", "recorded", "by"), (
        (r["status"], r["occurred_at"] or "-", r["recorded_at"], r["recorded_by"] or "(job)") for r in rows))


# ------------------------------------------------------------------------------------- interactions


@main.group()
def interactions() -> None:
    """Drug-drug interaction alerts and the clinic's own interaction list."""


@interactions.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def interactions_import(obj: Ctx, file: Path) -> None:
    """Replace the clinic's interaction list with FILE (CSV: drug_a, drug_b, severity, effect, source).

    Merged with the ONC baseline at the next interaction check. A file with any bad row is refused
    whole, every bad row named. Admins only; audited.
    """
    console, actor = obj.console()
    r = console.import_interactions(actor, file)
    out.print(f"{file.name}: {r['pairs']} pair(s) in the clinic list ({r['added']} added, {r['removed']} removed, "
              f"{r['kept']} kept); SHA-256 {r['sha256'][:16]}...", markup=False)


@interactions.command("list")
@click.option("--all", "show_all", is_flag=True, help="include acknowledged and superseded alerts")
@click.option("--limit", default=50, show_default=True, type=LIMIT)
@click.pass_obj
def interactions_list(obj: Ctx, show_all: bool, limit: int) -> None:
    """List interaction alerts, numbered I-N (open ones unless --all), patients by pseudonym (operator, admin,
    reviewer)."""
    from medjobs_tui.console.alerts import interaction_label

    console, actor = obj.console()
    _print_table(("alert", "patient", "severity", "rule", "drugs", "raised", "closed"), (
        (interaction_label(a["id"]), a["patient"], a["severity"], a["rule_id"], f"{a['drug_a']} + {a['drug_b']}",
         _local(parse_iso(a["created_at"]), obj.settings),
         f"ack {a['acknowledged_by'] or ''} {_local(parse_iso(a['acknowledged_at']), obj.settings)}"
         if a["acknowledged_at"] else
         ("superseded" if a["superseded_at"] else "open"))
        for a in console.interaction_alerts(actor, open_only=not show_all, limit=limit)))


@interactions.command("ack")
@click.argument("alert_id", type=AlertRef("I-"))
@click.pass_obj
def interactions_ack(obj: Ctx, alert_id: int) -> None:
    """Acknowledge interaction alert ALERT_ID (I-4, or 4, as `interactions list` shows it; MedJobs' own alerts A-N
    are `alerts ack`): closed, and not raised again until the medication list changes."""
    from medjobs_tui.console.alerts import interaction_label

    console, actor = obj.console()
    a = console.acknowledge_interaction(actor, alert_id)
    out.print(f"interaction alert {interaction_label(alert_id)} ({a['patient']}, {a['severity']} {a['rule_id']}) acknowledged by "
              f"{a['acknowledged_by']}", markup=False)


# ------------------------------------------------------------------------------------- patients


@main.group()
def patient() -> None:
    """Patients' reminder preferences."""


@patient.command("prefs")
@click.argument("pseudonym")
@click.option("--channel", help="a configured channel serving patients, 'inbox' (in-app only) or 'default'")
@click.option("--lead", "lead", type=int, help="minutes before the dose the reminder is sent (0-180)")
@click.option("--quiet", help="quiet hours 'HH:MM-HH:MM' in the patient's local time (held until they end), or 'off'")
@click.option("--opt-out/--opt-in", "opt_out", default=None, help="no dose reminders at all / reminders again")
@click.pass_obj
def patient_prefs(obj: Ctx, pseudonym: str, channel: str | None, lead: int | None, quiet: str | None,
                  opt_out: bool | None) -> None:
    """Show PSEUDONYM's reminder preferences, or change those given (audited).

    A reminder in quiet hours is held until they end, unless its order is time-critical
    (`medjobs order critical ORDER_ID`); one held past the catch-up limit is not sent and staff are told.
    """
    console, actor = obj.console()
    if channel is None and lead is None and quiet is None and opt_out is None:
        p = console.patient_prefs(actor, pseudonym.strip().upper())
    else:
        p = console.set_patient_prefs(actor, pseudonym.strip().upper(), channel=channel, lead_minutes=lead,
                                      quiet_hours=quiet, opt_out=opt_out)
    out.print(f"{p['patient']}: channel {p['channel'] or 'default'}, lead {p['lead_minutes']} min, quiet hours "
              f"{p['quiet_hours'] or 'off'}, reminders {'OPTED OUT' if p['opt_out'] else 'on'}"
              + (f" (set by {p['updated_by'] or p['source']} at {_local(parse_iso(p['updated_at']), obj.settings)})"
                 if p["updated_at"] else ""),
              markup=False)


@main.group()
def order() -> None:
    """Medication orders."""


@order.command("critical")
@click.argument("order_id", type=ORDER_ID)
@click.option("--off", is_flag=True, help="no longer time-critical")
@click.pass_obj
def order_critical(obj: Ctx, order_id: int, off: bool) -> None:
    """Mark ORDER_ID time-critical: its reminders are never held for the patient's quiet hours (audited)."""
    console, actor = obj.console()
    console.set_order_critical(actor, order_id, not off)
    out.print(f"order {order_id} {'is no longer' if off else 'is now'} time-critical", markup=False)


@main.group()
def supply() -> None:
    """Supply the patients have on hand."""


@supply.command("count", context_settings={"ignore_unknown_options": True})
@click.argument("order_id", type=ORDER_ID)
@click.argument("quantity")
@click.argument("unit")
@click.option("--at", "at", default=None,
              help="when it was counted: 'YYYY-MM-DD HH:MM' local or ISO 8601 with offset (default: now)")
@click.pass_obj
def supply_count(obj: Ctx, order_id: int, quantity: str, unit: str, at: str | None) -> None:
    """Record that the patient of ORDER_ID has QUANTITY UNIT on hand (tablets, mg, mL...; audited).

    QUANTITY: a plain number, 0 or more (30, 2.5). A count in a unit that cannot be counted in the order's dose
    unit (mg against tablets, g against mg, a bottle), above 5 years of the order's use, older than its latest
    count, of an order not active or not to give, or of a deceased patient, is refused, nothing recorded (the
    refusal is audited)."""
    # QUANTITY is read by the console (its own error, audited): ``-1`` reaches it as text, not as an unknown option
    console, actor = obj.console()
    done = console.record_supply_count(actor, order_id, quantity, unit, at=at)
    out.print(f"order {order_id}: {done['said']} on hand, counted {done['counted_local']}", markup=False)
    if done["out_of_supply"]:
        out.print(f"order {order_id} is now out of supply: none on hand (the supply monitor marks it critical at its "
                  "next run)", markup=False)
    elif done["per_day"] is None:
        out.print(f"order {order_id} has no planned daily use (as needed, or no schedule): the count is kept, but days "
                  "of supply cannot be worked out from it (a count of 0 says the order is out of supply)",
                  markup=False)


# ------------------------------------------------------------------------------------- views


def _emit(fmt: str, columns: tuple[str, ...], rows, empty: str) -> None:
    """Print ``rows`` as a table (or ``empty``, a sentence, when there are none), or as CSV / JSON."""
    rows = [tuple("" if v is None else str(v) for v in row) for row in rows]
    if fmt != "table":
        rows = [tuple(printable(v) for v in row) for row in rows]        # no terminal escape codes from stored data
        sys.stdout.write(render_table(columns, rows, fmt))
        return
    if not rows:
        out.print(empty, markup=False)
        return
    table = Table()
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(_cell(c) for c in row))
    out.print(table)


def _print_table(columns: tuple[str, ...], rows, empty: str = "nothing to list") -> None:
    """Print ``rows`` as a table for people (a view without ``--format``)."""
    _emit("table", columns, rows, empty)
def _cell(value) -> Text:
    """A table cell as literal text (no Rich markup read from stored data), terminal escape codes removed."""
    if isinstance(value, Text):
        return Text(printable(value.plain), style=value.style) if has_control_characters(value.plain) else value
    return Text(printable("" if value is None else str(value)))


def _local(dt, settings: Settings) -> str:
    return dt.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "-"


@main.command()
@format_option
@click.pass_obj
def jobs(obj: Ctx, fmt: str) -> None:
    """List the jobs: schedule, next run, paused, last status."""
    console = obj.viewer()
    _emit(fmt, ("job", "type", "priority", "queue", "schedule", "next run", "paused", "last status"), (
        (j.name, j.job_type, j.priority, j.queue, j.schedule, _local(j.next_run_at, obj.settings),
         "yes" if j.paused else "no", j.last_status or "-") for j in console.jobs()),
        "no jobs are configured (see the jobs section of the config file)")


def _statuses(values: tuple[str, ...]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(s.strip().lower() for v in values for s in v.split(",") if s.strip()))
    unknown = [s for s in wanted if s not in RUN_STATES]
    if unknown:
        raise click.BadParameter(f"unknown state {', '.join(unknown)}; states: {', '.join(RUN_STATES)}",
                                 param_hint="--status")
    return wanted


@main.group(invoke_without_command=True)
@click.option("--limit", default=30, show_default=True, type=LIMIT)
@click.option("--job", help="only this job's runs")
@click.option("--status", "status", multiple=True,
              help=f"only runs in these states (repeat or comma-separate): {', '.join(RUN_STATES)}")
@click.option("--since", help="only runs scheduled since: 30m, 2h, 7d, 1w, or a clinic-local date or time (2026-11-29T08:00)")
@click.option("--text", help="only runs whose job, state, trigger, error or creator contains this")
@click.option("--all", "include_skipped", is_flag=True, help="also list skipped ticks, with the reason")
@format_option
@click.pass_context
def runs(ctx: click.Context, limit: int, job: str | None, status: tuple[str, ...], since: str | None,
         text: str | None, include_skipped: bool, fmt: str) -> None:
    """List the newest runs (at most --limit, plus every run still queued or running); cancelled runs and
    coalesced ticks always, skipped ticks with --all or --status skipped (a coalesced or skipped tick shows
    why it did not run in the error column). `runs show RUN_ID` tells one run's whole story."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Ctx = ctx.obj
    console = obj.viewer()
    try:
        since_at = parse_since(since, console.clock.now(), obj.settings.zone) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    run_filter = RunFilter(job=job, statuses=_statuses(status), since=since_at, text=text or None)
    rows = console.runs(limit, run_filter, include_skipped=include_skipped)
    _emit(fmt, ("run", "job", "priority", "status", "attempt", "trigger", "scheduled", "duration", "error"), (
        (r.id, r.job_name, r.priority, r.status, f"{r.attempt}/{r.max_attempts}", r.trigger,
         _local(r.scheduled_at, obj.settings), _seconds(r.duration_s), r.error or "") for r in rows),
        "no runs match these filters" if run_filter else "no runs yet: `medjobs trigger JOB` queues one")


@runs.command("show")
@click.argument("run_id", type=ID)
@format_option
@click.pass_obj
def runs_show(obj: Ctx, run_id: int, fmt: str) -> None:
    """Tell run RUN_ID's whole story: its fields, every state change (who or what), every attempt, its evidence."""
    console = obj.viewer()
    story = console.run_story(run_id)
    r, s = story.run, obj.settings
    evidence = ("none yet" if story.evidence_valid is None else
                f"{story.evidence_path} ({'SHA-256 matches' if story.evidence_valid else 'INVALID: SHA-256 differs'})"
                f"; `medjobs evidence {run_id}` prints it")
    fields = [("run", r.id), ("job", r.job_name), ("status", r.status), ("attempt", f"{r.attempt} of {r.max_attempts}"),
              ("priority", r.priority), ("queue", r.queue), ("trigger", r.trigger), ("created by", story.created_by),
              ("scheduled", _local(r.scheduled_at, s)), ("started", _local(r.started_at, s)),
              ("finished", _local(r.finished_at, s)), ("duration", _seconds(r.duration_s)),
              ("error", r.error or "-"), ("evidence", evidence)]
    history = [(_local(h.at, s), h.from_status or "-", h.to_status, h.actor, words.local_instants(h.note, s.zone, h.at) or "")
               for h in story.history]
    attempts = [(a.attempt, _local(a.started_at, s), _local(a.finished_at, s), a.outcome or "running",
                 _seconds(a.duration_s), a.error or "") for a in story.attempts]
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps({
            "run": dict((k, str(v)) for k, v in fields),
            "history": [dict(zip(("at", "from", "to", "by", "note"), h)) for h in history],
            "attempts": [dict(zip(("attempt", "started", "finished", "outcome", "duration", "error"), map(str, a)))
                         for a in attempts]}, indent=2) + "\n")
        return
    if fmt == "csv":
        _emit(fmt, ("at", "from", "to", "by", "note"), history, "")
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for label, value in fields:
        table.add_row(label, str(value))
    out.print(table)
    out.print("\n[bold]state history[/]")
    _emit(fmt, ("at", "from", "to", "by", "note"), history, "no state changes recorded")
    out.print("[bold]attempts[/]")
    _emit(fmt, ("attempt", "started", "finished", "outcome", "duration", "error"), attempts, "no attempt yet")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "prometheus"]), default="table",
              show_default=True, help="csv or json for scripts; prometheus: the Prometheus text exposition format, "
                                      "for a monitoring stack")
@click.pass_obj
def metrics(obj: Ctx, fmt: str) -> None:
    """Per-job metrics: execution time, success and error rate, retries, timeouts, validation."""
    console = obj.viewer()
    if fmt == "prometheus":
        click.echo(console.prometheus_metrics(), nl=False)
        return

    def f(v):
        return "-" if v is None else f"{v:.2f}"

    _emit(fmt, ("job", "runs", "last s", "median s", "95% s", "success", "errors", "retries", "timeouts",
                "evidence"), (
        (m.job_name, str(m.runs), f(m.last_duration_s), f(m.p50_duration_s), f(m.p95_duration_s),
         percent(m.success_rate, "-"), percent(m.error_rate, "-"), str(m.retry_count), str(m.timeout_count),
         m.validation_status) for m in console.metrics()), "no jobs are configured")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write to FILE instead of printing")
@click.option("--force", is_flag=True, help="replace FILE if it exists (without it an existing FILE is refused)")
@click.pass_obj
def report(obj: Ctx, fmt: str, output: str | None, force: bool) -> None:
    """The validation report (VALIDATION.md's sections, filled from live state), ending with its SHA-256.
    `-o FILE` refuses a FILE that exists unless `--force`."""
    if output and os.path.exists(output) and not force:
        _fail(f"{output} already exists; nothing written (--force replaces it)", 1)
    console, actor = obj.console()
    text = console.validation_report(actor, fmt)
    if output:
        from medjobs_tui.console.report import write

        try:
            write(text, output)
        except OSError as exc:
            _fail(f"cannot write the report to {output}: {exc.strerror or type(exc).__name__}", 1)
        out.print(f"report written: {output}", markup=False)
    else:
        click.echo(text, nl=False)


@main.command()
@click.pass_obj
def validation(obj: Ctx) -> None:
    """Each job's validation status (valid, failing, stale) with its reasons; exit 1 if any job is not valid."""
    console = obj.viewer()
    results = console.validation()
    _print_table(("job", "status", "critical path", "evidence", "last run", "checked", "reasons"), (
        (v.job_name, v.status, f"{v.ticks_ok}/{v.ticks_checked} ticks" if v.critical_path else "-",
         f"{v.evidence_ok}/{v.runs_checked} runs" if v.evidence_required else "-",
         _local(v.last_run_at, obj.settings), _local(v.timestamp, obj.settings), "; ".join(v.reasons))
        for v in results))
    if not all(v.is_valid for v in results):
        sys.exit(1)


@main.command()
@click.option("--last", is_flag=True, help="show the latest recorded self-test instead of running one")
@click.pass_obj
def selftest(obj: Ctx, last: bool) -> None:
    """Run the validation exercise on a scratch copy of the clinic (each job once, a forced retry, timeout
    and crash; evidence, chains, timings, encryption, access control), print each check and record the
    result as evidence; exit 1 if a check failed."""
    if last:
        result = obj.viewer().latest_selftest()
        if result is None:
            _fail("no self-test recorded yet: `medjobs selftest` runs one", 1)
    else:
        console, actor = obj.console()
        console.authorise(actor, "selftest.run", "selftest")   # refused before saying it runs (audited once)
        err.print("running the self-test on a scratch copy of the clinic…", markup=False)
        result = console.selftest(actor)
    _print_selftest(result, obj.settings)
    if not result.passed:
        sys.exit(1)


def _print_selftest(result, settings: Settings) -> None:
    for c in result.checks:
        mark = Text("PASS", style="green") if c.passed else Text("FAIL", style="bold red")
        out.print(Text.assemble(mark, f"  {c.name:<28} ", printable(c.detail)), soft_wrap=True)
    verdict = lambda ok: "yes" if ok else "NO"  # noqa: E731
    out.print(f"self-test {result.id} {'PASSED' if result.passed else 'FAILED'} at {_local(result.finished_at, settings)}"
              f" in {result.duration_s:.1f} s: {len(result.checks) - len(result.failed)}/{len(result.checks)} checks"
              f" passed; tests passing {verdict(result.passed)}, performance verified "
              f"{verdict(result.performance_ok)}, security validated {verdict(result.security_ok)}", markup=False)
    out.print(f"evidence: {result.evidence_path} (SHA-256 {result.evidence_sha256})", markup=False)


@main.command()
@click.argument("run_id", type=ID, required=False)
@format_option
@click.pass_obj
def evidence(obj: Ctx, run_id: int | None, fmt: str) -> None:
    """List evidence records, or print the record of RUN_ID."""
    console, actor = obj.console()
    console.authorise(actor, "view.operations", "view")
    if run_id is not None:
        out.print(console.read_evidence(actor, run_id), markup=False)
        if not console.evidence_valid(run_id):
            _fail(f"evidence of run {run_id} does not match its recorded SHA-256", 1)
        return
    _emit(fmt, ("run", "job", "status", "finished", "valid", "path"), (
        (str(e.run_id), e.job_name, e.status, _local(e.finished_at, obj.settings), "yes" if e.valid else "NO",
         e.path) for e in console.evidence(50)),
        "no evidence records yet: each finished run writes one")




@main.command()
@click.option("--limit", default=30, show_default=True, type=LIMIT)
@click.option("--status", "status", type=click.Choice(NOTIFICATION_STATES),
              help="only notifications with this delivery outcome")
@click.option("--errors", is_flag=True, help="add each channel's masked reason of its last failed send")
@format_option
@click.pass_obj
def notifications(obj: Ctx, limit: int, status: str | None, errors: bool, fmt: str) -> None:
    """List the newest notifications of the outbox (patients by pseudonym) and how each was delivered:
    the in-app inbox and every channel of its audience (`medjobs channels` sums them up)."""
    console, actor = obj.console()
    console.authorise(actor, "view.operations", "view")
    notes = [n for n in console.notifications(limit, actor) if status is None or n.status == status]
    columns = ("id", "created", "kind", "audience", "patient", "due", "message", "status", "delivery")
    rows = [[str(n.id), _local(n.created_at, obj.settings), n.kind, n.audience, n.patient or "-",
             _local(n.due_at, obj.settings), n.message, n.status, n.delivery_summary] for n in notes]
    if errors:
        columns += ("reason",)
        for row, n in zip(rows, notes):
            row.append("; ".join(d.error for d in n.deliveries if d.error and d.status != "sent") or "-")
    _emit(fmt, columns, rows, "no notifications with this status" if status else
          "no notifications yet: reminders and alerts appear when the clinical jobs run")


@main.command()
@format_option
@click.pass_obj
def channels(obj: Ctx, fmt: str) -> None:
    """Notification channels (the in-app inbox and those of config.yaml, by name and URL scheme, never the
    URL) with how many deliveries of each are sent, pending, failed, unconfirmed or expired."""
    console = obj.viewer()
    _emit(fmt, ("channel", "scheme", "audience", "sent", "pending", "sending", "failed", "unconfirmed", "expired"), (
        (c.channel + ("" if c.configured else " (not in config)"), c.scheme, ", ".join(c.audience) or "-",
         *(str(c.counts.get(k, 0)) for k in ("sent", "pending", "sending", "failed", "unconfirmed", "expired")))
        for c in console.channels()), "no channels")


@main.command("log")
@click.option("--level", default="INFO", show_default=True, help="show lines from this level up: INFO, WARNING, ERROR")
@click.option("--follow", "-f", is_flag=True, help="then keep printing lines as the runners write them (Ctrl+C stops)")
@click.option("--limit", default=50, show_default=True, type=LIMIT, help="how many of the newest lines first")
@format_option
@click.pass_obj
def log_command(obj: Ctx, level: str, follow: bool, limit: int, fmt: str) -> None:
    """The runners' log, masked (ids, job names and error classes, never patient data): what every runner of
    the clinic (a headless `medjobs run`, an operator's console) wrote to <data folder>/logs/runner.log, oldest
    first, in clinic time. With --follow, JSON is one object per line."""
    console = obj.viewer()
    try:
        lines = console.log_lines(level, limit, own=False)[::-1]
    except ConsoleError as exc:
        raise click.BadParameter(str(exc), param_hint="--level") from None
    columns = ("time", "level", "source", "logger", "message")

    def row(line) -> tuple[str, ...]:
        at = line.at.astimezone(obj.settings.zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        return at, line.level, line.source, line.logger.removeprefix("medjobs_tui."), line.message

    def emit(line_rows: list[tuple[str, ...]], header: bool) -> None:
        line_rows = [tuple(printable(v) for v in r) for r in line_rows]
        if fmt == "json":
            text = render_table(columns, line_rows, "json") if not follow else "".join(
                json.dumps(dict(zip(columns, r)), ensure_ascii=False) + "\n" for r in line_rows)
        elif fmt == "csv":
            text = render_table(columns, line_rows, "csv")
            text = text if header else text.split("\n", 1)[1]
        else:
            text = "".join(f"{r[0]}  {r[1]:<8} {r[2]}  {r[3]}: {r[4]}\n" for r in line_rows)
        sys.stdout.write(text)
        sys.stdout.flush()

    if not lines and not follow and fmt == "table":
        if level.upper() != "INFO" and console.log_lines("INFO", 1, own=False):
            out.print(f"no runner log lines at {level.upper()} or above (lower levels: --level INFO)", markup=False)
        else:
            out.print("no runner log lines yet: runners write them to "
                      f"{log_path_text(obj.settings)} (a headless `medjobs run` or an operator's console)",
                      markup=False)
        return
    emit([row(line) for line in lines], header=True)
    if not follow:
        return
    try:
        for line in console.follow_log(level):
            emit([row(line)], header=False)
    except KeyboardInterrupt:
        pass


def log_path_text(settings: Settings) -> str:
    return str(runlog.log_path(settings))


@main.group("alerts", invoke_without_command=True)
@click.option("--state", type=click.Choice(["open", "acknowledged", "resolved", "active", "all"]), default="active",
              show_default=True, help="active: open and acknowledged")
@click.option("--limit", default=50, show_default=True, type=LIMIT)
@format_option
@click.pass_context
def alerts_group(ctx: click.Context, state: str, limit: int, fmt: str) -> None:
    """List MedJobs' own alerts (dead run, critical job failing, schedule missed, error rate, critical supply,
    major or contraindicated interaction), open first: state in words (open, acknowledged by whom, resolved and why), how many
    times seen, first and last seen. Evaluates the dead-man's switch and error rates first.
    `alerts ack ALERT_ID` acknowledges one."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Ctx = ctx.obj
    console, actor = obj.console()
    from medjobs_tui.console.alerts import alert_label

    _emit(fmt, ("alert", "kind", "severity", "scope", "state", "count", "first seen", "last seen", "summary"), (
        (alert_label(a.id), a.kind, a.severity, a.scope, a.state_words, a.count, _local(a.first_seen, obj.settings),
         _local(a.last_seen, obj.settings), a.summary) for a in console.alerts(actor, state, limit)),
        f"no {'' if state in ('all', 'active') else state + ' '}alerts" + (" (none open or acknowledged)"
                                                                             if state == "active" else ""))


@alerts_group.command("ack")
@click.argument("alert_id", type=AlertRef("A-"))
@click.pass_obj
def alerts_ack(obj: Ctx, alert_id: int) -> None:
    """Acknowledge open alert ALERT_ID (A-4, or 4, as `medjobs alerts` shows it; interaction alerts I-N are
    `interactions ack`), audited: it stays until its cause clears, then resolves itself."""
    from medjobs_tui.console.alerts import alert_label

    console, actor = obj.console()
    a = console.acknowledge_alert(actor, alert_id)
    out.print(f"alert {alert_label(a.id)} ({a.kind_words}, {a.scope}) {a.state_words} at "
              f"{_local(a.acknowledged_at, obj.settings)}", markup=False)


@main.command()
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="one clinic-local day (default: today)")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="first day of a range (with --to)")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="last day of a range, included")
@click.option("--patient", help="only this patient (pseudonym, e.g. P-00012)")
@click.option("--order", type=ORDER_ID, help="only this medication request (order id)")
@click.pass_obj
def doses(obj: Ctx, day, first, last, patient: str | None, order: int | None) -> None:
    """List the dose instants MedJobs schedules: local and UTC time, patient, order, dose, status.

    Status: due (not reminded yet), reminded, taken, missed, skipped (or refused). Days are clinic-local
    dates; a range is at most 31 days. Needs a clinic role (operator, admin, reviewer); audited.
    """
    if day is not None and (first is not None or last is not None):
        raise click.UsageError("give either --date DAY or --from DAY --to DAY")
    if (first is None) != (last is None):
        raise click.UsageError("--from and --to go together")
    console, actor = obj.console()
    if first is None:
        first = last = day or console.clock.now().astimezone(obj.settings.zone)
    rows = console.doses(actor, first.date(), last.date(), patient=patient.strip().upper() if patient else None,
                         order=order)
    _print_table(("local time", "UTC", "patient", "order", "medication", "dose", "status"), (
        (r.local.strftime("%Y-%m-%d %H:%M %Z"), r.at.strftime("%Y-%m-%d %H:%MZ"), r.patient, str(r.order),
         r.medication, r.dose_text, r.status) for r in rows))
    err.print(f"{len(rows)} dose(s), {first.date()}" + (f"..{last.date()}" if last.date() != first.date() else ""))


@main.command()
@click.argument("ref")
@click.pass_obj
def error(obj: Ctx, ref: str) -> None:
    """Show the full detail behind an error reference such as E-3F9A1C (admins; may hold patient data)."""
    console, actor = obj.console()
    out.print(console.error_detail(actor, ref.strip().upper()), markup=False)


# ------------------------------------------------------------------------------------- keys


@main.group()
def key() -> None:
    """The clinic's keys: rotate the store key, rebuild a lost key file with the recovery key."""


@key.command("rotate")
@click.pass_obj
def key_rotate(obj: Ctx) -> None:
    """Re-encrypt the store under a new store key (admin; refused while a runner holds a lease)."""
    console, actor = obj.console()
    console.rotate_store_key(actor)
    out.print(f"store re-keyed; key file {key_file_path(obj.settings)} rewritten, recovery copy re-wrapped")


@key.command("recover")
@click.option("--from", "copy", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="recovery copy to use (default: the one beside the store; backups keep one too)")
@click.pass_obj
def key_recover(obj: Ctx, copy: Path | None) -> None:
    """Rebuild a lost key file from the recovery copy; asks for the recovery key."""
    settings = obj.settings
    text = click.prompt("recovery key", hide_input=True)
    try:
        keys = recover_keys(settings, text, copy)
    except KeyFileError:
        if key_file_exists(settings):                   # the audit key is at hand: the refusal is recorded
            Console(settings).key_recovery_refused(CUSTODIAN, "wrong recovery key")
        raise
    if key_file_exists(settings):
        Console(settings).key_recovery_refused(CUSTODIAN, "a key file exists")
    path = restore_key_file(settings, keys)             # refuses (KeyFileError) when a key file exists
    Console(settings, keys=keys).key_file_recovered(CUSTODIAN, (copy.name if copy else "recovery copy beside the store"))
    out.print(f"key file {path} rebuilt from the recovery copy")


# ------------------------------------------------------------------------------------- backups


@main.group("backup")
def backup_group() -> None:
    """Backups: list them (with a check of each file's SHA-256), verify one."""


@backup_group.command("list")
@click.option("--limit", default=30, show_default=True, type=LIMIT)
@click.pass_obj
def backup_list(obj: Ctx, limit: int) -> None:
    """The backups kept, newest first: verified when made, and intact (SHA-256 still matches) now
    (operator, admin, auditor; audited)."""
    console, actor = obj.console()
    _print_table(("id", "file", "created", "size", "verified", "intact"), (
        (str(b.id), b.file, _local(b.created_at, obj.settings), f"{b.size_bytes:,}", "yes" if b.verified else "NO",
         "yes" if b.intact else f"NO ({b.state})") for b in console.list_backups(actor, limit)))


@backup_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def backup_verify(obj: Ctx, file: Path) -> None:
    """Verify FILE: SHA-256 and size against its manifest, then open it with the backup key
    (cipher_integrity_check, integrity_check, row counts). Exit 1 when it fails."""
    console, actor = obj.console()
    manifest = console.verify_backup_file(actor, file)
    rows = sum(n for g in manifest["row_counts"].values() for n in g.values())
    out.print(f"{file.name}: verified (SHA-256 {manifest['sha256'][:16]}…, {rows} rows, integrity ok)",
              markup=False)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.pass_obj
def restore(obj: Ctx, file: Path, yes: bool) -> None:
    """Replace the store with backup FILE (admin). The backup is verified first; the current store is kept
    aside; refused while a runner holds a lease."""
    console, actor = obj.console()
    console.authorise(actor, "store.restore", "store")      # refused before anything is asked
    if not yes:
        click.confirm(f"replace the store {obj.settings.database_path} with {file.name}? The current store is "
                      "kept aside", abort=True)
    done = console.restore(actor, file)
    out.print(f"store restored from {file.name}; the previous store is kept as {done.kept_as}; "
              f"{done.audit_carried} audit entr{'y' if done.audit_carried == 1 else 'ies'} written after the backup "
              "carried over", markup=False)
    if done.audit_problem:
        left = done.audit_after_backup - done.audit_carried
        err.print(f"[bold red]medjobs: WARNING:[/] the audit trail of the store kept aside does not chain after "
                  f"the backup's head: {done.audit_problem}. {left} later entr{'y was' if left == 1 else 'ies were'} "
                  f"NOT carried over (they stay in {done.kept_as.name}); this is in the audit trail. The store WAS "
                  "restored.", markup=True, soft_wrap=True)
        sys.exit(1)


# ------------------------------------------------------------------------------------- audit


@main.group("audit")
def audit_group() -> None:
    """The audit trail: verify its HMAC chain, list its entries (admin, auditor)."""


@audit_group.command("verify")
@click.pass_obj
def audit_verify(obj: Ctx) -> None:
    """Check the chain and its checkpoints; print OK with count and head, or the first bad entry (exit 1)."""
    console, actor = obj.console()
    verdict = console.audit_verify(actor)
    if not verdict.ok:
        _fail(verdict.line(), 1)
    out.print(verdict.line(), markup=False)


@audit_group.command("list")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
              help="from this clinic-local date or time on")
@click.option("--actor", "who", help="only this user")
@click.option("--action", help="only this action, or a prefix ending in '.', e.g. job.")
@click.option("--limit", default=50, show_default=True, type=LIMIT)
@format_option
@click.pass_obj
def audit_list(obj: Ctx, since, who: str | None, action: str | None, limit: int, fmt: str) -> None:
    """List audit entries, newest first (clinic-local times; csv and json: UTC ISO 8601 too)."""
    console, actor = obj.console()
    since_utc = since.replace(tzinfo=obj.settings.zone).astimezone(timezone.utc) if since else None
    rows = console.audit_list(actor, since=since_utc, who=who, action=action, limit=limit)
    if fmt == "table":
        _print_table(("id", "at", "outcome", "actor", "role", "action", "target", "detail"), (
            (str(r["id"]), _local(parse_iso(r["at"]), obj.settings), r["outcome"], r["actor"], r["role"], r["action"],
             r["target"] or "-", r.get("detail") or "-") for r in rows))
        return
    _emit(fmt, ("id", "at_utc", "at_local", "outcome", "actor", "role", "action", "target", "detail"), (
        (r["id"], r["at"], _local(parse_iso(r["at"]), obj.settings), r["outcome"], r["actor"], r["role"], r["action"],
         r["target"], r.get("detail")) for r in rows), "no audit entries")


# ------------------------------------------------------------------------------------- clinic set-up


def _print_recovery_key(recovery: str) -> None:
    out.print("RECOVERY KEY (shown once; write it down and keep it away from this machine. With it,"
              " `medjobs recover` rebuilds a lost key file and gives an admin back to a clinic none can"
              " sign in to):", markup=False)
    out.print(f"    {recovery}", markup=False)


@main.command()
@click.option("--admin", "admin", required=True, help="user name of the clinic's first admin")
@click.option("--generate", is_flag=True, help="generate the admin's password and show it once (else typed twice)")
@click.pass_obj
def init(obj: Ctx, admin: str, generate: bool) -> None:
    """Create a clinic: its keys (the recovery key is shown once) and its first admin."""
    settings = obj.settings
    check_username(admin)
    password = _new_password(generate, admin)
    recovery = None
    if not key_file_exists(settings):
        recovery = create_keys(settings)          # refuses, writing nothing, beside a store without its key
    console = Console(settings)
    if console.has_users():
        raise ConsoleError(f"{settings.database_path}: this clinic is set up already; an admin adds users "
                           "with `medjobs user add`")
    generated = console.create_first_admin(CUSTODIAN, admin, password)
    out.print(f"clinic created: store {settings.database_path}, key file {key_file_path(settings)} (0600; keep "
              "it out of backups)", markup=False)
    if recovery is not None:
        _print_recovery_key(recovery)
    out.print(f"first admin: {admin}", markup=False)
    _show_generated(admin, generated)


@main.command()
@click.option("--admin", "admin", required=True,
              help="the user to make an admin: a new user, or an existing one whose password is lost")
@click.option("--generate", is_flag=True, help="generate the admin's password and show it once (else typed twice)")
@click.option("--from", "copy", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="recovery copy of the keys to use (default: the one beside the store)")
@click.pass_obj
def recover(obj: Ctx, admin: str, generate: bool, copy: Path | None) -> None:
    """Emergency access with the recovery key: rebuild a lost key file, and make ADMIN an admin who can sign
    in. Its use is audited and shown to the next admin who signs in."""
    settings = obj.settings
    check_username(admin)
    text = click.prompt("recovery key", hide_input=True, err=True)
    try:
        keys = recover_keys(settings, text, copy)
    except KeyFileError:
        if key_file_exists(settings):
            Console(settings).emergency_refused(CUSTODIAN, "wrong recovery key")
        raise
    restored = not key_file_exists(settings)
    if restored:
        restore_key_file(settings, keys)
    password = _new_password(generate, admin)
    generated = Console(settings, keys=keys).emergency_admin(CUSTODIAN, admin, password,
                                                              key_file_restored=restored)
    if restored:
        out.print(f"key file {key_file_path(settings)} rebuilt from the recovery copy", markup=False)
    err.print(f"[bold red]EMERGENCY ACCESS:[/] {admin} is an admin now; this is in the audit trail and will be "
              "shown to the next admin who signs in", markup=True, soft_wrap=True)
    _show_generated(admin, generated)


# ------------------------------------------------------------------------------------- sign-in


@main.command()
@click.pass_obj
def login(obj: Ctx) -> None:
    """Sign in as --user and open a session for the next commands (ends after the idle timeout or logout)."""
    if obj.user is None:
        raise click.UsageError("login needs --user NAME")
    console = Console(obj.settings)
    signed, token = console.open_session(obj.user, obj.password(f"password of {obj.user}"))
    identity.write_session_token(identity.session_file(obj.settings.database_path), token)
    for notice in signed.notices:
        err.print(f"[bold red]medjobs: NOTICE:[/] {notice}", markup=True, soft_wrap=True)
    minutes = obj.settings.security.idle_timeout / 60
    out.print(f"signed in as {signed.actor.username} ({_role_text(signed.actor)}); the session ends after "
              f"{minutes:g} min without a command, or with `medjobs logout`", markup=False)


@main.command()
@click.pass_obj
def logout(obj: Ctx) -> None:
    """End this store's login session."""
    path = identity.session_file(obj.settings.database_path)
    token = identity.read_session_token(path)
    if token is None:
        out.print("no session to end")
        return
    console = Console(obj.settings)
    try:
        actor = console.resume_session(token)
    except SignInFailed:
        identity.remove_session_token(path)
        out.print("the session had already ended")
        return
    console.end_session(actor, token)
    identity.remove_session_token(path)
    out.print(f"signed out {actor.username}")


@main.command()
@click.pass_obj
def whoami(obj: Ctx) -> None:
    """Show who the commands act as (the session's user, or --user after the password)."""
    _, actor = obj.console()
    out.print(f"{actor.username} ({_role_text(actor)})", markup=False)


def _role_text(actor: Actor) -> str:
    return actor.role + (f", {actor.review_role}" if actor.review_role else "")


def _new_password(generate: bool, who: str) -> str | None:
    """A new password typed twice on the terminal, or None to have one generated (``--generate``)."""
    if generate:
        return None
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal to type the new password on; use --generate (it is shown once)")
    return click.prompt(f"new password for {who}", hide_input=True, confirmation_prompt=True, err=True)


def _show_generated(who: str, password: str | None) -> None:
    if password is not None:
        out.print(f"password of {who} (shown once; hand it over in person): {password}", markup=False)


@main.command("password")
@click.pass_obj
def password_cmd(obj: Ctx) -> None:
    """Change your own password (the current one is asked first)."""
    console, actor = obj.console()
    if not sys.stdin.isatty():
        raise click.UsageError("changing your password needs a terminal")
    current = obj.password(f"current password of {actor.username}")
    new = click.prompt("new password", hide_input=True, confirmation_prompt=True, err=True)
    console.change_password(actor, current, new)
    out.print("password changed")


@main.group()
def user() -> None:
    """Users and their roles (admins)."""


ROLE = click.Choice(["admin", "operator", "reviewer", "auditor"])
REVIEW_ROLE = click.Choice(["technical lead", "security officer", "compliance officer", "project manager"])


@user.command("add")
@click.argument("name")
@click.option("--role", type=ROLE, required=True)
@click.option("--review-role", type=REVIEW_ROLE, help="a reviewer's review role")
@click.option("--full-name", help="the printed name on the user's signatures (default: the user name)")
@click.option("--generate", is_flag=True, help="generate the password and show it once (else typed twice)")
@click.pass_obj
def user_add(obj: Ctx, name: str, role: str, review_role: str | None, full_name: str | None, generate: bool) -> None:
    """Add user NAME with ROLE."""
    console, actor = obj.console()
    console.authorise(actor, "user.add", f"user:{name}")
    generated = console.add_user(actor, name, role, _new_password(generate, name), review_role, full_name)
    out.print(f"added {name} ({role}{', ' + review_role if review_role else ''})", markup=False)
    _show_generated(name, generated)


@user.command("passwd")
@click.argument("name")
@click.option("--generate", is_flag=True, help="generate the password and show it once (else typed twice)")
@click.pass_obj
def user_passwd(obj: Ctx, name: str, generate: bool) -> None:
    """Set NAME's password (their sessions end; a lockout is lifted)."""
    console, actor = obj.console()
    console.authorise(actor, "user.passwd", f"user:{name}")
    generated = console.set_user_password(actor, name, _new_password(generate, name))
    out.print(f"password of {name} set", markup=False)
    _show_generated(name, generated)


@user.command("role")
@click.argument("name")
@click.argument("role", type=ROLE)
@click.option("--review-role", type=REVIEW_ROLE, help="a reviewer's review role")
@click.pass_obj
def user_role(obj: Ctx, name: str, role: str, review_role: str | None) -> None:
    """Give NAME the role ROLE (their sessions end)."""
    console, actor = obj.console()
    console.set_user_role(actor, name, role, review_role)
    out.print(f"{name} is now {role}{', ' + review_role if review_role else ''}", markup=False)


@user.command("name")
@click.argument("name")
@click.argument("full_name")
@click.pass_obj
def user_name(obj: Ctx, name: str, full_name: str) -> None:
    """Set NAME's printed name, FULL_NAME, shown on the signatures they make from now on."""
    console, actor = obj.console()
    console.set_user_full_name(actor, name, full_name)
    out.print(f"{name}'s printed name is now {' '.join(full_name.split())}", markup=False)


@user.command("disable")
@click.argument("name")
@click.pass_obj
def user_disable(obj: Ctx, name: str) -> None:
    """Disable NAME: no sign-in, sessions end (the last admin cannot be disabled)."""
    console, actor = obj.console()
    console.disable_user(actor, name)
    out.print(f"{name} disabled", markup=False)


@user.command("enable")
@click.argument("name")
@click.pass_obj
def user_enable(obj: Ctx, name: str) -> None:
    """Enable NAME again."""
    console, actor = obj.console()
    console.enable_user(actor, name)
    out.print(f"{name} enabled", markup=False)


@user.command("unlock")
@click.argument("name")
@click.pass_obj
def user_unlock(obj: Ctx, name: str) -> None:
    """Lift NAME's lockout after failed sign-ins."""
    console, actor = obj.console()
    console.unlock_user(actor, name)
    out.print(f"{name} unlocked", markup=False)


@user.command("list")
@click.pass_obj
def user_list(obj: Ctx) -> None:
    """List the users: role, review role, enabled, failures, lockout, last sign-in."""
    console, actor = obj.console()
    s = obj.settings
    _print_table(("user", "role", "review role", "enabled", "failures", "locked until", "last sign-in"), (
        (u.username, u.role, u.review_role or "-", "yes" if u.enabled else "NO", str(u.failed_signins),
         _local(u.locked_until, s), _local(u.last_signin_at, s)) for u in console.list_users(actor)))


@main.command("check-config")
@click.pass_obj
def check_config(obj: Ctx) -> None:
    """Validate the config file and print what it sets up."""
    s = obj.settings
    out.print(f"{s.source}: ok — {s.clinic.name}, zone {s.clinic.timezone}, {len(s.jobs)} jobs, "
              f"store {s.database_path}")
    for name, channel in s.notifications.channels.items():
        if channel.allow_plaintext and channel.sends_in_clear_text():
            err.print(f"warning: channel {name} ({channel.scheme}://) sends without TLS (allow_plaintext: true); "
                      "use it only for a relay on the clinic's own network")
    for audience in ("patient", "prescriber"):
        if not s.notifications.channels_for(audience):
            err.print(f"warning: no notification channel serves the {audience} audience: notifications to "
                      f"{audience}s reach the in-app inbox only (status inbox_only); add one under "
                      "notifications.channels")
    if not key_file_exists(s):
        err.print(f"warning: key file {key_file_path(s)} is missing: the store cannot be opened (`medjobs init` makes a "
                  "new clinic; an existing one needs its key file back, or `medjobs key recover`)")


from medjobs_tui.signoff_cli import signoff_group  # noqa: E402 - its own module; it reads Ctx and the printers above

main.add_command(signoff_group)


if __name__ == "__main__":  # pragma: no cover
    main()
