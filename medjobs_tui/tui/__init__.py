"""The Textual dashboard: the only package that imports textual. It calls the console, never SQL."""

from medjobs_tui.tui.app import MedJobsApp, run_dashboard

__all__ = ["MedJobsApp", "run_dashboard"]
