"""Stored text reaches a terminal only as printable text: an imported ESC/CSI sequence (CWE-150) must not
clear an operator's screen, in the dashboard or in a CLI table. (The import also refuses such text.)"""

from __future__ import annotations

import io

from rich.console import Console as RichConsole
from rich.text import Text

from medjobs_tui import cli
from medjobs_tui.security.masking import has_control_characters, printable
from medjobs_tui.tui.widgets import _literal

HOSTILE = "\x1b[2J\x1b[31mEVIL\x07\x9b2J"


def test_printable_replaces_every_control_character_but_tab_and_newline():
    assert printable(HOSTILE) == "\ufffd[2J\ufffd[31mEVIL\ufffd\ufffd2J"
    assert printable("1\ttablet\nat night") == "1\ttablet\nat night"
    assert has_control_characters(HOSTILE)
    assert not has_control_characters("Take 1\ttablet\r\ndaily")


def test_a_dashboard_cell_never_carries_an_escape_code():
    for cell in (HOSTILE, Text(HOSTILE, style="red")):
        shown = _literal(cell)
        assert "\x1b" not in shown.plain and "\x9b" not in shown.plain and "EVIL" in shown.plain


def test_a_cli_table_prints_stored_text_literally(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out", RichConsole(file=buffer, force_terminal=False, width=120))
    cli._print_table(("medication", "note"), [(HOSTILE, "[bold]not markup[/bold]")])
    printed = buffer.getvalue()
    assert "\x1b" not in printed and "\x9b" not in printed and "EVIL" in printed
    assert "[bold]not markup[/bold]" in printed          # stored brackets are text, not Rich markup
