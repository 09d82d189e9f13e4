"""The MedJobs dashboard: six live tabs over the console (Doses: today's dose instants), with keys to trigger, pause, retry and cancel.

Thread discipline (DESIGN.md): every console call runs in a thread worker that never touches a widget;
it posts a message and the handler on the event loop changes the screen. The refresh re-arms itself
with ``set_timer`` only when the previous fetch has been painted, so fetches never pile up, and the
tables are updated by row key (``LiveTable.sync``), never cleared per tick.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from functools import partial
from typing import Callable, Iterable

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from medjobs_tui.config import Settings
from medjobs_tui.console import Actor, Console, ConsoleError, NotificationRow, SignIn, Snapshot
from medjobs_tui.console import identity
from medjobs_tui.console.operations import PERMISSIONS
from medjobs_tui.engine.runner import Runner
from medjobs_tui.tui import commands, details
from medjobs_tui.tui.audit_tab import AUDIT_LIMIT, AUDIT_TAB, audit_pane, audit_rows
from medjobs_tui.tui.login import LockScreen, LoginScreen
from medjobs_tui.tui.messages import (
    AuditReady, CommandDone, EvidenceLoaded, RefreshFailed, SignInRefused, SignedIn, SnapshotReady, Unlocked,
)
from medjobs_tui.tui.screens import DetailScreen, EvidenceScreen, HelpScreen
from medjobs_tui.tui.tables import TABS
from medjobs_tui.tui.widgets import ClinicHeader, LiveTable

log = logging.getLogger(__name__)

SIGNED_OUT_ACTIONS = frozenset({"quit", "focus_next", "focus_previous"})
"""What keys may do before sign-in and while locked: quit, and tab / shift+tab between the fields
(the command palette and every dashboard action stay closed)."""

TAB_OF_ACTION = {"trigger": "jobs", "toggle_pause": "jobs", "retry": "queue", "cancel": "queue",
                 "dose_taken": "doses"}
"""The tab an action works on; elsewhere its key is greyed out in the footer."""

EXTRA_KEYS = (
    ("enter", "Open the selected run, evidence record or notification", "tables"),
    ("1 … 6", "Switch to Queue, Jobs, Metrics, Evidence, Notifications, Doses", "everywhere"),
    ("↑ ↓ pgup pgdn", "Move the cursor", "tables"),
    ("home end", "Go to the first / last row", "tables"),
    ("ctrl+p", "Command palette (trigger or pause any job, switch tab, theme)", "everywhere"),
    ("ctrl+q", "Quit at once", "everywhere"),
)
"""Keys the help screen lists besides the app's own bindings."""


TOAST_SECONDS = 4
"""How long a toast stays up."""

MAX_TOASTS = 3
"""At most this many toasts on screen: a new one pushes out the oldest."""

IDLE_CHECK_SECONDS = 1.0
"""How often (real seconds) the dashboard compares the injected clock with the last input."""

INPUT_EVENTS = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp, events.Paste)
"""What counts as input for the automatic logoff."""

REPEAT_ERROR_AFTER = 60.0
"""Seconds before the same refresh error is shown again (a flapping store does not flood the screen)."""


class RunTable(LiveTable):
    """The Queue tab's table: enter (or a click) opens the selected run in full (attempts, status, error)."""

    BINDINGS = [Binding("enter", "select_cursor", "Run details", id="run.view")]


class EvidenceTable(LiveTable):
    """The Evidence tab's table: enter (or a click) opens the selected run's record."""

    BINDINGS = [Binding("enter", "select_cursor", "View evidence", id="evidence.view")]


class NotificationTable(LiveTable):
    """The Notifications tab's table: enter (or a click) opens the selected notification in full."""

    BINDINGS = [Binding("enter", "select_cursor", "Full message", id="notification.view")]


TABLE_CLASS: dict[str, type[LiveTable]] = {
    "queue": RunTable, "evidence": EvidenceTable, "notifications": NotificationTable,
}
"""The table of each tab whose rows open in a dialog; the other tabs use a plain LiveTable."""


class MedJobsApp(App[None]):
    """The clinic's background-jobs dashboard over a Console, acting as ``actor``.

    Without ``actor`` it opens on the sign-in screen and acts as whoever signs in; ``runner_factory``
    then makes the embedded runner once a user whose role may run jobs has signed in. After
    ``security.idle_timeout`` seconds without input (by the console's clock) it locks until that
    user's password is typed again; the runner keeps running meanwhile.

    With ``runner`` the app starts it on mount and stops it on quit (the embedded runner); without one
    the dashboard only shows and commands the store that some other runner serves.
    ``refresh_interval`` is the pause in seconds between the end of one refresh and the next.
    The console is kept as ``operations`` (``App.console`` is Textual's own Rich console).
    """

    CSS_PATH = "medjobs.tcss"
    TITLE = "MedJobs"
    BINDINGS = [
        Binding("t", "trigger", "Trigger", id="job.trigger", tooltip="Queue a run of the selected job now"),
        Binding("p", "toggle_pause", "Pause/resume", id="job.pause", tooltip="Pause or resume the selected job"),
        Binding("r", "retry", "Retry", id="run.retry", tooltip="Retry the selected dead or backing-off run now"),
        Binding("c", "cancel", "Cancel", id="run.cancel", tooltip="Cancel the selected queued run"),
        # not in the footer yet (every tab's footer and snapshot would change under the dashboard work);
        # listed in help (?) under Doses
        Binding("d", "dose_taken", "Taken", id="dose.taken", show=False,
                tooltip="Record the selected dose as taken (audited)"),
        Binding("f5", "refresh", "Refresh", show=False, id="refresh", tooltip="Refresh now"),
        Binding("question_mark", "help", "Help", key_display="?", id="help", tooltip="List the keys"),
        Binding("f1", "help", "Help", show=False, id="help.f1", tooltip="List the keys"),
        *(Binding(str(n), f"show_tab('{spec.id}')", spec.title, show=False, id=f"tab.{spec.id}",
                  tooltip=f"Show the {spec.title} tab") for n, spec in enumerate(TABS, start=1)),
        Binding("q", "quit", "Quit", id="quit", tooltip="Stop the runner and quit"),
    ]

    def __init__(self, console: Console, actor: Actor | None = None, runner: Runner | None = None,
                 refresh_interval: float = 1.0, *, username: str | None = None,
                 runner_factory: Callable[[], Runner] | None = None) -> None:
        super().__init__()
        self.operations = console
        self.actor = actor
        self.runner = runner
        self.runner_factory = runner_factory
        self.login_name = username
        """The user name the sign-in screen starts with."""
        self.locked = False
        """True while the lock screen is up (automatic logoff)."""
        self._last_input = console.clock.now()
        self.latest_audit: list = []
        """The newest audit entries (AuditRow), for the Audit tab of admins and auditors."""
        self.audit_tab = False
        """True once the Audit tab is there (the signed-in role may read the audit trail)."""
        self.refresh_interval = refresh_interval
        self.zone = console.settings.zone
        self.latest: Snapshot | None = None
        self.refresh_count = 0
        """How many snapshots have been received (tests wait on it)."""
        self._timer: Timer | None = None
        self._fetching = False
        self._again = False
        self._stopping = False
        self._runner_stopped = False
        self._errors_shown: dict[str, float] = {}
        """When each refresh error was last shown (time.monotonic)."""
        self._console_lock = threading.Lock()
        """Held by every worker thread during its console call, and while the runner stops: stopping the
        runner closes the store connections, which must never happen under a query in progress."""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield ClinicHeader(self.operations.clock, self.zone)
        with TabbedContent(id="tabs"):
            for spec in TABS:
                with TabPane(spec.title, id=spec.id):
                    yield TABLE_CLASS.get(spec.id, LiveTable)(spec.columns, id=f"{spec.id}-table")
                    if spec.id == "notifications":
                        yield Static("", id="notifications-preview", classes="preview")
                    if spec.empty:
                        yield Static(spec.empty, id=f"{spec.id}-empty", classes="empty-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.operations.settings.clinic.name
        self.set_interval(IDLE_CHECK_SECONDS, self.check_idle_lock, name="idle check")
        if self.actor is None:
            self.push_screen(LoginScreen(self.title, self.login_name,
                                         identity.demo_users_path(self.operations.settings.database_path)))
            return
        self._open_console()

    def _open_console(self) -> None:
        """Start acting as ``self.actor``: the tables, the embedded runner (if any) and the refresh."""
        self.sub_title = f"{self.actor.username} ({self.actor.role})"
        self._last_input = self.operations.clock.now()
        if self.actor.role in PERMISSIONS["audit.list"] and not self.audit_tab:
            self.audit_tab = True
            self.query_one(TabbedContent).add_pane(audit_pane())
        self.table("queue").focus()
        if self.runner is not None:
            self.run_worker(self._start_runner, thread=True, group="runner", name="start runner",
                            exit_on_error=False)
        self.refresh_now()

    def table(self, tab: str) -> LiveTable:
        """The table of tab ``tab`` (queue, jobs, metrics, evidence, notifications)."""
        return self.query_one(f"#{tab}-table", LiveTable)

    @property
    def active_tab(self) -> str | None:
        """The id of the tab shown, or None before the tabs exist."""
        try:
            return self.query_one(TabbedContent).active or None
        except NoMatches:
            return None

    def _modal_open(self) -> bool:
        return len(self.screen_stack) > 1

    # ------------------------------------------------------------------ live refresh

    def refresh_now(self) -> None:
        """Fetch a snapshot now (or right after the fetch in progress); cancels the armed timer."""
        if self._stopping:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._fetching:
            self._again = True
            return
        self._fetching = True
        self.run_worker(self._fetch_snapshot, thread=True, group="refresh", name="snapshot", exit_on_error=False)

    def _fetch_snapshot(self) -> None:
        """Thread worker: read the snapshot and post it; never touches a widget."""
        with self._console_lock:
            if self._stopping:
                return
            try:
                snapshot = self.operations.snapshot(actor=self.actor)
                if self.audit_tab and self.actor is not None:
                    self._post(AuditReady(self.operations.audit_entries(self.actor, limit=AUDIT_LIMIT)))
            except Exception as exc:  # noqa: BLE001 - shown to the user, then the next refresh tries again
                log.error("refresh failed: %s", type(exc).__name__)
                self._post(RefreshFailed(commands.describe(exc)))
            else:
                self._post(SnapshotReady(snapshot))

    def _post(self, message) -> None:
        try:
            self.post_message(message)
        except RuntimeError:  # the event loop is already closed: the app is gone
            pass

    @on(AuditReady)
    def _audit_ready(self, message: AuditReady) -> None:
        self.latest_audit = message.entries

    @on(SnapshotReady)
    def _snapshot_ready(self, message: SnapshotReady) -> None:
        if self._stopping:
            return
        self.latest = message.snapshot
        self.refresh_count += 1
        if not self._modal_open():
            self.paint()
        self._arm_next()

    @on(RefreshFailed)
    def _refresh_failed(self, message: RefreshFailed) -> None:
        if self._stopping:
            return
        now = time.monotonic()
        if now - self._errors_shown.get(message.error, -REPEAT_ERROR_AFTER) >= REPEAT_ERROR_AFTER:
            self._errors_shown[message.error] = now
            self.toast(message.error, title="Refresh failed", severity="error")
        self._arm_next()

    def _arm_next(self) -> None:
        self._fetching = False
        if self._stopping:
            return
        if self._again:
            self._again = False
            self.refresh_now()
        else:
            self._timer = self.set_timer(self.refresh_interval, self.refresh_now, name="refresh")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Safety net: a worker that raised is reported, and a broken refresh is re-armed."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        log.error("worker %s failed: %s", event.worker.name, type(error).__name__)
        self.toast(commands.describe(error), title=f"{event.worker.name} failed", severity="error")
        if event.worker.group == "refresh":
            self._arm_next()

    def paint(self) -> None:
        """Show the latest snapshot in the visible tab (hidden tabs are painted when shown)."""
        tab = self.active_tab
        if self.latest is None or tab is None:
            return
        try:
            table = self.table(tab)
        except NoMatches:  # the app is closing: a late snapshot has nowhere to go
            return
        if tab == AUDIT_TAB:
            table.sync(audit_rows(self.latest_audit, self.zone))
            self.query_one(f"TabPane#{tab}").set_class(table.row_count == 0, "-empty")
            return
        spec = next(s for s in TABS if s.id == tab)
        with self.batch_update():
            table.sync(spec.build(self.latest, self.zone))
            self.query_one(f"TabPane#{tab}").set_class(table.row_count == 0, "-empty")
            self.sub_title = self._status_line(self.latest)
            if tab == "notifications":
                self._preview_notification(table.selected_key)

    def _status_line(self, snap: Snapshot) -> str:
        counts: dict[str, int] = {}
        for run in snap.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        parts = [f"{counts[s]} {s}" for s in ("running", "queued", "dead") if counts.get(s)]
        blocked = self.operations.runner_status()
        if blocked:
            parts.append(blocked.upper())
        return " · ".join([f"{self.actor.username} ({self.actor.role})", *parts])

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.paint()
        self.table(event.pane.id).focus()
        self.refresh_bindings()

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out (None) the keys that do not apply to the tab shown; hide them under a modal; before
        sign-in and while locked only quitting is possible."""
        if self.actor is None or self.locked:
            return action in SIGNED_OUT_ACTIONS
        tab = TAB_OF_ACTION.get(action)
        if tab is None:
            return True
        if self._modal_open():
            return False
        return True if self.active_tab == tab else None

    def action_show_tab(self, tab: str) -> None:
        """Switch to tab ``tab`` (the Audit tab only where there is one)."""
        if tab == AUDIT_TAB and not self.audit_tab:
            return
        self.query_one(TabbedContent).active = tab

    def action_refresh(self) -> None:
        """Refresh now."""
        self.refresh_now()

    def action_help(self) -> None:
        """Open the help screen listing the keys."""
        if isinstance(self.screen, HelpScreen):
            return
        metrics = next(s for s in TABS if s.id == "metrics")
        columns = [(c.label, c.help) for c in metrics.columns if c.help]
        self.push_screen(HelpScreen(self.help_keys(), columns), callback=lambda _: self.paint())

    def help_keys(self) -> list[tuple[str, str, str]]:
        """``(keys, description, where)`` for every action of the app's bindings (its keys on one line,
        e.g. ``? f1``), then the table and palette keys."""
        rows: dict[str, list] = {}
        for binding in self.BINDINGS:
            if binding.id.startswith("tab."):
                continue
            if binding.action in rows:
                rows[binding.action][0] += f" {self.get_key_display(binding)}"
                continue
            tab = TAB_OF_ACTION.get(binding.action)
            where = next(s.title for s in TABS if s.id == tab) if tab else "everywhere"
            rows[binding.action] = [self.get_key_display(binding), binding.tooltip or binding.description, where]
        return [tuple(row) for row in rows.values()] + list(EXTRA_KEYS)

    def _selected(self, tab: str) -> str | None:
        key = self.table(tab).selected_key
        if key is None:
            self.toast(f"Nothing selected in {tab}", severity="warning")
        return key

    def action_trigger(self) -> None:
        """Queue a run of the selected job now."""
        if (name := self._selected("jobs")) is not None:
            self.trigger_job(name)

    def action_toggle_pause(self) -> None:
        """Pause the selected job, or resume it if paused."""
        if (name := self._selected("jobs")) is not None:
            self.toggle_job(name)

    def action_retry(self) -> None:
        """Retry the selected run: a dead run, or a failed one waiting out its backoff (the console says why otherwise)."""
        if (key := self._selected("queue")) is not None:
            self.run_command(partial(commands.retry, self.operations, self.actor, int(key)))

    def action_cancel(self) -> None:
        """Cancel the selected run (only a queued run can be cancelled)."""
        if (key := self._selected("queue")) is not None:
            self.run_command(partial(commands.cancel, self.operations, self.actor, int(key)))

    def action_dose_taken(self) -> None:
        """Record the selected dose as taken (``medjobs dose taken``): the console checks the role and audits."""
        if (key := self._selected("doses")) is not None:
            self.run_command(partial(commands.dose_taken, self.operations, self.actor, key))

    def trigger_job(self, name: str) -> None:
        """Queue a run of job ``name`` (from a key or the command palette)."""
        self.run_command(partial(commands.trigger, self.operations, self.actor, name))

    def toggle_job(self, name: str) -> None:
        """Pause or resume job ``name``."""
        self.run_command(partial(commands.toggle_pause, self.operations, self.actor, name))

    def run_command(self, command: Callable[[], str | Message]) -> None:
        """Run a console command in a thread worker; its text (or error) comes back as CommandDone,
        or, if it returns a message, as that message. Refused before sign-in and while locked."""
        if self.actor is None or self.locked:
            return
        self.run_worker(partial(self._command_thread, command), thread=True, group="command",
                        name="command", exit_on_error=False)

    def _command_thread(self, command: Callable[[], str | Message]) -> None:
        with self._console_lock:
            if self._stopping:
                return
            try:
                result = command()
                self._post(result if isinstance(result, Message) else CommandDone(result))
            except ConsoleError as exc:  # includes PermissionDenied
                self._post(CommandDone(str(exc), "error"))
            except Exception as exc:  # noqa: BLE001 - shown, not raised: the app keeps running
                log.error("command failed: %s", type(exc).__name__)
                self._post(CommandDone(commands.describe(exc), "error"))

    @on(CommandDone)
    def _command_done(self, message: CommandDone) -> None:
        if self._stopping:
            return
        if message.text:
            self.toast(message.text, severity=message.severity)
        self.refresh_now()

    def toast(self, text: str, *, title: str = "", severity: str = "information") -> None:
        """Show ``text`` for TOAST_SECONDS, unless the same text is already up; at most MAX_TOASTS at once.
        The text is literal (never read as markup). Textual 8.2 has no public list of the toasts shown.
        Nothing is shown before sign-in or while locked."""
        if self.actor is None or self.locked:
            return
        shown = list(self._notifications)
        if any(n.message == text and n.title == title for n in shown):
            return
        for old in shown[:max(0, len(shown) - MAX_TOASTS + 1)]:
            self._unnotify(old, refresh=False)
        self.notify(text, title=title, severity=severity, timeout=TOAST_SECONDS, markup=False)

    # ------------------------------------------------------------------ detail dialogs

    @on(DataTable.RowSelected, "#queue-table")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        self.open_run(int(event.row_key.value))

    def open_run(self, run_id: int) -> None:
        """Show run ``run_id`` in full (status, attempts, masked error, local times), as last refreshed."""
        run = next((r for r in self.latest.runs if r.id == run_id), None) if self.latest else None
        if run is None:
            self.toast(f"Run {run_id} is no longer listed", severity="warning")
            return
        self.push_screen(DetailScreen(f"Run {run_id}", details.run_fields(run, self.zone)),
                         callback=lambda _: self.paint())

    @on(DataTable.RowHighlighted, "#notifications-table")
    def _notification_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._preview_notification(event.row_key.value)

    def _preview_notification(self, key: str | None) -> None:
        """Show the whole message of notification ``key`` (the row under the cursor) under the table."""
        note = self._notification(int(key)) if key is not None else None
        self.query_one("#notifications-preview", Static).update(
            Text(note.message) if note is not None else "")

    def _notification(self, notification_id: int) -> NotificationRow | None:
        if self.latest is None:
            return None
        return next((n for n in self.latest.notifications if n.id == notification_id), None)

    @on(DataTable.RowSelected, "#notifications-table")
    def _notification_selected(self, event: DataTable.RowSelected) -> None:
        self.open_notification(int(event.row_key.value))

    def open_notification(self, notification_id: int) -> None:
        """Show notification ``notification_id`` in full (the whole message), as last refreshed."""
        note = self._notification(notification_id)
        if note is None:
            self.toast(f"Notification {notification_id} is no longer listed", severity="warning")
            return
        self.push_screen(DetailScreen(f"Notification {notification_id}", details.notification_fields(note, self.zone)),
                         callback=lambda _: self.paint())

    # ------------------------------------------------------------------ evidence

    @on(DataTable.RowSelected, "#evidence-table")
    def _evidence_selected(self, event: DataTable.RowSelected) -> None:
        self.open_evidence(int(event.row_key.value))

    def open_evidence(self, run_id: int) -> None:
        """Read run ``run_id``'s evidence record in a worker, then show it in a modal."""
        self.run_command(lambda: EvidenceLoaded(run_id, self.operations.read_evidence(self.actor, run_id)))

    @on(EvidenceLoaded)
    def _evidence_loaded(self, message: EvidenceLoaded) -> None:
        row = next((e for e in self.latest.evidence if e.run_id == message.run_id), None) if self.latest else None
        header = details.evidence_header(row, self.zone) if row is not None else None
        self.push_screen(EvidenceScreen(message.run_id, message.text, header), callback=lambda _: self.paint())

    # ------------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands, plus: trigger / pause-resume each job, and show each tab (none before sign-in
        or while locked)."""
        if self.actor is None or self.locked:
            return
        yield from super().get_system_commands(screen)
        for name in self.operations.settings.jobs:
            yield SystemCommand(f"Trigger {name}", f"Queue a run of {name} now", partial(self.trigger_job, name))
            yield SystemCommand(f"Pause or resume {name}", f"Toggle whether {name}'s schedule queues runs",
                                partial(self.toggle_job, name))
        if self.audit_tab:
            yield SystemCommand("Show Audit", "Switch to the Audit tab (the audit trail)",
                                partial(self.action_show_tab, AUDIT_TAB))
        for spec in TABS:
            yield SystemCommand(f"Show {spec.title}", f"Switch to the {spec.title} tab",
                                partial(self.action_show_tab, spec.id))

    # ------------------------------------------------------------------ sign-in and automatic logoff

    def attempt_sign_in(self, username: str, password: str) -> None:
        """Check ``username``'s password through the console in a worker; SignedIn or SignInRefused comes back."""
        def check() -> None:
            try:
                signed = self.operations.sign_in(username, password)
                self.operations.authorise(signed.actor, "view.operations", "dashboard")
            except ConsoleError as exc:
                self._post(SignInRefused(str(exc)))
            except Exception as exc:  # noqa: BLE001 - shown, not raised
                log.error("sign-in failed: %s", type(exc).__name__)
                self._post(SignInRefused(commands.describe(exc)))
            else:
                self._post(SignedIn(signed))
        self.run_worker(check, thread=True, group="signin", name="sign in", exit_on_error=False)

    @on(SignedIn)
    def _signed_in(self, message: SignedIn) -> None:
        signed: SignIn = message.signin
        if self.actor is not None:
            return
        self.actor = signed.actor
        if self.runner is None and self.runner_factory is not None and self.actor.role in PERMISSIONS["runner.run"]:
            self.runner = self.runner_factory()
            self.operations = Console(self.operations.settings, runner=self.runner)
        if isinstance(self.screen, LoginScreen):
            self.pop_screen()
        self._open_console()
        self.refresh_bindings()
        for notice in signed.notices:
            self.notify(notice, title="Security notice", severity="error", timeout=60, markup=False)

    @on(SignInRefused)
    def _sign_in_refused(self, message: SignInRefused) -> None:
        if isinstance(self.screen, (LoginScreen, LockScreen)):
            self.screen.show_error(message.text)

    async def on_event(self, event: events.Event) -> None:
        """Any key, click, scroll or paste counts as input for the automatic logoff."""
        if isinstance(event, INPUT_EVENTS):
            self._last_input = self.operations.clock.now()
        await super().on_event(event)

    def check_idle_lock(self) -> None:
        """Lock when the signed-in user has given no input for ``security.idle_timeout`` seconds."""
        if self.actor is None or self.locked or self._stopping:
            return
        idle = (self.operations.clock.now() - self._last_input).total_seconds()
        if idle >= self.operations.settings.security.idle_timeout:
            self.lock_now("idle")

    def lock_now(self, reason: str = "idle") -> None:
        """Lock the dashboard: a full lock screen over everything, toasts cleared, the lock audited.
        Refreshes and the runner go on underneath; nothing of them is shown until unlocked."""
        if self.actor is None or self.locked:
            return
        actor = self.actor
        self.locked = True
        self.clear_notifications()
        self.push_screen(LockScreen(actor.username, actor.role,
                                    self.operations.settings.security.idle_timeout / 60))
        self.run_worker(partial(self._audit_lock, actor, reason), thread=True, group="lock", name="lock",
                        exit_on_error=False)

    def _audit_lock(self, actor: Actor, reason: str) -> None:
        with self._console_lock:
            try:
                self.operations.lock(actor, reason)
            except Exception as exc:  # noqa: BLE001 - the screen is locked either way
                log.error("lock audit failed: %s", type(exc).__name__)

    def attempt_unlock(self, password: str) -> None:
        """Check the locked user's password in a worker; Unlocked or SignInRefused comes back."""
        actor = self.actor

        def check() -> None:
            try:
                self._post(Unlocked(self.operations.unlock(actor, password)))
            except ConsoleError as exc:
                self._post(SignInRefused(str(exc)))
            except Exception as exc:  # noqa: BLE001 - shown, not raised
                log.error("unlock failed: %s", type(exc).__name__)
                self._post(SignInRefused(commands.describe(exc)))
        self.run_worker(check, thread=True, group="signin", name="unlock", exit_on_error=False)

    @on(Unlocked)
    def _unlocked(self, message: Unlocked) -> None:
        if not self.locked:
            return
        self.actor = message.actor
        self.locked = False
        self._last_input = self.operations.clock.now()
        if isinstance(self.screen, LockScreen):
            self.pop_screen()
        self.refresh_bindings()
        self.paint()

    # ------------------------------------------------------------------ runner lifecycle

    def _start_runner(self) -> None:
        """Thread worker: start the embedded runner (recovery, scheduler, dispatcher)."""
        with self._console_lock:
            if self._stopping:
                return
            try:
                self.runner.start()
            except Exception as exc:  # noqa: BLE001 - the dashboard still shows the store
                log.error("runner did not start: %s", type(exc).__name__)
                self._post(CommandDone(f"Runner did not start: {commands.describe(exc)}", "error"))
            else:
                self._post(CommandDone(""))

    def _stop_runner_blocking(self) -> None:
        """Stop the runner once no console call is in progress (any worker thread waits, then sees _stopping)."""
        self._stopping = True
        with self._console_lock:
            if self.runner is not None and not self._runner_stopped:
                self._runner_stopped = True
                self.runner.stop()

    async def stop_runner(self) -> None:
        """Stop refreshing, then stop the embedded runner (scheduler, dispatcher, workers) off the event loop."""
        self._stopping = True
        if self._timer is not None:
            self._timer.stop()
        await asyncio.to_thread(self._stop_runner_blocking)

    async def action_quit(self) -> None:
        """Stop the runner, then quit."""
        await self.stop_runner()
        self.exit()

    def on_unmount(self) -> None:
        """Safety net when the app exits without ``action_quit``: stop the runner anyway."""
        self._stop_runner_blocking()


def build_dashboard(settings: Settings, username: str | None = None, refresh_interval: float = 1.0) -> MedJobsApp:
    """The dashboard over ``settings``' store, not yet running: it opens on the sign-in screen (with
    ``username`` filled in) and acts as whoever signs in.

    The runner is embedded once a user whose role may run jobs (operator, admin) signs in; a reviewer's
    or auditor's dashboard only watches: the clinic's jobs run in an operator's console or `medjobs run`.
    """
    return MedJobsApp(Console(settings), None, refresh_interval=refresh_interval, username=username,
                      runner_factory=lambda: Runner(settings))


def run_dashboard(settings: Settings, username: str | None = None, refresh_interval: float = 1.0) -> None:
    """Run the dashboard (see ``build_dashboard``) until the user quits; the runner is stopped on the way out."""
    app = build_dashboard(settings, username, refresh_interval)
    try:
        app.run()
    finally:
        if app.runner is not None:
            app.runner.stop()
