"""The dashboard's own widgets: a table updated in place by row key, and a header with the clinic's clock."""

from __future__ import annotations

from datetime import tzinfo
from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import DataTable, Header

from medjobs_tui.clock import Clock
from medjobs_tui.tui.tables import Row


class LiveTable(DataTable):
    """A row-cursor DataTable that ``sync``s to a list of rows by key, keeping cursor and scroll.

    Each refresh removes stale rows, updates only the cells that changed and adds new rows; it never
    clears the table. The first cell of each row must read as the row's key (run id, job name...), so
    the table can be put back in the order of the rows given. Plain strings are shown literally
    (DataTable would read ``[...]`` in them as markup).
    """

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """

    def __init__(self, columns: Sequence[tuple[str, str]], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._spec = tuple(columns)

    def on_mount(self) -> None:
        for key, label in self._spec:
            self.add_column(label, key=key)

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def sync(self, rows: Sequence[Row]) -> bool:
        """Make the table show ``rows`` (in that order) with as few changes as possible; True if any."""
        selected = self.selected_key
        rows = [(key, tuple(_literal(cell) for cell in cells)) for key, cells in rows]
        wanted = dict(rows)
        changed = False
        for row_key in list(self.rows):
            if row_key.value not in wanted:
                self.remove_row(row_key)
                changed = True
        column_keys = list(self.columns)
        for key, cells in rows:
            if key not in self.rows:
                self.add_row(*cells, key=key)
                changed = True
                continue
            for column, old, new in zip(column_keys, self.get_row(key), cells):
                if old != new:
                    self.update_cell(key, column, new, update_width=True)
                    changed = True
        order = [key for key, _ in rows]
        if [row.key.value for row in self.ordered_rows] != order:
            position = {key: index for index, key in enumerate(order)}
            self.sort(column_keys[0], key=lambda cell: position[_plain(cell)])
        if selected in wanted:
            index = self.get_row_index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False, scroll=False)
        return changed


def _literal(cell: object) -> object:
    return Text(cell) if isinstance(cell, str) else cell


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


class ClinicClock(Widget):
    """The time in the clinic's zone, read from the injected clock (not the wall clock), each second."""

    DEFAULT_CSS = """
    ClinicClock {
        dock: right;
        width: 25;
        padding: 0 1;
        background: $foreground-darken-1 5%;
        color: $foreground;
        text-opacity: 85%;
        content-align: center middle;
    }
    """

    def __init__(self, clock: Clock, zone: tzinfo, **kwargs) -> None:
        super().__init__(**kwargs)
        self._clock = clock
        self._zone = zone

    def on_mount(self) -> None:
        self.set_interval(1, self.refresh, name="clinic clock")

    def render(self) -> Text:
        return Text(self._clock.now().astimezone(self._zone).strftime("%a %d %b %H:%M:%S %Z"))


class ClinicHeader(Header):
    """Textual's Header (icon, title, sub-title) with the clinic's clock in place of the wall clock."""

    DEFAULT_CSS = """
    ClinicHeader HeaderClockSpace { display: none; }
    """

    def __init__(self, clock: Clock, zone: tzinfo, **kwargs) -> None:
        super().__init__(show_clock=False, **kwargs)
        self._clock = clock
        self._zone = zone

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield ClinicClock(self._clock, self._zone)
