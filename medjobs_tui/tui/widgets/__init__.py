"""The dashboard's own widgets: the live table, the clinic header and the overview's parts."""

from medjobs_tui.tui.widgets.live import ClinicClock, ClinicHeader, LiveTable, _literal  # noqa: F401 - used by tests

__all__ = ["ClinicClock", "ClinicHeader", "LiveTable"]
