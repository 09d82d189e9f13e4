"""The MedJobs dashboard: an Overview and live tabs over the console (Doses: today's dose instants; Log: the
runner's log), with keys to trigger, pause, retry and cancel.

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
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from medjobs_tui.config import Settings
from medjobs_tui.console import (
    BAD_CREDENTIALS, RUNNER, AccountRevoked, Actor, Console, ConsoleError, NotificationRow, SignIn, SignInFailed,
    Snapshot,
)
from medjobs_tui.console import identity, words
from medjobs_tui.console.operations import PERMISSIONS
from medjobs_tui.console.logbook import logbook
from medjobs_tui.engine import runlog
from medjobs_tui.tui import alerts_tab, commands, details, filters, prefs, validation_tab
from medjobs_tui.tui.audit_tab import AUDIT_COLUMNS, AUDIT_KEY, AUDIT_LIMIT, AUDIT_TAB, audit_pane, audit_rows
from medjobs_tui.tui.audit_tab import preview as audit_preview
from medjobs_tui.tui.login import LockScreen, LoginScreen, idle_words
from medjobs_tui.tui.messages import (
    AccountChanged, AuditReady, CommandDone, DoseAsk, EvidenceLoaded, HandedOver, RefreshFailed, SignInRefused, SignedIn,
    SnapshotReady, SnapshotUnchanged, Unlocked,
)
from medjobs_tui.tui.screens import DetailScreen, EvidenceScreen, HelpScreen
from medjobs_tui.tui.screens.job import JobScreen
from medjobs_tui.tui.screens.prompts import ConfirmScreen, PathScreen, QuitScreen
from medjobs_tui.tui.screens.run import RunScreen
from medjobs_tui.tui.signoff_tab import (
    SIGNOFF_COLUMNS, SIGNOFF_KEY, SIGNOFF_TAB, SignoffActions, signoff_rows,
)
from medjobs_tui.tui.tables import ROLE_EMPTY, TABS, tab_keys
from medjobs_tui.tui.widgets import ClinicHeader, LiveTable
from medjobs_tui.tui.widgets.overview import OverviewPane, runners_short

if TYPE_CHECKING:
    from medjobs_tui.engine.runner import Runner

log = logging.getLogger(__name__)

SIGNED_OUT_ACTIONS = frozenset({"quit", "focus_next", "focus_previous"})
"""What keys may do before sign-in and while locked: quit, and tab / shift+tab between the fields
(the command palette and every dashboard action stay closed)."""

TAB_OF_ACTION = {"trigger": "jobs", "toggle_pause": "jobs", "retry": "queue", "cancel": "queue",
                 "dose_taken": "doses",
                 "mark": "queue", "mark_all": "queue", "log_level": "log", "goto_dead": "overview",
                 "goto_alerts": "overview", "sign": SIGNOFF_TAB, "revoke": SIGNOFF_TAB, "selftest": "validation",
                 "ack_alert": "alerts"}
"""The tab an action works on; elsewhere its key is not offered."""

PERMISSION_OF_ACTION = {"trigger": "job.trigger", "toggle_pause": "job.pause", "retry": "run.retry",
                        "cancel": "run.cancel", "mark": ("run.retry", "run.cancel"),
                        "mark_all": ("run.retry", "run.cancel"), "dose_taken": "dose.record",
                        "sign": "signoff.sign", "revoke": "signoff.revoke",
                        "selftest": "selftest.run",
                        "ack_alert": "alert.ack"}
"""The console permission an action needs: a role without it is not offered the key (the console refuses anyway)."""

TARGET_OF_ACTION = {"trigger": "job", "toggle_pause": "job", "retry": "run", "cancel": "run", "mark": "run",
                    "mark_all": "run", "dose_taken": "order", "ack_alert": "alert", "sign": "signoff",
                    "revoke": "signoff"}
"""What a refused key's audit entry names (``job:backup``...): the kind of its tab's selected row."""

OVERVIEW = "overview"
LOG_LEVELS = ("INFO", "WARNING", "ERROR")

EXTRA_KEYS = (
    ("enter", "Open the selected run, job, evidence record or notification", "tables"),
    ("0 1 … 8 l b", "Switch to Overview, Queue, Jobs, Metrics, Evidence, Notifications, Doses, Validation, Alerts, "
     "Log, Backups", "everywhere"),
    ("↑ ↓ pgup pgdn", "Move the cursor", "tables"),
    ("home end", "Go to the first / last row", "tables"),
    ("ctrl+p", "Command palette (jobs, tabs, theme: the theme chosen is remembered)", "everywhere"),
    ("ctrl+q", "Quit (as q; on the lock screen: unlock first, unless the account was disabled)", "everywhere"),
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

HOLD_KEYS_MAX_S = 3.0
"""Keys typed into a tab before its first fetch is painted wait for it, but never longer than this (seconds):
then they act on what the tab shows."""

REFETCH_AFTER_S = 15.0
"""A refresh that finds the store unchanged still fetches when the last snapshot is this old by the console's
clock (the Overview's last hour moves on, a time left shrinks)."""

ALWAYS_FETCHED = frozenset({"log", "audit", "backups"})
"""Tabs whose rows do not all come from the store's tables a change marks and cost little to read (the log files,
the backup files on disk, their hashes cached by size and time; the audit tab's own fetch): fetched on every refresh.
The Validation, Jobs and Metrics tabs also read evidence files on disk, but check every finished run's record (a
tenth of a second and more with 10,000 runs): an idle refresh re-reads them only once their snapshot is
REFETCH_AFTER_S old, as any tab, so an evidence file changed outside MedJobs shows within that time (at once on F5
or any action) and an idle dashboard on them stays under 2 % of a core."""

UNLOCK_FIRST = "Unlock first: type your password, then q quits"
"""What the lock screen says to ctrl+q: quitting is a signed-in user's act, audited."""

NEVER_HELD = frozenset({"ctrl+q", "ctrl+c", "ctrl+l"})
"""Keys that act at once even while others wait for a tab's first fetch (quitting, locking)."""

LOCK_KEY = "ctrl+l"
"""Locks the dashboard at once, as the idle timeout does (no Textual or terminal default uses it in an app)."""

WRONG_PASSWORD = "wrong password"
"""What the lock screen, which asks only for the password, says for the console's BAD_CREDENTIALS."""

REPEAT_ERROR_AFTER = 60.0
"""Seconds before the same refresh error is shown again (a flapping store does not flood the screen)."""


class RunTable(LiveTable):
    """The Queue tab's table: enter (or a click) opens the selected run's story."""

    BINDINGS = [Binding("enter", "select_cursor", "Open run", id="run.view")]


class JobTable(LiveTable):
    """The Jobs tab's table: enter (or a click) opens the selected job's page."""

    BINDINGS = [Binding("enter", "select_cursor", "Open job", id="job.view")]


class EvidenceTable(LiveTable):
    """The Evidence tab's table: enter (or a click) opens the selected run's record."""

    BINDINGS = [Binding("enter", "select_cursor", "View evidence", id="evidence.view")]


class NotificationTable(LiveTable):
    """The Notifications tab's table: enter (or a click) opens the selected notification in full."""

    BINDINGS = [Binding("enter", "select_cursor", "Full message", id="notification.view")]


TABLE_CLASS: dict[str, type[LiveTable]] = {
    "queue": RunTable, "jobs": JobTable, "evidence": EvidenceTable, "notifications": NotificationTable,
}
"""The table of each tab whose rows open in a dialog; the other tabs use a plain LiveTable."""


class MedJobsApp(SignoffActions, App[None]):
    """The clinic's background-jobs dashboard over a Console, acting as ``actor``.

    Without ``actor`` it opens on the sign-in screen and acts as whoever signs in; ``runner_factory``
    then makes the embedded runner once a user whose role may run jobs has signed in. After
    ``security.idle_timeout`` seconds without input (by the console's clock) it locks until that
    user's password is typed again; the runner keeps running meanwhile.

    With ``runner`` the app starts it on mount and stops it on quit (the embedded runner); without one
    the dashboard only shows and commands the store that some other runner serves.
    ``refresh_interval`` is the pause in seconds between the end of one refresh and the next.
    The console is kept as ``operations`` (``App.console`` is Textual's own Rich console). ``tab`` is the
    tab shown first (the Overview unless asked otherwise).
    """

    CSS_PATH = "medjobs.tcss"
    TITLE = "MedJobs"
    BINDINGS = [
        # Quit and Help first: the footer keeps them on an 80-column terminal
        Binding("q", "quit", "Quit", id="quit", tooltip="Stop the runner and quit (asks first)"),
        Binding("question_mark", "help", "Help", key_display="?", id="help", tooltip="List the keys"),
        Binding("f1", "help", "Help", show=False, id="help.f1", tooltip="List the keys"),
        Binding("t", "trigger", "Trigger", id="job.trigger", tooltip="Queue a run of the selected job now"),
        Binding("p", "toggle_pause", "Pause/resume", id="job.pause", tooltip="Pause or resume the selected job"),
        Binding("r", "retry", "Retry", id="run.retry",
                tooltip="Retry the marked runs, or the selected dead or backing-off run, now"),
        Binding("c", "cancel", "Cancel", id="run.cancel", tooltip="Cancel the marked runs, or the selected queued run"),
        Binding("space", "mark", "Mark", id="run.mark", tooltip="Mark or unmark the selected run for r / c"),
        Binding("d", "dose_taken", "Taken", id="dose.taken", tooltip="Record the selected dose as taken (audited)"),
        Binding("a", "mark_all", "Mark all", show=False, id="run.mark_all",
                tooltip="Mark every run shown (filter first, e.g. job:backup status:dead)"),
        Binding("d", "goto_dead", "Dead runs", id="overview.dead", tooltip="List the dead runs"),
        Binding("a", "goto_alerts", "Alerts", id="overview.alerts", tooltip="Show the Alerts tab"),
        Binding("a", "ack_alert", "Acknowledge", id="alert.ack", tooltip="Acknowledge the selected alert (audited)"),
        Binding("s", "selftest", "Self-test", id="validation.selftest",
                tooltip="Run the self-test on a scratch copy of the clinic (a few seconds; the result is recorded)"),
        Binding("v", "log_level", "Level", id="log.level", tooltip="Show log lines from INFO, WARNING or ERROR up"),
        Binding("s", "sign", "Sign", id="signoff.sign",
                tooltip="Sign the selected item (password again; meaning and comment)"),
        Binding("x", "revoke", "Revoke", id="signoff.revoke",
                tooltip="Revoke the selected item's signature (a new signed entry; password again)"),
        # a priority binding: the box is focused before the keys typed after `/` are routed (none reaches a hotkey)
        Binding("slash", "filter", "Filter", key_display="/", id="filter", priority=True,
                tooltip="Filter this tab: job:NAME status:dead since:2h words..."),
        Binding("e", "export", "Export", id="export", tooltip="Export this tab's rows (as filtered) to CSV or JSON"),
        Binding(LOCK_KEY, "lock", "Lock", id="session.lock",
                tooltip="Lock the screen now, as after the idle time (stepping away); your password unlocks it"),
        Binding("escape", "clear", "Clear", show=False, id="clear",
                tooltip="Clear the filter and the marks (on a screen or dialog: close it)"),
        Binding("f5", "refresh", "Refresh", show=False, id="refresh", tooltip="Refresh now"),
        # tab keys are priority bindings: a burst such as `2 Home t` lands on the tab it switched to
        Binding("0", f"show_tab('{OVERVIEW}')", "Overview", show=False, priority=True, id="tab.overview",
                tooltip="Show the Overview tab"),
        *(Binding(key, f"show_tab('{spec.id}')", spec.title, show=False, priority=True, id=f"tab.{spec.id}",
                  tooltip=f"Show the {spec.title} tab") for key, spec in tab_keys()),
        Binding(SIGNOFF_KEY, f"show_tab('{SIGNOFF_TAB}')", "Sign-off", show=False, priority=True, id="tab.signoff",
                tooltip="Show the Sign-off tab (admin, reviewer, auditor)"),
        Binding(AUDIT_KEY, f"show_tab('{AUDIT_TAB}')", "Audit", show=False, priority=True, id="tab.audit",
                tooltip="Show the Audit tab (admin, auditor)"),
    ]

    def __init__(self, console: Console, actor: Actor | None = None, runner: Runner | None = None,
                 refresh_interval: float = 1.0, *, username: str | None = None,
                 runner_factory: Callable[[], Runner] | None = None, tab: str = OVERVIEW) -> None:
        super().__init__()
        self.start_tab = tab
        """The tab shown first (the Overview, unless asked otherwise)."""
        self.operations = console
        self.actor = actor
        self.runner = runner
        self.runner_factory = runner_factory
        self.login_name = username
        """The user name the sign-in screen starts with."""
        self.locked = False
        """True while the lock screen is up (automatic logoff)."""
        self.lock_gone = False
        """True while locked for a user whose account was disabled or removed: another user may sign in."""
        self._last_input = console.clock.now()
        self._authenticated_at = console.clock.now()
        """When the user last gave their password here (sign-in or unlock): ``security.session_lifetime`` counts from it."""
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
        self._quit_audited = False
        self._errors_shown: dict[str, float] = {}
        """When each refresh error was last shown (time.monotonic)."""
        self._console_lock = threading.Lock()
        """Held by every worker thread during its console call, and while the runner stops: stopping the
        runner closes the store connections, which must never happen under a query in progress."""
        self.filters: dict[str, filters.TableFilter] = {}
        """The `/` filter of each tab that has one."""
        self.marked: set[str] = set()
        """Run ids (row keys) marked on the Queue for a bulk retry or cancel."""
        self.log_level = "INFO"
        self._fetched: tuple | None = None
        """(request key, console clock time) of the last snapshot fetched, to skip a refresh of an unchanged store."""
        self._seen_versions: dict[int, tuple] = {}
        """The change token each store connection last read (``Console.change_token``)."""
        self.force_fetch = False
        """Set by this console's own actions: the next refresh fetches even if the store looks unchanged."""
        self.unchanged_count = 0
        """How many refreshes found nothing new (no fetch, no paint)."""
        self.painted_tabs: set[str] = set()
        """The tabs painted from a fetch of their own since sign-in: keys typed into any other tab wait."""
        self._held_keys: list[events.Key] = []
        self._hold_timer: Timer | None = None

    @property
    def console_lock(self) -> threading.Lock:
        """The lock every console call from a worker thread holds (see ``_console_lock``)."""
        return self._console_lock

    def may(self, action: str | tuple[str, ...]) -> bool:
        """Whether the signed-in role may do console ``action`` (any of them, for a tuple)."""
        if self.actor is None:
            return False
        actions = (action,) if isinstance(action, str) else action
        return any(self.actor.role in PERMISSIONS[a] for a in actions)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        self.header = ClinicHeader(self.operations.clock, self.zone)
        yield self.header
        with TabbedContent(id="tabs", initial=self.start_tab):
            with TabPane("Overview", id=OVERVIEW):
                yield OverviewPane(id="overview-pane")
            for spec in TABS:
                with TabPane(spec.title, id=spec.id):
                    yield TABLE_CLASS.get(spec.id, LiveTable)(spec.columns, id=f"{spec.id}-table")
                    if spec.id in ("notifications", alerts_tab.TAB):
                        yield Static("", id=f"{spec.id}-preview", classes="preview")
                    if spec.id == "validation":
                        yield Static("", id=validation_tab.SELFTEST_ID, classes="preview")
                    if spec.empty:
                        yield Static(spec.empty, id=f"{spec.id}-empty", classes="empty-hint")
        with Vertical(id="filter-box"):
            yield Input(placeholder="filter: job:NAME status:dead,failed since:2h words…  (enter applies, escape clears)",
                        id="filter-input")
            yield Static("", id="filter-error", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        self.title = self.operations.settings.clinic.name
        self.set_interval(IDLE_CHECK_SECONDS, self.check_idle_lock, name="idle check")
        theme = prefs.load().get("theme")
        if isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, lambda theme: prefs.save(theme=theme.name))
        self.show_filter_box(False)
        if self.actor is None:
            # awaited: the sign-in screen is mounted (its field focused) before the first key is handled
            await self.push_screen(LoginScreen(self.title, self.login_name,
                                               identity.demo_users_path(self.operations.settings.database_path)))
            return
        self._open_console()

    def _open_console(self) -> None:
        """Start acting as ``self.actor``: the tables, the embedded runner (if any) and the refresh."""
        self.sub_title = self._who()
        self._last_input = self._authenticated_at = self.operations.clock.now()
        if self.actor.role in PERMISSIONS["audit.list"] and not self.audit_tab:
            self.audit_tab = True
            self.query_one(TabbedContent).add_pane(audit_pane())
        self.add_signoff_tab(self.query_one(TabbedContent))
        for tab, (needs, text) in ROLE_EMPTY.items():          # a tab the role may not fill says so plainly
            if not self.may(needs):
                self.query_one(f"#{tab}-empty", Static).update(text.format(role=self.actor.role))
        self.new_signing_session()
        self._focus_tab(self.start_tab)
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

    @property
    def _snapshot_request(self) -> dict:
        """What the next fetch reads: only the visible tab's view, with the Queue's filter and the log level.
        Read on the event loop when the fetch starts (the worker receives a copy)."""
        return self.__dict__.get("_request", {"views": {self.active_tab or OVERVIEW}})

    def refresh_now(self, periodic: bool = False) -> None:
        """Fetch a snapshot now (or right after the fetch in progress); cancels the armed timer. Nothing is
        fetched before sign-in. Only a ``periodic`` refresh (the timer's) may find the store unchanged and
        read nothing more; any other (a key, an action, a dialog closed) reads it."""
        if self._stopping or self.actor is None:
            return
        if not periodic:
            self.force_fetch = True
        tab = self.active_tab or OVERVIEW
        request: dict = {"views": {tab}, "log_level": self.log_level, "actor": self.actor}
        if tab == "queue" and self.filters.get("queue"):
            request["run_filter"] = self.filters["queue"].run_filter()
        self.__dict__["_request"] = request
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._fetching:
            self._again = True
            return
        self._fetching = True
        self.run_worker(self._fetch_snapshot, thread=True, group="refresh", name="snapshot", exit_on_error=False)

    def _fetch_snapshot(self) -> None:
        """Thread worker: read the visible tab's snapshot and post it; never touches a widget. When nothing
        was committed to the store since the last snapshot of the same request (and it is younger than
        REFETCH_AFTER_S), it reads nothing more and posts SnapshotUnchanged."""
        with self._console_lock:
            if self._stopping:
                return
            try:
                if self.actor is not None and not self.locked:   # the account as it is now: disabled or changed locks
                    self.operations.authorise(self.actor, "view.operations", "dashboard")
                elif self.actor is not None and not self.lock_gone and (gone := self._gone(self.actor)) is not None:
                    self._post(gone)                          # disabled while locked: someone else may sign in
                request = self._snapshot_request
                if self._unchanged(request):
                    self._post(SnapshotUnchanged())
                    return
                key, now = self._request_key(request), self.operations.clock.now()
                snapshot = self.operations.snapshot(**request)
                self._fetched = (key, now)
                if self.audit_tab and self.actor is not None and AUDIT_TAB in request.get("views", ()):
                    self._post(AuditReady(self.operations.audit_entries(self.actor, limit=AUDIT_LIMIT)))
                if self.signoff_tab and self.actor is not None and SIGNOFF_TAB in request.get("views", ()):
                    self.fetch_signoff()
            except AccountRevoked as exc:
                self._fetched = None
                self._post(self._account_changed_message(exc))
                self._post(RefreshFailed(""))     # re-arms the next refresh
            except Exception as exc:  # noqa: BLE001 - shown to the user, then the next refresh tries again
                self._fetched = None              # the next refresh reads the store, changed or not
                log.error("refresh failed: %s", type(exc).__name__)
                self._post(RefreshFailed(commands.describe(exc)))
            else:
                self._post(SnapshotReady(snapshot))

    @staticmethod
    def _request_key(request: dict) -> tuple:
        filt = request.get("run_filter")
        return (frozenset(request.get("views", ())), request.get("log_level"), request.get("actor"),
                None if filt is None else repr(filt))

    def _unchanged(self, request: dict) -> bool:
        """Worker thread: whether the last snapshot still shows the store (see ``_fetch_snapshot``); records
        this connection's change token either way."""
        token = self.operations.change_token()
        previous = self._seen_versions.get(token[0])
        self._seen_versions[token[0]] = token
        force, self.force_fetch = self.force_fetch, False
        if force or previous != token or self._fetched is None or ALWAYS_FETCHED & set(request.get("views", ())):
            return False
        key, at = self._fetched
        age = (self.operations.clock.now() - at).total_seconds()
        return key == self._request_key(request) and 0 <= age < REFETCH_AFTER_S

    def _post(self, message) -> None:
        try:
            self.post_message(message)
        except RuntimeError:  # the event loop is already closed: the app is gone
            pass

    @on(AuditReady)
    def _audit_ready(self, message: AuditReady) -> None:
        self.latest_audit = message.entries

    @on(SnapshotReady)
    async def _snapshot_ready(self, message: SnapshotReady) -> None:
        if self._stopping:
            return
        self.latest = message.snapshot
        self.refresh_count += 1
        if not self._modal_open():
            self.paint()
        self._arm_next()
        if self._held_keys:
            await self._release_keys()

    @on(SnapshotUnchanged)
    async def _snapshot_unchanged(self, message: SnapshotUnchanged) -> None:
        """Nothing new: the screen stays as painted (a refresh cycle all the same, for tests waiting on one)."""
        if self._stopping:
            return
        self.refresh_count += 1
        self.unchanged_count += 1
        self._arm_next()
        if self._held_keys:
            await self._release_keys()

    @on(RefreshFailed)
    async def _refresh_failed(self, message: RefreshFailed) -> None:
        if self._stopping:
            return
        if self._held_keys:
            await self._release_keys(timed_out=True)      # the tab will not fill: the keys act on what it shows
        now = time.monotonic()
        if message.error and now - self._errors_shown.get(message.error, -REPEAT_ERROR_AFTER) >= REPEAT_ERROR_AFTER:
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
            self._timer = self.set_timer(self.refresh_interval, partial(self.refresh_now, periodic=True),
                                         name="refresh")

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
        """Show the latest snapshot in the visible tab, if it holds that tab's view (a snapshot fetched for
        another tab never empties this one); hidden tabs are fetched and painted when shown."""
        tab = self.active_tab
        snap = self.latest
        if snap is None or tab is None:
            return
        with self.batch_update():
            status = self._status_lines(snap)
            self.header.show_status(status)          # (the header of the main screen, whichever screen is on top)
            self.sub_title = status[0]
            if tab not in snap.views:
                return
            self.painted_tabs.add(tab)
            if tab == OVERVIEW:
                if snap.overview is not None:
                    try:
                        self.query_one(OverviewPane).paint(snap.overview, self.zone, self.runs_jobs)
                    except NoMatches:  # its parts not mounted yet (a snapshot right after sign-in), or closing:
                        self.painted_tabs.discard(tab)      # the next refresh paints it
                return
            try:
                table = self.table(tab)
            except NoMatches:  # the app is closing: a late snapshot has nowhere to go
                return
            if tab == AUDIT_TAB:
                columns, rows = AUDIT_COLUMNS, audit_rows(self.latest_audit, self.zone)
            elif tab == SIGNOFF_TAB:
                columns, rows = SIGNOFF_COLUMNS, signoff_rows(self.latest_signoff, self.zone)
            else:
                spec = next(s for s in TABS if s.id == tab)
                columns, rows = spec.columns, spec.build(snap, self.zone)
            if self.filters.get(tab):
                rows = self.filters[tab].keep(columns, rows)
            if tab == "queue":
                rows = self._with_marks(rows)
            table.sync(rows)
            self.query_one(f"TabPane#{tab}").set_class(table.row_count == 0, "-empty")
            if tab == "notifications":
                self._preview_notification(table.selected_key)
            if tab == alerts_tab.TAB:
                self._preview_alert(table.selected_key)
            if tab == AUDIT_TAB:
                self._preview_audit(table.selected_key)
            if tab == SIGNOFF_TAB:
                self.show_signoff_preview()
            if tab == "validation":
                validation_tab.paint_summary(self, snap)

    def _with_marks(self, rows):
        """The Queue's rows with a ● before the id of each marked run (marks of runs no longer listed are dropped)."""
        keys = {key for key, _ in rows}
        self.marked &= keys
        out = []
        for key, cells in rows:
            if key in self.marked:
                first = Text("● ", style="bold magenta") + (cells[0] if isinstance(cells[0], Text) else Text(str(cells[0])))
                first.justify = "right"
                cells = (first, *cells[1:])
            out.append((key, cells))
        return out

    def _who(self, short: bool = False) -> str:
        """Who is signed in, with their role (a reviewer's review role too: ``demo.reviewer (reviewer, technical
        lead)``); ``short``: the review role stands for the role (``demo.reviewer (technical lead)``)."""
        if self.actor is None:
            return "not signed in"
        actor = self.actor
        if short and actor.review_role:
            return f"{actor.username} ({actor.review_role})"
        return f"{actor.username} ({words.role_text(actor.role, actor.review_role)})"

    def _status_lines(self, snap: Snapshot) -> list[str]:
        """The header's status line, fullest first, then shorter ways for a narrow screen: which runner serves
        the store (in words, first), who is signed in, and the runs running, queued, dead."""
        counts = snap.status_counts
        parts = [f"{counts[s]} {s}" for s in ("running", "queued", "dead") if counts.get(s)]
        runner = runners_short(snap.runners, self.runs_jobs)
        blocked = self.operations.runner_status()
        if blocked:
            runner = blocked.upper()
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        brief = runner.split(" (")[0]                    # NO RUNNER (runs wait) -> NO RUNNER
        # the runner's words are cut last: the review role's short form goes first, so a reviewer's header says
        # what an auditor's says at the same width (it said NO RUNNER to one, NO RUNNER (runs wait) to the other)
        return [" · ".join([runner, self._who(), *parts]), " · ".join([runner, self._who(short=True), *parts]),
                " · ".join([brief, self._who(short=True), *parts])]

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab(event.pane.id)
        self.paint()
        self.refresh_now()
        self.refresh_bindings()

    def _focus_tab(self, tab: str) -> None:
        """Give the keyboard to tab ``tab``'s table (or the Overview) at once, so the next keys land there."""
        target = self.query_one(OverviewPane) if tab == OVERVIEW else self.table(tab)
        if target.screen.focused is not target:
            target.screen.set_focus(target)      # its own screen: a dialog or sign-in screen on top keeps its focus

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer only the keys that apply to the tab shown and that the signed-in role may use (the console
        refuses the others anyway); none of the tabs' keys under a dialog or a story screen, and tab keys
        not while the filter is being typed. Before sign-in and while locked only quitting is possible."""
        if self.actor is None or self.locked:
            return action in SIGNED_OUT_ACTIONS
        if action == "show_tab":
            return not isinstance(self.focused, Input) and not self._modal_open()
        needs = PERMISSION_OF_ACTION.get(action)
        if needs is not None and not self.may(needs):
            return False
        tab = TAB_OF_ACTION.get(action)
        if action in ("filter", "export", "clear"):
            if self._modal_open() or self.active_tab in (None, OVERVIEW, SIGNOFF_TAB) or isinstance(self.focused, Input):
                return False
            if action == "clear":
                return bool(self.filters.get(self.active_tab) or self.marked)
            return True
        if tab is None:
            return True
        if self._modal_open():
            return False
        return self.active_tab == tab

    def action_show_tab(self, tab: str) -> None:
        """Switch to tab ``tab`` and focus its table now (not when the switch's message arrives); the Audit tab
        only where there is one."""
        if (tab == AUDIT_TAB and not self.audit_tab) or (tab == SIGNOFF_TAB and not self.signoff_tab):
            return
        self.query_one(TabbedContent).active = tab
        self._focus_tab(tab)

    # ------------------------------------------------------------------ filter, marks, export, log level

    def action_filter(self) -> None:
        """Open the filter line under the tab, holding the tab's filter."""
        field = self.query_one("#filter-input", Input)
        current = self.filters.get(self.active_tab)
        field.value = current.text if current else ""
        self.show_filter_box(True)
        self.screen.set_focus(field)      # at once: the keys typed right after `/` (a burst) land in the box

    def show_filter_box(self, shown: bool, error: str = "") -> None:
        """Show or hide the filter line; ``error`` (why the text typed cannot be read) stays under it, the
        line open and focused, until the filter is corrected or escape closes it."""
        self.query_one("#filter-box").display = shown
        self.query_one("#filter-input").display = shown
        note = self.query_one("#filter-error", Static)
        note.update(error)
        note.display = bool(error)

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.set_filter(self.active_tab, event.value)

    def set_filter(self, tab: str, text: str) -> bool:
        """Filter tab ``tab`` by ``text`` (empty clears it); the tab's title shows it. False (and a warning)
        if the text cannot be read."""
        spec = next((s for s in TABS if s.id == tab), None)
        if spec is None and tab != AUDIT_TAB:
            return False
        columns, title = (spec.columns, spec.title) if spec is not None else (AUDIT_COLUMNS, "Audit")
        field = self.query_one("#filter-input", Input)
        try:
            parsed = filters.parse(text, columns, self.operations.clock.now(), self.zone, tab=tab)
        except filters.FilterError as exc:
            self.toast(str(exc), title="Filter", severity="warning")
            if field.display:                 # typed in the box: it stays open, the error under it, keys go on there
                self.show_filter_box(True, str(exc))
                self.screen.set_focus(field)
            return False
        if parsed:
            self.filters[tab] = parsed
            if parsed.level and tab == "log":
                self.log_level = parsed.level
        else:
            self.filters.pop(tab, None)
        self.show_filter_box(False)
        tabbed = self.query_one(TabbedContent)
        tabbed.get_tab(tab).label = f"{title} ⧩ {parsed.text}" if parsed else title
        if tabbed.active != tab:
            tabbed.active = tab
        self._focus_tab(tab)
        self.paint()
        self.refresh_now()
        self.refresh_bindings()
        return True

    def action_clear(self) -> None:
        """Clear the tab's filter (and the Queue's marks)."""
        tab = self.active_tab
        if self.marked and tab == "queue":
            self.marked.clear()
        if tab in self.filters:
            self.set_filter(tab, "")
        else:
            self.paint()
        self.refresh_bindings()

    def on_key(self, event) -> None:
        """escape in the filter line closes it, leaving the filter as it was. A key of the tab shown that the
        signed-in role may not use (not offered in the footer) is answered with the console's refusal, never
        silence (``refuse_key``)."""
        if event.key == "escape" and isinstance(self.focused, Input) and self.focused.id == "filter-input":
            event.stop()
            self.show_filter_box(False)
            self._focus_tab(self.active_tab)
            return
        if (action := self._refused_action(event.key)) is not None:
            event.stop()
            self.refuse_key(action)

    def _refused_action(self, key: str) -> str | None:
        """The action of the tab shown bound to ``key`` that the signed-in role may not do (and no other action
        of that key applies there), or None."""
        if self.actor is None or self.locked or self._modal_open() or isinstance(self.focused, Input):
            return None
        bound = [b.action for b in self.BINDINGS if key in b.key.split(",")]
        if any(self.check_action(a, ()) for a in bound):
            return None
        return next((a for a in bound if TAB_OF_ACTION.get(a) == self.active_tab and a in PERMISSION_OF_ACTION
                     and not self.may(PERMISSION_OF_ACTION[a])), None)

    def refuse_key(self, action: str) -> None:
        """Ask the console for ``action`` on the selected row: it refuses the role (audited, as any refusal) and its
        text shows as a notice (e.g. t on Jobs for an auditor: "... may not trigger jobs; that needs the admin or
        operator role")."""
        needs = PERMISSION_OF_ACTION[action]
        permission = needs if isinstance(needs, str) else needs[0]
        tab = TAB_OF_ACTION[action]
        selected = self.table(tab).selected_key if tab not in (OVERVIEW,) else None
        kind = TARGET_OF_ACTION.get(action)
        if kind == "order" and selected:
            selected = selected.partition("@")[0]
        target = f"{kind}:{selected}" if kind and selected else (kind or tab)
        actor, operations = self.actor, self.operations

        def ask() -> str:
            operations.authorise(actor, permission, target)
            return ""                         # allowed after all (a role changed meanwhile): nothing to say
        self.run_command(ask)

    def action_mark(self) -> None:
        """Mark the selected run for a bulk retry or cancel (or unmark it), and move down a row."""
        table = self.table("queue")
        key = table.selected_key
        if key is None:
            return
        self.marked.symmetric_difference_update({key})
        self.paint()
        table.action_cursor_down()
        self.refresh_bindings()

    def action_mark_all(self) -> None:
        """Mark every run the Queue shows (as filtered)."""
        self.marked = {row.key.value for row in self.table("queue").ordered_rows}
        self.paint()
        self.refresh_bindings()

    def action_goto_dead(self) -> None:
        """The dead runs: the Queue filtered to them."""
        self.set_filter("queue", "status:dead")

    def action_goto_alerts(self) -> None:
        """MedJobs' alerts: the Alerts tab."""
        self.action_show_tab(alerts_tab.TAB)

    def action_ack_alert(self) -> None:
        """Acknowledge the selected alert (``medjobs alerts ack``) once the user confirms it, seeing its kind,
        scope and summary (a second `a` never acknowledges by itself); the console checks the role and audits."""
        if (key := self._selected(alerts_tab.TAB)) is None:
            return
        alert = next((a for a in self.latest.alerts if str(a.id) == key), None) if self.latest else None
        if alert is None:
            self.toast(f"Alert A-{key} is no longer listed", severity="warning")
            return
        question, detail = alerts_tab.ack_question(alert)

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_command(partial(alerts_tab.acknowledge, self.operations, self.actor, key))

        self.push_screen(ConfirmScreen(question, detail, yes="Acknowledge"), callback=answered)

    @on(OverviewPane.Go)
    def _overview_go(self, message: OverviewPane.Go) -> None:
        self.set_filter(message.tab, message.filter_text)

    def action_log_level(self) -> None:
        """Show log lines from the next level up (INFO, WARNING, ERROR, then INFO again)."""
        self.log_level = LOG_LEVELS[(LOG_LEVELS.index(self.log_level) + 1) % len(LOG_LEVELS)]
        label = "Log" if self.log_level == "INFO" else f"Log ≥ {self.log_level}"
        self.query_one(TabbedContent).get_tab("log").label = label
        self.refresh_now()

    def action_export(self) -> None:
        """Ask for a file, then export the tab's rows as shown (filtered) as CSV or JSON (by its suffix)."""
        tab = self.active_tab
        table = self.table(tab)
        columns = [c.label for c in table.shown_columns]
        rows = table.plain_rows()
        stamp = self.operations.clock.now().astimezone(self.zone).strftime("%Y%m%d-%H%M")
        default = f"~/medjobs-{tab}-{stamp}.csv"

        def export(path: str, overwrite: bool) -> None:
            self.run_command(partial(commands.export, self.operations, self.actor, tab, columns, rows, path,
                                     overwrite=overwrite))

        def chosen(path: str | None) -> None:
            if not path:
                return
            if not Path(path).expanduser().exists():
                export(path, False)                  # the console still refuses a file that appears meanwhile
                return
            self.push_screen(ConfirmScreen(f"Replace {path}?", "A file of that name exists: y replaces it with "
                                           f"these {len(rows)} rows; n or escape keeps it (nothing is written).",
                                           yes="Replace"),
                             callback=lambda ok: export(path, True) if ok else self.toast(
                                 f"Not exported: {path} kept as it was", severity="warning"))

        self.push_screen(PathScreen(f"Export {len(rows)} rows of {tab}", default,
                                    "a name ending .csv or .json · enter writes it · escape cancels"), callback=chosen)

    def action_refresh(self) -> None:
        """Refresh now (read the store even if it looks unchanged)."""
        self.refresh_now()

    def action_help(self) -> None:
        """Open the help screen listing the keys."""
        if isinstance(self.screen, HelpScreen):
            return
        metrics = next(s for s in TABS if s.id == "metrics")
        columns = [(c.label, c.help) for c in metrics.columns if c.help]
        self.push_screen(HelpScreen(self.help_keys(), columns), callback=lambda _: self.paint())

    def help_keys(self) -> list[tuple[str, str, str]]:
        """``(keys, description, where)`` for every action of the app's bindings the signed-in role may use
        (its keys on one line, e.g. ``? f1``), then the table and palette keys."""
        rows: dict[str, list] = {}
        for binding in self.BINDINGS:
            if binding.id.startswith("tab."):
                continue
            needs = PERMISSION_OF_ACTION.get(binding.action)
            if needs is not None and not self.may(needs):
                continue
            if binding.action in rows:
                rows[binding.action][0] += f" {self.get_key_display(binding)}"
                continue
            tab = TAB_OF_ACTION.get(binding.action)
            where = ("Overview" if tab == OVERVIEW else "Sign-off" if tab == SIGNOFF_TAB
                     else next(s.title for s in TABS if s.id == tab) if tab
                     else "tables" if binding.action in ("filter", "export", "clear") else "everywhere")
            tooltip = binding.tooltip or binding.description
            if binding.action == "quit" and not self.runs_jobs:
                tooltip = "Quit (this console runs no jobs)"
            rows[binding.action] = [self.get_key_display(binding), tooltip, where]
        if self.may(("run.retry", "job.trigger")):
            extra = [("v r c t p R", "On a run's or a job's screen: evidence, retry, cancel, trigger, pause, "
                      "retry every dead run of the job", "screens")]
        else:
            extra = [("v", "On a run's screen: its evidence record", "screens")]
        if self.signoff_tab:
            extra.append((SIGNOFF_KEY, "Switch to the Sign-off tab (enter: an item's signatures)", "everywhere"))
        if self.audit_tab:
            extra.append((AUDIT_KEY, "Switch to the Audit tab (the newest audit entries)", "everywhere"))
        return [tuple(row) for row in rows.values()] + list(EXTRA_KEYS) + extra

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
        """Retry the marked runs (after confirmation), else the selected run: a dead run, or a failed one
        waiting out its backoff (the console says why otherwise)."""
        if self.marked:
            self.retry_runs(sorted(int(k) for k in self.marked), after=self._unmark)
        elif (key := self._selected("queue")) is not None:
            self.retry_runs([int(key)])

    def action_cancel(self) -> None:
        """Cancel the marked runs, else the selected run, after confirmation (only queued runs can be cancelled)."""
        if self.marked:
            self.cancel_runs(sorted(int(k) for k in self.marked), after=self._unmark)
        elif (key := self._selected("queue")) is not None:
            self.cancel_runs([int(key)])

    def action_dose_taken(self) -> None:
        """Record the selected dose as taken (``medjobs dose taken``) once the user confirms it (one key must not
        cancel a patient's reminder by mistake): the console checks the role, the timing and audits. A dose shown
        as taken already is refused at once, saying by whom and when (never a question that hides it)."""
        if (key := self._selected("doses")) is None:
            return
        dose = next((d for d in ((self.latest.doses if self.latest else None) or [])
                     if f"{d.order}@{d.at.isoformat()}" == key), None)
        if dose is not None and dose.status == "taken":
            operations, zone = self.operations, dose.local.tzinfo

            def check() -> CommandDone | DoseAsk:
                text = commands.taken_already(operations, key, zone)
                return DoseAsk(key) if text is None else CommandDone(text, "warning")     # changed meanwhile: ask
            self.run_command(check)
            return
        self._ask_dose_taken(key)

    @on(DoseAsk)
    def _dose_ask(self, message: DoseAsk) -> None:
        if not self.locked and not self._stopping:
            self._ask_dose_taken(message.key)

    def _ask_dose_taken(self, key: str) -> None:
        """Ask "taken now?" about the dose of Doses-tab row ``key``; y records it."""
        command = partial(commands.dose_taken, self.operations, self.actor, key)

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_command(command)

        table = self.table("doses")
        if key not in table.rows:          # gone from the tab meanwhile
            return
        shown = {c: getattr(v, "plain", str(v)) for c in ("patient", "local", "medication")
                 for v in (table.get_cell(key, c),)}
        dose = next((d for d in ((self.latest.doses if self.latest else None) or [])
                     if f"{d.order}@{d.at.isoformat()}" == key), None)          # the whole name, not the cell's
        detail = commands.dose_question(key, self.zone, self.operations.clock.now(), shown["patient"],
                                        dose.medication if dose else shown["medication"], shown["local"])
        self.push_screen(ConfirmScreen("Record this dose as taken now?", detail, yes="Taken"), callback=answered)

    def action_selftest(self) -> None:
        """Run the self-test (Validation tab): a worker runs it, the line under the table shows the result."""
        validation_tab.start_selftest(self)

    @on(validation_tab.SelfTestDone)
    def _selftest_done(self, message: validation_tab.SelfTestDone) -> None:
        if not self._stopping:
            validation_tab.selftest_done(self, message)

    def _unmark(self) -> None:
        self.marked.clear()
        self.paint()

    def retry_runs(self, run_ids: list[int], after: Callable[[], None] | None = None, what: str = "") -> None:
        """Retry ``run_ids``: one at once; several after confirmation, each audited (``what`` names them)."""
        if len(run_ids) == 1 and not what:
            self.run_command(partial(commands.retry, self.operations, self.actor, run_ids[0]), after=after)
            return
        self._confirm(f"Retry {what or f'{len(run_ids)} runs'}?", run_ids, "Retry",
                      partial(commands.retry_many, self.operations, self.actor, run_ids), after)

    def cancel_runs(self, run_ids: list[int], after: Callable[[], None] | None = None) -> None:
        """Cancel ``run_ids`` after confirmation (each audited)."""
        if len(run_ids) == 1:
            command = partial(commands.cancel, self.operations, self.actor, run_ids[0])
            question = f"Cancel run {run_ids[0]}?"
        else:
            command = partial(commands.cancel_many, self.operations, self.actor, run_ids)
            question = f"Cancel {len(run_ids)} runs?"
        self._confirm(question, run_ids, "Cancel", command, after)

    def _confirm(self, question: str, run_ids: list[int], yes: str, command, after) -> None:
        shown = ", ".join(map(str, run_ids[:20])) + (f" and {len(run_ids) - 20} more" if len(run_ids) > 20 else "")
        detail = f"run{'s' if len(run_ids) > 1 else ''} {shown}"

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_command(command, after=after)

        self.push_screen(ConfirmScreen(question, detail, yes=yes), callback=answered)

    def trigger_job(self, name: str, after: Callable[[], None] | None = None) -> None:
        """Queue a run of job ``name`` (from a key, a job's page or the command palette)."""
        self.run_command(partial(commands.trigger, self.operations, self.actor, name), after=after)

    def toggle_job(self, name: str, after: Callable[[], None] | None = None) -> None:
        """Pause or resume job ``name``."""
        self.run_command(partial(commands.toggle_pause, self.operations, self.actor, name), after=after)

    def run_command(self, command: Callable[[], str | Message], after: Callable[[], None] | None = None) -> None:
        """Run a console command in a thread worker; its text (or error) comes back as CommandDone,
        or, if it returns a message, as that message. ``after`` runs on the event loop once it is done.
        Refused before sign-in and while locked."""
        if self.actor is None or self.locked:
            return
        self.run_worker(partial(self._command_thread, command, after), thread=True, group="command",
                        name="command", exit_on_error=False)

    def _command_thread(self, command: Callable[[], str | Message], after=None) -> None:
        with self._console_lock:
            if self._stopping:
                return
            try:
                result = command()
                self._post(result if isinstance(result, Message) else CommandDone(result, after=after))
            except AccountRevoked as exc:  # disabled or role changed since signing in: lock
                self._post(self._account_changed_message(exc))
            except ConsoleError as exc:  # includes PermissionDenied
                self._post(CommandDone(str(exc), "error", after=after))
            except Exception as exc:  # noqa: BLE001 - shown, not raised: the app keeps running
                log.error("command failed: %s", type(exc).__name__)
                self._post(CommandDone(commands.describe(exc), "error", after=after))

    @on(CommandDone)
    def _command_done(self, message: CommandDone) -> None:
        if self._stopping:
            return
        if message.text:
            self.toast(message.text, severity=message.severity)
        if message.after is not None:
            message.after()
        self.refresh_now()                   # not periodic: reads the store (its own write moves no data_version)

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
        """Open run ``run_id``'s story: state history, attempts, trigger, evidence (kept fresh while open)."""
        self.push_screen(RunScreen(run_id, interval=max(self.refresh_interval, 0.5)), callback=lambda _: self.paint())

    @on(DataTable.RowSelected, "#jobs-table")
    def _job_selected(self, event: DataTable.RowSelected) -> None:
        self.open_job(event.row_key.value)

    def open_job(self, name: str) -> None:
        """Open job ``name``'s page: schedule, policy, 7-day chart, recent runs."""
        self.push_screen(JobScreen(name, interval=max(self.refresh_interval, 1.0)), callback=lambda _: self.paint())

    @on(DataTable.RowHighlighted, "#alerts-table")
    def _preview_alert(self, event_or_key) -> None:
        """Show the alert under the cursor in full under the table (``alerts_tab.preview``)."""
        key = getattr(getattr(event_or_key, "row_key", None), "value", event_or_key)
        alert = next((a for a in self.latest.alerts if str(a.id) == key), None) if self.latest else None
        try:
            preview = self.query_one(f"#{alerts_tab.TAB}-preview", Static)
        except NoMatches:  # the app is closing: a late highlight has nowhere to go
            return
        preview.update(alerts_tab.preview(alert, self.zone) if alert is not None else "")

    @on(DataTable.RowHighlighted, "#audit-table")
    def _preview_audit(self, event_or_key) -> None:
        """Show the audit entry under the cursor in full, its detail too, under the table (``audit_tab.preview``)."""
        key = getattr(getattr(event_or_key, "row_key", None), "value", event_or_key)
        entry = next((e for e in self.latest_audit if str(e.id) == key), None)
        try:
            shown = self.query_one(f"#{AUDIT_TAB}-preview", Static)
        except NoMatches:  # the app is closing, or this role has no Audit tab
            return
        shown.update(audit_preview(entry, self.zone) if entry is not None else "")

    @on(DataTable.RowHighlighted, "#notifications-table")
    def _notification_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._preview_notification(event.row_key.value)

    def _preview_notification(self, key: str | None) -> None:
        """Show the whole message of notification ``key`` (the row under the cursor) under the table."""
        note = self._notification(int(key)) if key is not None else None
        try:
            preview = self.query_one("#notifications-preview", Static)
        except NoMatches:  # the app is closing: a late highlight has nowhere to go
            return
        preview.update(Text(note.message) if note is not None else "")

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
        """Textual's commands (theme, keys, quit...), plus what the signed-in role may do: trigger /
        pause-resume each job; and for everyone: open each job's page, show each tab (none before sign-in
        or while locked)."""
        if self.actor is None or self.locked:
            return
        yield from super().get_system_commands(screen)
        for name in self.operations.settings.jobs:
            if self.may("job.trigger"):
                yield SystemCommand(f"Trigger {name}", f"Queue a run of {name} now", partial(self.trigger_job, name))
            if self.may("job.pause"):
                yield SystemCommand(f"Pause or resume {name}", f"Toggle whether {name}'s schedule queues runs",
                                    partial(self.toggle_job, name))
            yield SystemCommand(f"Open job {name}", f"{name}'s page: schedule, policy, 7 days, runs",
                                partial(self.open_job, name))
        if self.audit_tab:
            yield SystemCommand("Show Audit", "Switch to the Audit tab (the audit trail)",
                                partial(self.action_show_tab, AUDIT_TAB))
        yield SystemCommand("Show Overview", "Switch to the Overview tab", partial(self.action_show_tab, OVERVIEW))
        for spec in TABS:
            yield SystemCommand(f"Show {spec.title}", f"Switch to the {spec.title} tab",
                                partial(self.action_show_tab, spec.id))

    # ------------------------------------------------------------------ sign-in and automatic logoff

    def attempt_sign_in(self, username: str, password: str) -> None:
        """Check ``username``'s password through the console in a worker; SignedIn or SignInRefused comes back."""
        self._sign_in_worker(lambda: self.operations.sign_in(username, password), SignedIn)

    def _sign_in_worker(self, sign: Callable[[], SignIn], reply: Callable[[SignIn], Message]) -> None:
        """Run ``sign()`` (a console sign-in: it checks the password) in a worker, then check the user may view
        the operations; post ``reply(signed)``, or SignInRefused with the console's (or a masked) reason."""
        def check() -> None:
            try:
                signed = sign()
                self.operations.authorise(signed.actor, "view.operations", "dashboard")
            except ConsoleError as exc:
                self._post(SignInRefused(str(exc)))
            except Exception as exc:  # noqa: BLE001 - shown, not raised
                log.error("sign-in failed: %s", type(exc).__name__)
                self._post(SignInRefused(commands.describe(exc)))
            else:
                self._post(reply(signed))
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
        self._show_notices(signed.notices)

    def _show_notices(self, notices: list[str]) -> None:
        """An admin's security notices at sign-in (emergency access, a rebuilt key file): they stay on screen until
        the admin closes them."""
        if notices:
            for notice in notices:
                self.notify(notice, title="Security notice", severity="error", timeout=60, markup=False)
            self.push_screen(DetailScreen("Security notice: read before you go on",
                                          [(f"notice {n}", text) for n, text in enumerate(notices, 1)]))

    @on(SignInRefused)
    def _sign_in_refused(self, message: SignInRefused) -> None:
        """Show why: on the lock screen that asks only for the password, the console's generic "wrong user name or
        password" reads "wrong password" (the sign-in screen, and a lock screen asking for a user name, keep it)."""
        if isinstance(self.screen, (LoginScreen, LockScreen)):
            text = message.text
            if isinstance(self.screen, LockScreen) and not self.screen.gone and text == BAD_CREDENTIALS:
                text = WRONG_PASSWORD
            self.screen.show_error(text)

    async def on_event(self, event: events.Event) -> None:
        """Any key, click, scroll or paste counts as input for the automatic logoff. A key typed into a tab
        whose first fetch has not been painted yet waits for it (see ``_holding_keys``)."""
        if isinstance(event, INPUT_EVENTS):
            self._last_input = self.operations.clock.now()
        if (isinstance(event, events.Key) and not event.is_forwarded and event.key not in NEVER_HELD
                and self._holding_keys()):
            self._hold(event)
            return
        await super().on_event(event)

    def _holding_keys(self) -> bool:
        """Whether keys must wait: some already wait (their order is kept), or the tab shown, with its table
        focused, has not had its first fetch painted (its rows are not there: a key would act on no row)."""
        if self._held_keys:
            return True
        if self.actor is None or self.locked or self._stopping or self._modal_open():
            return False
        tab = self.active_tab
        return tab is not None and tab not in self.painted_tabs and not isinstance(self.focused, Input)

    def _hold(self, event: events.Key) -> None:
        self._held_keys.append(event)
        if self._hold_timer is None:
            self._hold_timer = self.set_timer(HOLD_KEYS_MAX_S, partial(self._release_keys, True), name="held keys")

    async def _release_keys(self, timed_out: bool = False) -> None:
        """Let the waiting keys act, in the order typed, until one switches to a tab not painted yet (the rest
        wait for that one); all of them when ``timed_out`` (the fetch failed or is slow)."""
        while self._held_keys:
            if not timed_out and self._blocked_tab():
                break
            event = self._held_keys.pop(0)
            await super().on_event(event)
        if self._hold_timer is not None and (not self._held_keys or timed_out):
            self._hold_timer.stop()
            self._hold_timer = None
        if self._held_keys and self._hold_timer is None:
            self._hold_timer = self.set_timer(HOLD_KEYS_MAX_S, partial(self._release_keys, True), name="held keys")

    def _blocked_tab(self) -> bool:
        """``_holding_keys`` without the waiting keys themselves: the tab shown is not painted yet."""
        held, self._held_keys = self._held_keys, []
        try:
            return self._holding_keys()
        finally:
            self._held_keys = held

    def check_idle_lock(self) -> None:
        """Lock when the signed-in user has given no input for ``security.idle_timeout`` seconds, or gave their
        password more than ``security.session_lifetime`` seconds ago however busy they were (an absolute limit:
        the password unlocks, and the lifetime starts again). Sources: 45 CFR 164.312(a)(2)(iii) automatic
        logoff; OWASP Session Management Cheat Sheet (absolute timeout); NIST SP 800-63B 7.2 (reauthentication)."""
        if self.actor is None or self.locked or self._stopping:
            return
        now, security = self.operations.clock.now(), self.operations.settings.security
        if (now - self._authenticated_at).total_seconds() >= security.session_lifetime:
            self.lock_now("session lifetime", why=f"signed in {idle_words(security.session_lifetime)} ago, the time "
                                                  "limit of a sign-in (security.session_lifetime).")
        elif (now - self._last_input).total_seconds() >= security.idle_timeout:
            self.lock_now("idle")

    def lock_now(self, reason: str = "idle", why: str | None = None, *, role: str | None = None,
                 gone: bool = False) -> None:
        """Lock the dashboard: a full lock screen over everything, toasts cleared, the lock audited.
        Refreshes and the runner go on underneath; nothing of them is shown until unlocked. ``why``, when
        given, is shown on the lock screen instead of the idle time (an account changed since sign-in, ctrl+l);
        ``role`` is the role shown (the account's new one after a change); ``gone``: the account was disabled or
        removed, so the lock screen offers another user's sign-in and q quits (``LockScreen``)."""
        if self.actor is None or self.locked:
            return
        actor = self.actor
        self.locked = True
        self.lock_gone = gone
        self._held_keys.clear()           # keys typed before the lock never reach the password field
        self.clear_notifications()
        self.push_screen(LockScreen(actor.username, role or actor.role, self.operations.settings.security.idle_timeout,
                                    runs_jobs=self.runs_jobs, why=why, gone=gone))
        self.run_worker(partial(self._audit_lock, actor, reason), thread=True, group="lock", name="lock",
                        exit_on_error=False)

    def _audit_lock(self, actor: Actor, reason: str) -> None:
        with self._console_lock:
            try:
                self.operations.lock(actor, reason)
            except Exception as exc:  # noqa: BLE001 - the screen is locked either way
                log.error("lock audit failed: %s", type(exc).__name__)

    def action_lock(self) -> None:
        """Lock the screen now (ctrl+l: a nurse stepping away), exactly as the idle lock does; audited with reason
        ``user``. The user's password unlocks it."""
        if self.actor is not None and not self.locked and not self._stopping:
            self.lock_now("user", why=f"{self.actor.username} locked it ({LOCK_KEY})")

    def _gone(self, actor: Actor) -> AccountChanged | None:
        """Worker thread: AccountChanged (gone) when ``actor``'s account was disabled or removed (the console's
        refusal as its text, which audits that refusal once), else None."""
        if self.operations.current_account(actor) is not None:
            return None
        try:
            self.operations.authorise(actor, "view.operations", "dashboard")
        except AccountRevoked as exc:
            return AccountChanged(str(exc), None, gone=True)
        return None

    def _account_changed_message(self, exc: AccountRevoked) -> AccountChanged:
        """Worker thread: the AccountChanged for ``exc``, with the account as it is now (None: disabled, removed)."""
        try:
            current = self.operations.current_account(self.actor)
        except Exception as error:  # noqa: BLE001 - the lock says why all the same
            log.error("account read failed: %s", type(error).__name__)
            return AccountChanged(str(exc))
        return AccountChanged(str(exc), current, gone=current is None)

    def attempt_unlock(self, password: str) -> None:
        """Check the locked user's password in a worker; Unlocked or SignInRefused comes back (and, when the refusal
        is because the account was disabled or removed meanwhile, AccountChanged: someone else may sign in)."""
        actor = self.actor

        def check() -> None:
            try:
                self._post(Unlocked(self.operations.unlock(actor, password)))
            except SignInFailed as exc:
                self._post(SignInRefused(str(exc)))
                if (gone := self._gone(actor)) is not None:
                    self._post(gone)
            except ConsoleError as exc:
                self._post(SignInRefused(str(exc)))
            except Exception as exc:  # noqa: BLE001 - shown, not raised
                log.error("unlock failed: %s", type(exc).__name__)
                self._post(SignInRefused(commands.describe(exc)))
        self.run_worker(check, thread=True, group="signin", name="unlock", exit_on_error=False)

    def attempt_hand_over(self, username: str, password: str) -> None:
        """Sign ``username`` in on the lock screen of a user whose account was disabled or removed (the console's
        ``hand_over``: audited ``signin`` and the locked user's ``session.logout``); HandedOver or SignInRefused
        comes back."""
        previous = self.actor
        self._sign_in_worker(lambda: self.operations.hand_over(previous, username, password), HandedOver)

    @on(AccountChanged)
    def _account_changed(self, message: AccountChanged) -> None:
        """The signed-in user was disabled or given another role: lock, saying why (and the role as it is now).
        A changed role applies once they unlock. A disabled or removed account can never unlock: the lock screen
        says so, lets someone else sign in and q quit (also when it happens while already locked)."""
        if self._stopping:
            return
        if self.locked:
            if message.gone and not self.lock_gone and isinstance(self.screen, LockScreen):
                self.lock_gone = True
                self.screen.show_gone(message.text)
            return
        self.lock_now("account changed", why=message.text, gone=message.gone,
                      role=message.current.role if message.current is not None else None)

    @on(Unlocked)
    def _unlocked(self, message: Unlocked) -> None:
        if not self.locked:
            return
        self._take_over(message.actor)

    @on(HandedOver)
    def _handed_over(self, message: HandedOver) -> None:
        if not (self.locked and self.lock_gone):
            return
        self._take_over(message.signin.actor)
        self._show_notices(message.signin.notices)

    def _take_over(self, actor: Actor) -> None:
        """Go on as ``actor`` after the lock: the same user unlocking (their role perhaps changed), or another user
        signed in on a gone account's lock screen. A new role (or user) sees what a fresh sign-in of theirs would:
        the tables emptied of the previous role's rows, the tabs of their role, and this console's runner kept,
        started or stopped as their role may run one (``_fit_runner``)."""
        changed = actor != self.actor
        self.actor = actor
        self.locked = self.lock_gone = False
        self.new_signing_session()      # the session's continuity ended at the lock: both components again
        self._last_input = self._authenticated_at = self.operations.clock.now()
        if isinstance(self.screen, LockScreen):
            self.pop_screen()
        if changed:
            self._reset_views()
            self._fit_tabs_to_role()
            self._fit_runner()
        self.sub_title = self._who()
        self.refresh_bindings()
        self.paint()
        if changed:
            self.refresh_now()

    def _reset_views(self) -> None:
        """Forget what the previous user's role was shown (rows, previews, filters, marks), so none of it shows to
        the next one before their own first fetch: a role without patient.read never sees a patient's row."""
        self.latest, self.latest_audit, self.latest_signoff = None, [], None
        self._fetched, self.force_fetch = None, True
        self.painted_tabs.clear()
        self.marked.clear()
        tabbed = self.query_one(TabbedContent)
        for tab in list(self.filters):
            spec = next((t for t in TABS if t.id == tab), None)
            tabbed.get_tab(tab).label = spec.title if spec is not None else "Audit"
        self.filters.clear()
        for table in self.query(LiveTable):
            table.sync([])
        for preview in self.query(".preview"):
            if isinstance(preview, Static):
                preview.update("")
        try:
            self.query_one("#signoff-preview", Static).update("")
        except NoMatches:
            pass

    def _fit_tabs_to_role(self) -> None:
        """The Audit and Sign-off tabs only for roles that may read them; the empty hints of the signed-in role."""
        tabbed = self.query_one(TabbedContent)
        for tab, needs, attr in ((AUDIT_TAB, "audit.list", "audit_tab"), (SIGNOFF_TAB, "signoff.read", "signoff_tab")):
            if getattr(self, attr) and not self.may(needs):
                if tabbed.active == tab:
                    tabbed.active = OVERVIEW
                tabbed.remove_pane(tab).call_next(self)
                setattr(self, attr, False)
        if self.may("audit.list") and not self.audit_tab:
            self.audit_tab = True
            tabbed.add_pane(audit_pane())
        self.add_signoff_tab(tabbed)
        for tab, (needs, text) in ROLE_EMPTY.items():
            spec = next(t for t in TABS if t.id == tab)
            self.query_one(f"#{tab}-empty", Static).update(
                spec.empty if self.may(needs) else text.format(role=self.actor.role))

    def _fit_runner(self) -> None:
        """As a fresh sign-in decides: a role that may run the runner (PERMISSIONS["runner.run"]) has this console's
        embedded runner (one is made and started if none runs here); any other role's console runs none, so a
        runner still running here stops gracefully, as at quit (the scheduler first, a run cut short queued again
        without spending a retry), audited ``runner.stop`` by the runner identity with the reason, and says so."""
        may_run = self.actor.role in PERMISSIONS["runner.run"]
        if may_run and not self.runs_jobs and self.runner_factory is not None:
            self.runner = self.runner_factory()
            self._runner_stopped = False
            self.operations = Console(self.operations.settings, runner=self.runner)
            self.run_worker(self._start_runner, thread=True, group="runner", name="start runner", exit_on_error=False)
        elif not may_run and self.runs_jobs:
            self._runner_stopped = True           # no longer this console's runner, from now on (header, quit)
            reason = (f"{self.actor.username} is signed in as {self.actor.role}, a role that runs no runner "
                      "(as at sign-in)")
            self.run_worker(partial(self._release_runner, self.runner, reason), thread=True, group="runner",
                            name="stop runner", exit_on_error=False)

    def _release_runner(self, runner: Runner, reason: str) -> None:
        """Thread worker: stop ``runner`` for ``reason`` (audited), then act through a console without it."""
        with self._console_lock:           # (also while quitting: quit no longer stops it, this console runs none)
            operations = self.operations
            try:
                operations.runner_stopping(RUNNER, reason)
            except Exception as exc:  # noqa: BLE001 - the runner stops all the same; the log says why
                log.error("runner stop audit failed: %s", type(exc).__name__)
            runner.stop()
            self.operations = Console(operations.settings, clock=operations.clock, keys=operations.keys)
        self._post(CommandDone(f"This console's runner stopped: {reason}. The clinic's jobs wait until an operator's "
                               "console or `medjobs run` runs them.", "warning"))

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
        """Stop the runner once no console call is in progress (any worker thread waits, then sees _stopping).
        A signed-in user's quitting is audited first (``session.quit``, saying whether the runner stops with it),
        however the app ends (q, or the safety net on unmount)."""
        self._stopping = True
        with self._console_lock:
            if self.actor is not None and not self._quit_audited:
                self._quit_audited = True
                try:
                    self.operations.quit_console(self.actor, runner_stopped=self.runs_jobs)
                except Exception as exc:  # noqa: BLE001 - the app quits all the same; the log says why
                    log.error("quit audit failed: %s", type(exc).__name__)
            if self.runs_jobs:
                self._runner_stopped = True
                self.runner.stop()

    async def stop_runner(self) -> None:
        """Stop refreshing, then stop the embedded runner (scheduler, dispatcher, workers) off the event loop."""
        self._stopping = True
        if self._timer is not None:
            self._timer.stop()
        await asyncio.to_thread(self._stop_runner_blocking)

    @property
    def runs_jobs(self) -> bool:
        """Whether this console's embedded runner runs the clinic's jobs now (started, not yet stopped)."""
        return self.runner is not None and not self._runner_stopped

    async def action_quit(self) -> None:
        """Stop the runner, then quit (audited). Not while locked: the lock screen says to unlock first (quitting
        stops the clinic's jobs: only the signed-in user may, with their password), unless the account was disabled
        or removed meanwhile (no password can unlock it: quitting is the way out, audited as that user's). While this console's runner
        runs the clinic's jobs, the user confirms first (``QuitScreen``: y or a second q); a console that runs no
        jobs quits at once."""
        if self.locked and not self.lock_gone:
            if isinstance(self.screen, LockScreen):
                self.screen.show_hint(UNLOCK_FIRST + (" (quitting stops this console's runner)." if self.runs_jobs
                                                      else "."))
            return
        if self.runs_jobs and not self._stopping:
            if isinstance(self.screen, QuitScreen):
                return

            async def answered(ok: bool | None) -> None:
                if ok:
                    await self.stop_runner()
                    self.exit()

            executor = getattr(self.runner, "executor", None)
            in_progress = executor.attempts_running() if hasattr(executor, "attempts_running") else 0
            self.push_screen(QuitScreen(in_progress), callback=answered)
            return
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
    def embedded_runner() -> Runner:
        from medjobs_tui.engine.runner import Runner      # loaded once someone who runs jobs signed in

        runlog.install(settings)        # its masked log, for `medjobs log` and other consoles' Log view
        logbook()                       # this console's Log view keeps its runner's lines from the first run on
        return Runner(settings)

    return MedJobsApp(Console(settings), None, refresh_interval=refresh_interval, username=username,
                      runner_factory=embedded_runner)


def run_dashboard(settings: Settings, username: str | None = None, refresh_interval: float = 1.0) -> None:
    """Run the dashboard (see ``build_dashboard``) until the user quits; the runner is stopped on the way out."""
    app = build_dashboard(settings, username, refresh_interval)
    try:
        app.run()
    finally:
        if app.runner is not None:
            app.runner.stop()
