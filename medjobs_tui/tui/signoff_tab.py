"""The Sign-off tab: the checklists of VALIDATION.md section 6, each item's signature, and `s` to sign.

Shown to the roles that may read the sign-off (admin, reviewer, auditor), after sign-in, like the Audit tab;
filled through the console's ``signoff_items`` (which checks the role again). Under the table the selected
item's signature is shown as 21 CFR 11.50 asks: printed name, UTC and clinic-local time, meaning, and
whether it is stale (the validated configuration changed since it was signed) or revoked. `s` signs the selected
item and `x` revokes its signature, each through ``SignScreen``: the password again, and the user name too
at the first signing of the dashboard session (a session ends when the dashboard locks or is left); the
meaning and an optional comment (or the revocation's reason). `enter` opens the item's whole history.

The app mixes in ``SignoffActions``; the console call runs in a thread worker of the dialog, under the app's
console lock, and its answer comes back as a message (no widget is touched off the event loop).
"""

from __future__ import annotations

import secrets
from datetime import tzinfo

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, RadioButton, RadioSet, Static, TabPane

from medjobs_tui.config import MEANINGS
from medjobs_tui.console import Actor, ConsoleError
from medjobs_tui.console.signoff import MEANING_WORDS, ItemState, Signature, SignoffState, signer_refusal
from medjobs_tui.tui import formatting as fmt
from medjobs_tui.tui.forms import FORM_BINDINGS, FormKeys
from medjobs_tui.tui.screens import DetailScreen
from medjobs_tui.tui.tables import Column, Row
from medjobs_tui.tui.widgets import LiveTable

SIGNOFF_TAB = "signoff"
SIGNOFF_KEY = "o"
"""The key that shows the Sign-off tab (sign-Off; `s` signs on it)."""

SIGNOFF_COLUMNS = (
    Column("checklist", "checklist", 10), Column("item", "item", 22), Column("role", "signed by role", 14),
    Column("status", "status", 8), Column("signer", "signature", 12), Column("meaning", "meaning", 8),
    Column("when", "signed", 11),
)
"""The Sign-off table; the selected item's whole signature (UTC too) and its note show under it."""

STATUS_STYLE = {"signed": "green", "stale": "bold yellow", "unsigned": "", "revoked": "magenta",
                "altered": "bold red"}

EMPTY = "No sign-off checklists configured (config.yaml signoff)."


class SignoffReady(Message):
    """A refresh read the sign-off checklists (``state``) and whether the actor's next signing takes both
    components (``needs_name``), and the name the actor's signatures print (``printed_name``)."""

    def __init__(self, state: SignoffState, needs_name: bool, printed_name: str) -> None:
        super().__init__()
        self.state = state
        self.needs_name = needs_name
        self.printed_name = printed_name


def short_checklist(title: str) -> str:
    """The checklist's first word (``Technical``, ``Compliance``, ``Final``): the table's narrow column."""
    return title.split()[0] if title.split() else title


def signoff_rows(state: SignoffState | None, zone: tzinfo) -> list[Row]:
    """One row per item, in config order, keyed by item id: checklist, item, the review role that signs it,
    status (coloured), the signer's printed name, meaning and clinic-local time of the signature shown."""
    rows: list[Row] = []
    for item in state.items if state is not None else []:
        sig = item.signature
        status = Text(item.status, style=STATUS_STYLE.get(item.status, ""))
        if item.status == "unsigned" and item.locked:
            status = Text("locked", style="dim")
        rows.append((item.id, (
            short_checklist(item.checklist_title), item.title, item.review_role, status,
            sig.printed_name if sig else fmt.MISSING, sig.meaning if sig else fmt.MISSING,
            fmt.local_time(sig.signed_at, zone) if sig else fmt.MISSING,
        )))
    return rows


def signature_text(sig: Signature, zone: tzinfo) -> str:
    """``Printed Name (user, review role) · meaning · YYYY-MM-DD HH:MM:SS UTC · YYYY-MM-DD HH:MM:SS EST``."""
    return (f"{sig.printed_name} ({sig.username}, {sig.review_role}) · {sig.meaning} · "
            f"{sig.signed_at.strftime('%Y-%m-%d %H:%M:%S')} UTC · {fmt.local_datetime(sig.signed_at, zone)}")


def refusal(item: ItemState, actor: Actor | None) -> str | None:
    """Why ``actor`` may not sign (or revoke) ``item``, naming who signs it (the console's own rule,
    ``console.signoff.signer_refusal``); None when they may."""
    if actor is None:
        return f"{item.checklist_title} · {item.title} is signed by the {item.review_role}"
    return signer_refusal(item.checklist_title, item.title, item.review_role, actor.username, actor.role,
                          actor.review_role)


def preview(item: ItemState | None, zone: tzinfo, actor: Actor | None = None) -> Text:
    """What shows under the table for the selected item: which checklist, who signs it and its status; the
    signature (21 CFR 11.50) and the baseline it is bound to; why it does not count (stale, revoked...). "s signs
    it" only when ``actor`` may sign it (``refusal``); otherwise who does."""
    if item is None:
        return Text("")
    out = Text()
    out.append(f"{item.checklist_title} · {item.title}", style="bold")
    out.append(f" · signed by the {item.review_role} · ")
    out.append(item.status, style=STATUS_STYLE.get(item.status, ""))
    sig = item.signature
    if sig is not None:
        out.append("\nSignature: " + signature_text(sig, zone))
        out.append(f"\nBound to: {sig.baseline.short()}")
    if item.note:
        out.append("\n" + item.note, style="bold yellow" if item.status == "stale" else "")
    elif sig is None:
        out.append("\nNot signed yet: s signs it (your password again)." if refusal(item, actor) is None
                   else f"\nNot signed yet: the {item.review_role} signs it.")
    return out


def signoff_pane() -> TabPane:
    """The Sign-off tab's pane: the table, the selected item's signature, and the hint shown while empty."""
    return TabPane("Sign-off", SignoffTable(SIGNOFF_COLUMNS, id=f"{SIGNOFF_TAB}-table"),
                   SignoffPreview("", id="signoff-preview"),
                   Static(EMPTY, id=f"{SIGNOFF_TAB}-empty", classes="empty-hint"), id=SIGNOFF_TAB)


def history_fields(item: ItemState, zone: tzinfo) -> list[tuple[str, object]]:
    """The item screen's lines: the item, then every signature and revocation, oldest first, each with its
    meaning, time (UTC and clinic), components, baseline, record state and comment."""
    fields: list[tuple[str, object]] = [
        ("item", f"{item.checklist_title} · {item.title} ({item.id})"), ("signed by", f"the {item.review_role}"),
        ("status", Text(item.status + (f": {item.note}" if item.note else ""), style=STATUS_STYLE.get(item.status, ""))),
    ]
    for s in item.history:
        label = f"#{s.id} {'revoked' if s.kind == 'revoke' else 'signed'}"
        lines = [signature_text(s, zone), f"with {s.components}; bound to {s.baseline.short()}"]
        if s.kind == "revoke":
            lines.append(f"revokes signature #{s.revokes}")
        if s.stale and s.kind == "sign":
            lines.append("stale: configuration changed since signed")
        if not s.intact:
            lines.append("ALTERED: this record no longer matches its MAC")
        if s.comment:
            lines.append(("reason: " if s.kind == "revoke" else "comment: ") + s.comment)
        fields.append((label, Text("\n".join(lines))))
    if not item.history:
        fields.append(("history", "no signature yet"))
    return fields


class SignoffPreview(Static):
    """The selected item's signature under the table (as the Notifications tab's preview, two lines taller:
    item, signature, baseline and why it does not count)."""

    DEFAULT_CSS = """
    SignoffPreview { height: 6; padding: 0 1; background: $boost; border-top: solid $primary; }
    TabPane.-empty SignoffPreview { display: none; }
    """


class SignoffTable(LiveTable):
    """The Sign-off table: the row under the cursor shows its signature below; enter opens its history."""

    BINDINGS = [Binding("enter", "select_cursor", "History", id="signoff.view")]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.app.show_signoff_preview()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.app.open_signoff_item(event.row_key.value)


class MeaningSet(RadioSet):
    """The meanings to choose from; enter (or space) chooses the highlighted one and moves on to the comment."""

    def action_toggle_button(self) -> None:
        super().action_toggle_button()
        self.screen.focus_next()


class SignScreen(FormKeys, ModalScreen["Signature | None"]):
    """Signs (``mode`` sign) or revokes (``mode`` revoke) item ``item`` as the app's actor.

    Asks the user name (only when ``needs_name``: the first signing of the session), the password, the
    meaning (signing) and a comment (signing, optional) or reason (revoking, required). enter moves from field
    to field and signs from the last one; escape cancels. A refusal shows in the dialog and clears the password;
    the signature closes it (``dismiss`` with the Signature)."""

    # tab, shift+tab and enter in the name, password or meaning field move on before the next key is routed
    # (tui/forms.py): a burst never leaves the password in the visible name field
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sign.cancel"), *FORM_BINDINGS]
    NEXT_ON_ENTER = frozenset({"sign-user", "sign-password", "sign-meaning"})

    DEFAULT_CSS = """
    SignScreen { align: center middle; }
    #sign-dialog { width: 84; max-width: 100%; }
    #sign-error { color: $error; height: auto; }
    #sign-meaning { width: 100%; height: auto; margin: 1 0 0 0; }
    #sign-statement { color: $text-muted; height: auto; }
    """

    class Answer(Message):
        """The console's answer to a signing: ``signature``, or ``error`` (text fit to show)."""

        def __init__(self, signature: Signature | None, error: str | None) -> None:
            super().__init__()
            self.signature = signature
            self.error = error

    def __init__(self, item: ItemState, mode: str, needs_name: bool, baseline: str) -> None:
        super().__init__()
        self.item = item
        self.mode = mode
        self.needs_name = needs_name
        self.baseline = baseline
        self.busy = False
        # focused as the dialog is composed, before a key typed right after s can arrive
        self.AUTO_FOCUS = "#sign-user" if needs_name else "#sign-password"

    def compose(self) -> ComposeResult:
        app = self.app
        verb = "Sign" if self.mode == "sign" else "Revoke the signature of"
        # a scrolling dialog: at 80x24 its fields do not all fit, and the focused one is scrolled into view
        with VerticalScroll(id="sign-dialog", classes="dialog"):
            yield Static(f"{verb}: {self.item.checklist_title} · {self.item.title}", classes="dialog-title",
                         markup=False)
            who, role = app.actor, app.actor.review_role or "no review role"
            yield Static(f"Signer: {app.signer_name or who.username} ({who.username}, {role}). Bound to: {self.baseline}",
                         id="sign-statement", markup=False)
            if self.needs_name:
                yield Static("First signing of this session: your user name and your password "
                             "(21 CFR 11.200).", id="sign-components", markup=False)
                yield Input(placeholder="user name", id="sign-user")
            yield Input(placeholder="password (again)", password=True, id="sign-password")
            if self.mode == "sign":
                with MeaningSet(id="sign-meaning"):
                    for meaning in MEANINGS:
                        yield RadioButton(f"{meaning}: {MEANING_WORDS[meaning]}", value=meaning == self.item.default_meaning,
                                          id=f"meaning-{meaning}")
                yield Input(placeholder="comment (optional; while a job fails validation, required: why the item holds)",
                            id="sign-comment")
            else:
                yield Input(placeholder="reason for revoking (required)", id="sign-comment")
            yield Static("", id="sign-error")
            yield Static("enter: next field, then signs · escape cancels", classes="dialog-hint")

    @on(Input.Submitted, "#sign-comment")
    def _submit(self) -> None:
        self.submit()

    @property
    def meaning(self) -> str:
        """The meaning chosen (``revoked`` when revoking)."""
        if self.mode != "sign":
            return "revoked"
        pressed = self.query_one(MeaningSet).pressed_button
        return pressed.id.removeprefix("meaning-") if pressed is not None else self.item.default_meaning

    def submit(self) -> None:
        """Hand the fields to the console in a thread worker (the password check takes a moment)."""
        if self.busy:
            return
        username = self.query_one("#sign-user", Input).value.strip() if self.needs_name else None
        password = self.query_one("#sign-password", Input).value
        comment = self.query_one("#sign-comment", Input).value
        if self.needs_name and not username:
            self.show_error("Type your user name first.")
            self.query_one("#sign-user", Input).focus()
            return
        if not password:
            self.show_error("Type your password.")
            return
        self.busy = True
        self.query_one("#sign-error", Static).update("Signing…")
        app, item, mode, meaning = self.app, self.item.id, self.mode, self.meaning

        def call() -> None:
            with app.console_lock:
                if app._stopping:       # the app is quitting: the store's connections are closing
                    return
                try:
                    if mode == "sign":
                        sig = app.operations.sign_item(app.actor, item, meaning, password, username=username,
                                                       comment=comment, session=app.signing_session)
                    else:
                        sig = app.operations.revoke_item(app.actor, item, comment, password, username=username,
                                                         session=app.signing_session)
                except ConsoleError as exc:
                    self.post_message(self.Answer(None, str(exc)))
                except Exception as exc:  # noqa: BLE001 - shown, not raised: the dialog stays usable
                    from medjobs_tui.tui import commands

                    self.post_message(self.Answer(None, commands.describe(exc)))
                else:
                    self.post_message(self.Answer(sig, None))

        self.run_worker(call, thread=True, group="signoff", name="sign", exit_on_error=False)

    @on(Answer)
    def _answered(self, message: Answer) -> None:
        self.busy = False
        if message.signature is not None:
            self.dismiss(message.signature)
        else:
            self.show_error(message.error or "refused")

    def show_error(self, text: str) -> None:
        """Show why the signing was refused; the password is cleared for the next try."""
        self.query_one("#sign-error", Static).update(Text(text))
        field = self.query_one("#sign-password", Input)
        field.value = ""
        if not (self.needs_name and not self.query_one("#sign-user", Input).value.strip()):
            field.focus()

    def action_cancel(self) -> None:
        """Close without signing."""
        if not self.busy:
            self.dismiss(None)


class SignoffActions:
    """The Sign-off tab's part of the app (mixed into ``MedJobsApp``): its data, its keys, its dialogs."""

    latest_signoff: SignoffState | None = None
    signoff_tab: bool = False
    signing_session: str | None = None
    signer_name: str | None = None
    """The printed name on the actor's signatures (as of the last refresh)."""
    signing_needs_name: bool = True
    """Whether the next signing takes the user name too (as of the last refresh; the console decides)."""

    def new_signing_session(self) -> None:
        """Start a new signing session (at sign-in and after an unlock): its first signing takes both components."""
        self.signing_session = secrets.token_hex(16)
        self.signing_needs_name = True

    def add_signoff_tab(self, tabbed) -> None:
        """Add the Sign-off tab to ``tabbed`` once, if the signed-in role may read the sign-off."""
        if not self.signoff_tab and self.may("signoff.read"):
            self.signoff_tab = True
            tabbed.add_pane(signoff_pane())

    def fetch_signoff(self) -> None:
        """Worker thread: read the checklists and post them (call under the console lock)."""
        state = self.operations.signoff_items(self.actor)
        self._post(SignoffReady(state, self.operations.signing_needs_name(self.actor, self.signing_session),
                                self.operations.printed_name(self.actor)))

    def on_signoff_ready(self, message: SignoffReady) -> None:
        self.latest_signoff = message.state
        self.signing_needs_name = message.needs_name
        self.signer_name = message.printed_name

    def signoff_item(self, item_id: str | None) -> ItemState | None:
        """The item ``item_id`` as last refreshed, or None."""
        if self.latest_signoff is None or item_id is None:
            return None
        return self.latest_signoff.item(item_id)

    def show_signoff_preview(self) -> None:
        """Show the selected item's signature under the table."""
        try:
            table = self.table(SIGNOFF_TAB)
            self.query_one("#signoff-preview", Static).update(
                preview(self.signoff_item(table.selected_key), self.zone, self.actor))
        except NoMatches:  # the tab is not there (role) or the app is closing
            pass

    def open_signoff_item(self, item_id: str) -> None:
        """Open item ``item_id``'s whole history (every signature and revocation, as last refreshed)."""
        item = self.signoff_item(item_id)
        if item is not None:
            self.push_screen(DetailScreen(f"Sign-off: {item.title}", history_fields(item, self.zone)),
                             callback=lambda _: self.paint())

    def action_sign(self) -> None:
        """Sign the selected item (a dialog asks the password, the user name at a session's first signing,
        the meaning and a comment); the console checks the review role and the checklist's order."""
        self._open_sign_dialog("sign")

    def action_revoke(self) -> None:
        """Revoke the selected item's signature (a new signed entry; the dialog asks as for signing and a reason)."""
        self._open_sign_dialog("revoke")

    def _open_sign_dialog(self, mode: str) -> None:
        item = self.signoff_item(self._selected(SIGNOFF_TAB))
        if item is None:
            return
        if (refused := refusal(item, self.actor)) is not None:     # at once: no dialog, no password typed for nothing
            self.toast(refused, severity="warning")
            return
        if mode == "sign" and item.status == "signed":
            self.toast(f"{item.title} is signed already; x revokes that signature first", severity="warning")
            return
        if mode == "revoke" and item.status not in ("signed", "stale"):
            self.toast(f"{item.title} has no signature in force to revoke", severity="warning")
            return
        needs_name = self.signing_needs_name
        baseline = self.latest_signoff.baseline.short() if self.latest_signoff else "-"

        def done(sig: Signature | None) -> None:
            if sig is not None:
                self.signing_needs_name = False
                what = "revoked" if sig.kind == "revoke" else "signed"
                self.toast(f"{item.title} {what}: {sig.printed_name}, {sig.meaning}, "
                           f"{sig.signed_at.strftime('%H:%M:%S')} UTC")
            self.refresh_now()

        self.push_screen(SignScreen(item, mode, needs_name, baseline), callback=done)
