"""The sign-in screen the dashboard opens on, and the lock screen of the automatic logoff.

Both are full screens (not dialogs over the tabs): while either is up nothing of the clinic shows, no
run, no notification text. They hand the typed password to the app, which checks it through the
console in a worker thread (Argon2id takes a moment) and answers with ``show_error`` or by closing
the screen. Their own keys: enter (next field / sign in); ctrl+q quits the sign-in screen, while the lock
screen says to unlock first (quitting stops the console's runner: the signed-in user's act, audited). A lock
screen whose user's account was disabled or removed (``gone``) can never be unlocked: it asks for another user's
name and password instead (a sign-in on this console), and q / ctrl+q quit.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from medjobs_tui.tui.forms import FORM_BINDINGS, FormKeys


class LoginScreen(FormKeys, Screen[None]):
    """User name and password; ``demo_file`` (if it exists) is pointed to as where the demo users are."""

    # tab, shift+tab and enter in the name field move the focus before the keys typed after them are
    # routed (see tui/forms.py): a fast typist's password never lands in the visible name field
    BINDINGS = FORM_BINDINGS
    NEXT_ON_ENTER = frozenset({"login-user"})

    def __init__(self, clinic: str, username: str | None = None, demo_file: Path | None = None) -> None:
        super().__init__()
        self.clinic = clinic
        self.username = username or ""
        self.demo_file = demo_file
        # focused while the screen is composed, before any key can reach it: a deferred focus() from
        # on_mount could land after a fast typist's tab and pull the password back into the name field
        self.AUTO_FOCUS = "#login-password" if self.username else "#login-user"

    def compose(self) -> ComposeResult:
        with Vertical(id="login-dialog", classes="dialog"):
            yield Static(f"MedJobs · {self.clinic}", classes="dialog-title")
            yield Static("Sign in to open the console.", id="login-intro")
            yield Input(value=self.username, placeholder="user name", id="login-user")
            yield Input(placeholder="password", password=True, id="login-password")
            yield Static("", id="login-error")
            if self.demo_file is not None and self.demo_file.exists():
                yield Static(f"Demo clinic: the demo users and their passwords are in {self.demo_file} "
                             "(for the demo only).", id="login-demo-hint")
            yield Static("enter signs in · ctrl+q quits", classes="dialog-hint")

    @on(Input.Submitted, "#login-password")
    def _password_entered(self) -> None:
        user = self.query_one("#login-user", Input).value.strip()
        password = self.query_one("#login-password", Input).value
        if not user:
            self.show_error("Type your user name first.")
            self.query_one("#login-user", Input).focus()
            return
        self.query_one("#login-error", Static).update("Signing in…")
        self.app.attempt_sign_in(user, password)

    def show_error(self, text: str) -> None:
        """Show why sign-in was refused; the password field is cleared for the next try."""
        self.query_one("#login-error", Static).update(text)
        field = self.query_one("#login-password", Input)
        field.value = ""
        field.focus()


def idle_words(seconds: float) -> str:
    """An idle time in plain numbers: ``45 s``, ``10 min``, ``2 min 5 s``, ``24 h``, ``1 h 30 min``."""
    total = int(round(seconds))
    if total < 120:
        return f"{total} s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if not hours:
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def sentence(text: str) -> str:
    """``text`` ending in a full stop (or the ``?`` / ``!`` / ``.`` it has): the console's messages have none."""
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


class LockScreen(FormKeys, Screen[None]):
    """The dashboard locked after ``idle_s`` seconds without input (or, with ``why``, for another reason: an
    account changed since sign-in, the session's time limit, the user's own ctrl+l; that text is shown instead):
    only the user's password unlocks it. ``role`` is the role shown (the account's role now, after a change).
    ``runs_jobs``: this console's runner runs the clinic's jobs (and goes on while it is locked).

    ``gone``: the user's account was disabled or no longer exists, so their password can never unlock it: the
    screen says so and asks instead for another user's name and password (a sign-in on this console, as on the
    sign-in screen), and q (or ctrl+q) quits, through the quit question while the runner runs the clinic's jobs.
    ``show_gone`` turns a lock screen already up into this one."""

    BINDINGS = [*FORM_BINDINGS, Binding("escape", "leave_fields", "Leave the fields", show=False)]
    NEXT_ON_ENTER = frozenset({"lock-user"})

    def __init__(self, username: str, role: str, idle_s: float, runs_jobs: bool = False, why: str | None = None,
                 gone: bool = False) -> None:
        super().__init__()
        self.username = username
        self.role = role
        self.idle_s = idle_s
        self.runs_jobs = runs_jobs
        self.why = why
        self.gone = gone
        # the password field is focused as the screen is composed (a fast typist's password lands there); on a
        # screen of a gone account nothing is: q quits, tab (or a click) goes to the user name
        self.AUTO_FOCUS = "" if gone else "#lock-password"

    def compose(self) -> ComposeResult:
        with Vertical(id="lock-dialog", classes="dialog"):
            yield Static("MedJobs is locked", classes="dialog-title")
            yield Static(self._intro(), id="lock-intro", markup=False)
            user = Input(placeholder="user name (another user)", id="lock-user")
            user.display = self.gone        # only on a gone account's screen: never focusable otherwise
            yield user
            yield Input(placeholder="password", password=True, id="lock-password")
            yield Static("", id="lock-error", markup=False)
            yield Static(self._hint(), classes="dialog-hint", id="lock-hint", markup=False)

    def _intro(self) -> str:
        runner = " The runner keeps running the clinic's jobs." if self.runs_jobs else ""
        locked = f"Locked: {sentence(self.why)}" if self.why else f"Locked after {idle_words(self.idle_s)} without input."
        if self.gone:
            return (f"{locked}{runner}\n{self.username}'s password can no longer unlock this console. Someone else "
                    "may sign in on it with their user name and password (their role decides what they see), "
                    "or q quits" + (" (this stops the runner: asked first)." if self.runs_jobs else "."))
        return f"{locked}{runner}\n{self.username} ({self.role}): type your password to go on."

    def _hint(self) -> str:
        if self.gone:
            return "tab: user name, then password · enter signs in · q quits (ctrl+q in a field)"
        return "enter unlocks · quitting needs the unlock first"

    def show_gone(self, why: str) -> None:
        """The account was disabled or removed while this screen was up: say ``why`` and offer another sign-in."""
        self.gone, self.why = True, why
        self.query_one("#lock-intro", Static).update(self._intro())
        self.query_one("#lock-hint", Static).update(self._hint())
        self.query_one("#lock-user", Input).display = True
        self.query_one("#lock-password", Input).value = ""
        self.set_focus(None)

    @on(Input.Submitted, "#lock-password")
    def _password_entered(self) -> None:
        password = self.query_one("#lock-password", Input).value
        if self.gone:
            user = self.query_one("#lock-user", Input).value.strip()
            if not user:
                self.show_error("Type the user name first.")
                self.query_one("#lock-user", Input).focus()
                return
            self.query_one("#lock-error", Static).update("Signing in…")
            self.app.attempt_hand_over(user, password)
            return
        self.query_one("#lock-error", Static).update("Checking…")
        self.app.attempt_unlock(password)

    def action_leave_fields(self) -> None:
        """escape: leave the fields (on a gone account's screen q then quits)."""
        if self.gone:
            self.set_focus(None)

    def show_hint(self, text: str) -> None:
        """Say ``text`` where the errors show (e.g. "unlock first"), the password typed so far kept."""
        self.query_one("#lock-error", Static).update(text)
        if not self.gone:
            self.query_one("#lock-password", Input).focus()

    def show_error(self, text: str) -> None:
        """Show why unlocking (or the other user's sign-in) was refused; the password field is cleared."""
        self.query_one("#lock-error", Static).update(text)
        field = self.query_one("#lock-password", Input)
        field.value = ""
        if not self.gone or self.query_one("#lock-user", Input).value.strip():
            field.focus()
