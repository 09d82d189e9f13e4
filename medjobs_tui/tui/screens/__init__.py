"""The dashboard's screens: modal dialogs (help, detail, evidence, confirm) and the story screens of a run and a job."""

from medjobs_tui.tui.screens.dialogs import (
    WARNING_PREFIX, DetailScreen, EvidenceScreen, HelpScreen, field_table, split_warnings, yaml_text,
)

__all__ = ["WARNING_PREFIX", "DetailScreen", "EvidenceScreen", "HelpScreen", "field_table", "split_warnings",
           "yaml_text"]
