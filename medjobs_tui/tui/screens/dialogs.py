"""Modal dialogs: the key help, the detail of one run or notification, and the evidence record viewer.

All close with escape.
"""

from __future__ import annotations

from typing import Sequence

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

WARNING_PREFIX = "# WARNING"
"""How the console marks a comment it puts above a record (e.g. one whose SHA-256 no longer matches)."""


class HelpScreen(ModalScreen[None]):
    """Lists the dashboard's keys, ``(key, what it does, where it works)``, then what the Metrics headings mean."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark,f1,q", "dismiss", "Close", show=False, id="help.close_alt"),
    ]

    def __init__(self, keys: Sequence[tuple[str, str, str]],
                 columns: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__()
        self._keys = keys
        self._columns = columns

    def compose(self) -> ComposeResult:
        keys = Table(box=None, expand=True, show_edge=False, pad_edge=False)
        keys.add_column("key", style="bold", no_wrap=True)
        keys.add_column("action", ratio=1)
        keys.add_column("where", style="dim", no_wrap=True)
        for key, description, where in self._keys:
            keys.add_row(key, description, where)
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static("MedJobs keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                yield Static(keys, id="help-keys")
                if self._columns:
                    yield Static("Metrics columns", classes="dialog-section")
                    yield Static(field_table(self._columns), id="help-columns")
            yield Static("escape closes", classes="dialog-hint")


class DetailScreen(ModalScreen[None]):
    """The whole of one row (a run, a notification): ``(label, value)`` lines under a title."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="detail.close")]

    def __init__(self, title: str, fields: Sequence[tuple[str, RenderableType]]) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-dialog", classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            with VerticalScroll(id="detail-body"):
                yield Static(field_table(self.fields), id="detail-fields")
            yield Static("escape closes", classes="dialog-hint")


class EvidenceScreen(ModalScreen[None]):
    """Shows one run's evidence record (YAML, read through the console, so the read is audited).

    ``header`` is one line about the record in the clinic's terms (local time, valid or not); a
    ``# WARNING`` comment the console put above the record is shown as a red banner, and the record
    itself below, as it is on disk.
    """

    BINDINGS = [Binding("escape", "dismiss", "Close", id="evidence.close")]

    def __init__(self, run_id: int, text: str, header: Text | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.warnings, self.text = split_warnings(text)
        self.header = header

    def compose(self) -> ComposeResult:
        with Vertical(id="evidence-dialog", classes="dialog"):
            yield Static(f"Evidence of run {self.run_id}", classes="dialog-title")
            if self.header is not None:
                yield Static(self.header, id="evidence-header")
            if self.warnings:
                yield Static(Text("\n".join(self.warnings)), id="evidence-warning")
            with VerticalScroll(id="evidence-body"):
                yield Static(yaml_text(self.text), id="evidence-yaml")
            yield Static("escape closes", classes="dialog-hint")


def split_warnings(text: str) -> tuple[list[str], str]:
    """The console's ``# WARNING`` lines at the top of ``text`` (without the ``#``), and the record after them."""
    warnings, lines = [], text.splitlines(keepends=True)
    while lines and lines[0].startswith(WARNING_PREFIX):
        warnings.append(lines.pop(0).lstrip("# ").rstrip())
    return warnings, "".join(lines)


def field_table(fields: Sequence[tuple[str, RenderableType]]) -> Table:
    """``label  value`` lines, labels bold, values wrapped to the dialog's width."""
    table = Table(box=None, expand=True, show_header=False, show_edge=False, pad_edge=False)
    table.add_column("label", style="bold", no_wrap=True)
    table.add_column("value", ratio=1)
    for label, value in fields:
        table.add_row(label, Text(value) if isinstance(value, str) else value)
    return table


def yaml_text(text: str) -> Text:
    """YAML with its keys in bold (no theme backgrounds to clash with the dialog)."""
    out = Text(text)
    out.highlight_regex(r"(?m)^[ -]*[\w.-]+(?=:)", "bold")
    return out
