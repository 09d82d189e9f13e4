"""Modal screens: the key help and the evidence record viewer. Both close with escape."""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    """Lists the dashboard's keys: ``(key, what it does, where it works)`` rows."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark,f1,q", "dismiss", "Close", show=False, id="help.close_alt"),
    ]

    def __init__(self, keys: Sequence[tuple[str, str, str]]) -> None:
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action")
        table.add_column("where", style="dim")
        for key, description, where in self._keys:
            table.add_row(key, description, where)
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static("MedJobs keys", classes="dialog-title")
            yield Static(table, id="help-keys")
            yield Static("escape closes", classes="dialog-hint")


class EvidenceScreen(ModalScreen[None]):
    """Shows one run's evidence record (YAML, read through the console, so the read is audited)."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="evidence.close")]

    def __init__(self, run_id: int, text: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="evidence-dialog", classes="dialog"):
            yield Static(f"Evidence of run {self.run_id}", classes="dialog-title")
            with VerticalScroll(id="evidence-body"):
                yield Static(yaml_text(self.text), id="evidence-yaml")
            yield Static("escape closes", classes="dialog-hint")


def yaml_text(text: str) -> Text:
    """YAML with its keys in bold (no theme backgrounds to clash with the dialog)."""
    out = Text(text)
    out.highlight_regex(r"(?m)^[ -]*[\w.-]+(?=:)", "bold")
    return out
