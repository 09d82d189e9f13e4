"""Small modal questions: "are you sure?" before a destructive action, and "which file?" before an export."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[bool]):
    """Asks ``question``; y / enter on "Yes" answers True, n / escape False. Nothing is done until answered."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            if self.detail:
                yield Static(self.detail, id="confirm-detail", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="confirm-yes")
                yield Button("No (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        """Close with ``answer``."""
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


class QuitScreen(ConfirmScreen):
    """Asked before quitting a console whose embedded runner runs the clinic's jobs: y or a second q quits,
    n / escape stays."""

    BINDINGS = [Binding("q", "answer(True)", "Quit", id="confirm.quit")]

    def __init__(self, in_progress: int) -> None:
        runs = (f" {in_progress} run(s) in progress stop now and go back to the queue." if in_progress else "")
        super().__init__("Quit and stop the runner?",
                         "No job of this clinic runs while no runner does: reminders, refill and interaction checks, "
                         "supply monitoring, roll-ups and backups wait until an operator opens MedJobs again (or "
                         f"`medjobs run` starts).{runs}", yes="Quit")


class PathScreen(ModalScreen["str | None"]):
    """Asks for a file name (``default`` filled in); enter answers it, escape None."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="path.cancel")]

    def __init__(self, title: str, default: str, hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="path-dialog", classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Input(self.default, id="path-input")
            yield Static(self.hint or "enter writes the file · escape cancels", classes="dialog-hint", markup=False)

    def action_dismiss_none(self) -> None:
        """Close without a file."""
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)
