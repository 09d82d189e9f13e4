"""What the detail dialogs say: every field of one run or notification, and the one-line header of an
evidence record, with instants in the clinic's local time. Pure functions over console rows."""

from __future__ import annotations

from datetime import tzinfo

from rich.console import RenderableType
from rich.text import Text

from medjobs_tui.console import EvidenceRow, NotificationRow, RunRow
from medjobs_tui.tui import formatting as fmt

Fields = list[tuple[str, RenderableType]]


def run_fields(run: RunRow, zone: tzinfo) -> Fields:
    """A run: where it stands (status, attempts, error) first, then its times. The error is masked text."""
    return [
        ("job", fmt.job(run.job_name, run.job_type)),
        ("status", fmt.status(run.status)),
        ("attempt", f"{run.attempt} of {run.max_attempts}"),
        ("error", Text(run.error) if run.error else Text(fmt.MISSING, style="dim")),
        ("priority", run.priority),
        ("queue", run.queue),
        ("trigger", run.trigger),
        ("scheduled", fmt.local_datetime(run.scheduled_at, zone)),
        ("available", fmt.local_datetime(run.available_at, zone)),
        ("started", fmt.local_datetime(run.started_at, zone)),
        ("finished", fmt.local_datetime(run.finished_at, zone)),
        ("duration", fmt.MISSING if run.duration_s is None else f"{run.duration_s:.2f} s"),
    ]


def notification_fields(note: NotificationRow, zone: tzinfo) -> Fields:
    """A notification in full: patients by pseudonym only, the whole message last."""
    return [
        ("time", fmt.local_datetime(note.created_at, zone)),
        ("kind", note.kind),
        ("audience", note.audience),
        ("patient", note.patient or fmt.MISSING),
        ("due", fmt.local_datetime(note.due_at, zone)),
        ("status", fmt.status(note.status)),
        ("delivery", note.delivery_summary),
        ("message", note.message),
    ]


def evidence_header(row: EvidenceRow, zone: tzinfo) -> Text:
    """``run 5 · refill_check · dead · finished 2026-11-29 08:15:00 EST · ✓ SHA-256 matches`` (or, in red,
    ``✗ INVALID: SHA-256 differs`` when the record is not the one written when the run finished)."""
    check = (Text("✓ SHA-256 matches", style="green") if row.valid
             else Text("✗ INVALID: SHA-256 differs", style="bold red"))
    return Text.assemble(
        (f"run {row.run_id}", "bold"), " · ", fmt.job(row.job_name, row.job_type), " · ", fmt.status(row.status),
        f" · finished {fmt.local_datetime(row.finished_at, zone)} · ", check,
    )


def evidence_line(story) -> Text:
    """Where the run's evidence record is and whether its SHA-256 still matches (v opens it)."""
    if story.evidence_valid is None:
        return Text("none yet (written when the run finishes)", style="dim")
    check = (Text("✓ SHA-256 matches", style="green") if story.evidence_valid
             else Text("✗ INVALID: SHA-256 differs", style="bold red"))
    return Text.assemble(story.evidence_path, " · ", check, (" · v opens it", "dim"))
