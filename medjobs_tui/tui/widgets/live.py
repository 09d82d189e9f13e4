"""The dashboard's own widgets: a table updated in place by row key, and a header with the clinic's clock."""

from __future__ import annotations

from datetime import tzinfo
from typing import Iterable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.content import Content
from textual.widgets import DataTable, Header, Static

from medjobs_tui.clock import Clock
from medjobs_tui.security.masking import has_control_characters, printable
from medjobs_tui.tui.tables import WIDE_TABLE, Column, Row


class LiveTable(DataTable):
    """A row-cursor DataTable that ``sync``s to a list of rows by key, keeping cursor and scroll.

    Each refresh removes stale rows, updates only the cells that changed and adds new rows; it never
    clears the table. Plain strings are shown literally (DataTable would read ``[...]`` in them as markup).

    Column widths are set here, synchronously, from the cells of each sync (never less than the
    column's floor) and, for the fill column, from the table's own width on every resize. DataTable's
    own auto-width is measured later, on idle, and a frame painted in between kept too-narrow cells in
    its cache ("med", "succee") until the next resize.
    """

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    DEFAULT_CSS = """
    LiveTable { height: 1fr; scrollbar-gutter: stable; }
    """

    def __init__(self, columns: Sequence[Column], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._all_spec = tuple(columns)
        self._wide = True
        self._shown = list(range(len(self._all_spec)))
        self._spec = self._all_spec
        self._content_widths = [max(c.width, cell_len(c.label)) for c in self._spec]
        self._rows: list[Row] = []
        """The rows of the last sync, every column (a narrow table shows some of them)."""
        self._given: dict[str, Sequence] = {}
        """Each row's cells as given to the last sync (the very objects: see ``sync``)."""
        self._widths: dict[str, list[int]] = {}
        """Each row's shown cells' widths at the last sync, by row key, in order."""

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        self._content_widths = [max(c.width, cell_len(c.label)) for c in self._spec]
        for column, width in zip(self._spec, self._content_widths):
            self.add_column(column.label, key=column.key, width=width)
        self._fit_columns()

    def on_resize(self) -> None:
        wide = self.size.width >= WIDE_TABLE
        if wide != self._wide and any(c.wide_only for c in self._all_spec):
            self._set_wide(wide)
        self._fit_columns()
        if self.row_count:
            self.call_after_refresh(self._scroll_cursor_into_view, animate=False)

    def _set_wide(self, wide: bool) -> None:
        """Show (wide) or leave out the ``wide_only`` columns: the columns are laid out again, rows and cursor kept."""
        self._wide = wide
        self._shown = [i for i, c in enumerate(self._all_spec) if wide or not c.wide_only]
        self._spec = tuple(self._all_spec[i] for i in self._shown)
        selected = self.selected_key
        self.clear(columns=True)
        self._given, self._widths = {}, {}
        self._add_columns()
        if self._rows:
            self.sync(self._rows)
            if selected is not None and selected in self.rows:
                self.move_cursor(row=self.get_row_index(selected), animate=False)

    @property
    def shown_columns(self) -> tuple[Column, ...]:
        """The columns on screen now (all of them, or without the ``wide_only`` ones on a narrow table)."""
        return self._spec

    def plain_rows(self) -> list[list[str]]:
        """The rows on screen, in order, as plain text (for an export)."""
        return [[getattr(cell, "plain", str(cell)) for cell in self.get_row(row.key)] for row in self.ordered_rows]

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def sync(self, rows: Sequence[Row]) -> bool:
        """Make the table show ``rows`` (in that order) with as few changes as possible; True if any.

        A row whose cells are the very tuple given for its key at the last sync (a builder that caches the
        cells of an unchanged record, as the Queue's does) is known unchanged: it is neither copied, compared
        nor measured again, so a refresh that changes nothing costs a pass over the keys."""
        selected = self.selected_key
        self._rows = list(rows)
        previous, self._given = self._given, {}
        widths: dict[str, list[int]] = {}
        changed_rows: list[tuple[str, tuple]] = []
        for key, cells in rows:
            self._given[key] = cells
            if previous.get(key) is cells and key in self._widths and key in self.rows:
                widths[key] = self._widths[key]
                continue
            shown = tuple(_literal(cells[i]) for i in self._shown)
            widths[key] = [_cell_width(cell) for cell in shown]
            changed_rows.append((key, shown))
        self._widths = widths
        self._content_widths = self._measure(widths.values())
        changed = self._fit_columns()
        for row_key in list(self.rows):
            if row_key.value not in widths:
                self.remove_row(row_key)
                changed = True
        column_keys = list(self.columns)
        for key, cells in changed_rows:
            if key not in self.rows:
                self.add_row(*cells, key=key)
                changed = True
                continue
            for column, old, new in zip(column_keys, self.get_row(key), cells):
                if old != new:
                    self.update_cell(key, column, new)
                    changed = True
        self._put_in_order(list(widths))
        if selected in widths:
            index = self.get_row_index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False, scroll=False)
        return changed

    def _put_in_order(self, order: list[str]) -> None:
        """Sort the rows into ``order`` (row keys). DataTable sorts by cell values, not by row key, so the
        first column's cells, each its own object, stand for their rows."""
        if [row.key.value for row in self.ordered_rows] == order:
            return
        first = next(iter(self.columns))
        position = {id(self.get_cell(key, first)): index for index, key in enumerate(order)}
        self.sort(first, key=lambda cell: position[id(cell)])

    def _measure(self, row_widths: Iterable[Sequence[int]]) -> list[int]:
        """Each column's width for rows whose cells are ``row_widths`` wide: its widest cell, never under the
        column's floor or heading (the fill column: its floor; it takes what the others leave)."""
        widths = [max(c.width, cell_len(c.label)) for c in self._spec]
        for index, column_widths in enumerate(zip(*row_widths)):
            if not self._spec[index].fill:
                widths[index] = max(widths[index], *column_widths)
        return widths

    def _fit_columns(self) -> bool:
        """Give the columns their measured widths, and the fill column what the table's width leaves."""
        widths = list(self._content_widths)
        padding = 2 * self.cell_padding
        for index, column in enumerate(self._spec):
            if column.fill:
                others = sum(w + padding for i, w in enumerate(widths) if i != index)
                widths[index] = max(column.width, self.scrollable_content_region.width - others - padding)
        changed = False
        for column, width in zip(self.ordered_columns, widths):
            if column.width != width:
                column.width = width
                changed = True
        if changed:
            # DataTable caches rendered cells under an update counter, not their width (Textual 8.2):
            # move the counter on, and have the scrollable size measured again.
            self._update_count += 1
            self._require_update_dimensions = True
            self.refresh()
        return changed


def _literal(cell: object) -> object:
    """A cell as the table stores it: strings as literal Text, Text copied (each cell its own object)."""
    if isinstance(cell, str):
        return Text(printable(cell))
    if isinstance(cell, Text):
        if has_control_characters(cell.plain):  # imported text with terminal escape codes
            return Text(printable(cell.plain), style=cell.style, justify=cell.justify)
        return cell.copy()
    return cell


def _cell_width(cell: object) -> int:
    if isinstance(cell, Text):
        return max((cell_len(line) for line in cell.plain.splitlines()), default=0)
    return cell_len(str(cell))


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

    WIDE, NARROW = 25, 14
    """Its width (with padding) showing ``Sun 29 Nov 11:21:39 EST``, and on a narrow screen ``11:21:39 EST``."""

    def __init__(self, clock: Clock, zone: tzinfo, **kwargs) -> None:
        super().__init__(**kwargs)
        self._clock = clock
        self._zone = zone
        self.narrow = False

    def on_mount(self) -> None:
        self.set_interval(1, self.refresh, name="clinic clock")

    def set_narrow(self, narrow: bool) -> None:
        """Show the time of day only (a narrow screen), or the date too."""
        self.narrow = narrow
        self.styles.width = self.NARROW if narrow else self.WIDE
        self.refresh()

    def render(self) -> Text:
        fmt = "%H:%M:%S %Z" if self.narrow else "%a %d %b %H:%M:%S %Z"
        return Text(self._clock.now().astimezone(self._zone).strftime(fmt))


class ClinicHeader(Header):
    """Textual's Header (icon, title, sub-title) with the clinic's clock in place of the wall clock."""

    DEFAULT_CSS = """
    ClinicHeader HeaderClockSpace { display: none; }
    """

    def __init__(self, clock: Clock, zone: tzinfo, **kwargs) -> None:
        super().__init__(show_clock=False, **kwargs)
        self._clock = clock
        self._zone = zone

    NARROW_BELOW = 100
    """Columns under which the clock shows the time of day only."""
    ICON_WIDTH = 8

    status: tuple[str, ...] = ()
    """The status line (``app.sub_title``) from the fullest to the shortest way of saying it: the header shows
    the clinic's name and the fullest that fit its width, else the fullest that fits alone (never cut in the
    middle of who is signed in, as Textual's ellipsis would)."""

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield ClinicClock(self._clock, self._zone)

    def show_status(self, variants: Sequence[str]) -> None:
        """Set the status line's ways of saying it (fullest first); call before setting ``app.sub_title``.
        The same ways again change nothing (no new title, no layout pass)."""
        if tuple(variants) == self.status:
            return
        self.status = tuple(variants)
        self._retitle()

    def on_resize(self) -> None:
        self.query_one(ClinicClock).set_narrow(self.size.width < self.NARROW_BELOW)
        self._retitle()

    def _retitle(self) -> None:
        try:
            self.query_one("HeaderTitle", Static).update(self.format_title())
        except Exception:  # noqa: BLE001 - not composed yet, or the app is closing: the next change retitles it
            pass

    def format_title(self) -> Content:
        """The clinic's name and the status line, as much of it as fits (see ``status``)."""
        title, sub = self.screen_title, self.screen_sub_title
        if not self.status or sub not in self.status:
            return super().format_title()
        clock = self.query_one(ClinicClock)
        room = self.size.width - self.ICON_WIDTH - (clock.NARROW if clock.narrow else clock.WIDE)
        for variant in self.status:
            if cell_len(title) + 3 + cell_len(variant) <= room:
                return self.app.format_title(title, variant)
        return Content(next((v for v in self.status if cell_len(v) <= room), self.status[-1])).stylize("dim")
