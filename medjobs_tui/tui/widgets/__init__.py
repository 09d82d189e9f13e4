"""The dashboard's own widgets: the live table, the clinic header and the overview's parts."""

from medjobs_tui.tui.widgets.live import ClinicClock, ClinicHeader, LiveTable

__all__ = ["ClinicClock", "ClinicHeader", "LiveTable"]
