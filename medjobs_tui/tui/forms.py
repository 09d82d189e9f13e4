"""Keys of a form (a screen with several fields) that keep a fast typist's burst in the right fields.

Textual routes a key to the widget that has the focus when the app takes the key from its queue. A focus
move made by the focused widget (an ``Input`` posting ``Submitted``, or a tab binding reached only after
the key bubbled up from the field) happens one message later, after the keys typed behind it were already
routed to the old field: under load, or from a password manager's auto-type, a password typed after tab or
enter landed in the visible user-name field. Priority bindings run when the key is taken from the queue,
so the focus has moved before the next key is routed.
"""

from __future__ import annotations

from typing import ClassVar

from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.widgets import Input, RadioSet

FORM_BINDINGS: list[BindingType] = [
    Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
    Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    Binding("enter", "field_entered", "Next field", show=False, priority=True),
]


class FormKeys:
    """Mixin for a ``Screen`` with several fields (put it before ``Screen`` in the bases and add
    ``FORM_BINDINGS`` to the screen's ``BINDINGS``).

    tab / shift+tab move between fields, and enter on a field whose id is in ``NEXT_ON_ENTER`` moves to the
    next field (an ``Input``) or chooses the highlighted button and moves on (a ``RadioSet``), all before the
    next key of a burst is routed. enter anywhere else goes on to the focused widget as usual (an ``Input``
    then posts ``Submitted``)."""

    NEXT_ON_ENTER: ClassVar[frozenset[str]] = frozenset()

    def action_field_entered(self) -> None:
        """enter on a field that moves on: the next field; otherwise skipped, so the key reaches the focused
        widget. Raises ``SkipAction`` (Textual's way to pass a key on)."""
        focused = self.focused  # type: ignore[attr-defined]
        if focused is None or focused.id not in self.NEXT_ON_ENTER:
            raise SkipAction()
        if isinstance(focused, RadioSet):
            focused.action_toggle_button()
        elif not isinstance(focused, Input):
            raise SkipAction()
        if self.focused is focused:  # type: ignore[attr-defined]
            self.focus_next()  # type: ignore[attr-defined]
