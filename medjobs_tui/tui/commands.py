"""What the dashboard's keys ask of the console, and the line the user reads back.

Each command runs in a worker thread, returns the success text or raises ConsoleError (whose text is
safe to show); the app turns either into a notification.
"""

from __future__ import annotations

from pathlib import Path

from medjobs_tui.console import Actor, Console, ConsoleError


def trigger(console: Console, actor: Actor, name: str) -> str:
    """Queue a run of job ``name``."""
    return f"Queued run {console.trigger(actor, name)} of {name}"


def toggle_pause(console: Console, actor: Actor, name: str) -> str:
    """Pause job ``name``, or resume it if paused."""
    return f"{'Paused' if console.toggle_pause(actor, name) else 'Resumed'} {name}"


def retry(console: Console, actor: Actor, run_id: int) -> str:
    """Retry run ``run_id`` now: dead, or failed and waiting out its backoff (ConsoleError otherwise)."""
    console.retry(actor, run_id)
    return f"Run {run_id} queued for one more attempt"


def cancel(console: Console, actor: Actor, run_id: int) -> str:
    """Cancel queued run ``run_id`` (ConsoleError if it is not queued)."""
    console.cancel(actor, run_id)
    return f"Cancelled run {run_id}"


def dose_words(row_key: str, zone, patient_local: str | None = None) -> str:
    """The dose of a Doses-tab row key (``<order>@<UTC ISO instant>``) in words, in clinic time ``zone``:
    ``order 61, due Sun 29 Nov 22:00 EST``; with ``patient_local`` (the row's time in the patient's zone, e.g.
    ``20:00 MST``) when that differs: ``order 61, due 20:00 MST (Sun 29 Nov 22:00 EST)``."""
    from datetime import datetime

    order, _, instant = row_key.partition("@")
    clinic = f"{datetime.fromisoformat(instant).astimezone(zone):%a %d %b %H:%M %Z}"
    if patient_local and not clinic.endswith(patient_local):
        return f"order {order}, due {patient_local} ({clinic})"
    return f"order {order}, due {clinic}"


LATE_DOSE_S = 3600
"""A dose whose instant is more than this many seconds past when `d` asks to record it taken "now" gets a
warning in the question: a dose taken earlier and recorded late belongs at its real time (``--at``)."""


def dose_question(row_key: str, zone, now, patient: str, medication: str, patient_local: str | None = None) -> str:
    """The detail of the "taken now?" question for a Doses-tab row (key ``<order>@<UTC ISO instant>``) at ``now``
    (aware): the patient's pseudonym, the medication, the dose in words and, when the dose was due more than
    LATE_DOSE_S seconds before ``now``, how late it is and how to record the real time instead."""
    from datetime import datetime

    order, _, instant = row_key.partition("@")
    due = datetime.fromisoformat(instant)
    text = f"{patient}, {medication}, {dose_words(row_key, zone, patient_local)}"
    late = (now - due).total_seconds()
    if late > LATE_DOSE_S:
        hours, minutes = divmod(int(late // 60), 60)
        text += (f"\n\nDue {hours} h {minutes:02d} min ago. If it was taken earlier, record when instead: "
                 f"medjobs dose taken {order} {due.astimezone(zone).isoformat(timespec='minutes')} "
                 "--at 'YYYY-MM-DD HH:MM' (the patient's local time"
                 + (f", {patient_local.split()[-1]}" if patient_local and " " in patient_local else "") + ")")
    return text


def taken_already(console: Console, row_key: str, zone) -> str | None:
    """Why `d` need not ask about the dose of a Doses-tab row (key ``<order>@<UTC ISO instant>``): its entry in
    force is ``taken`` already, said as the console's refusal of a second one says it (by whom, when, in ``zone``,
    the patient's); None when it is not taken (any more): then `d` asks."""
    from datetime import datetime

    from medjobs_tui.clock import parse_iso

    order, _, instant = row_key.partition("@")
    history = console.dose_history(int(order), datetime.fromisoformat(instant))
    current = history[-1] if history else None
    if current is None or current["status"] != "taken":
        return None
    by = f" by {current['recorded_by']}" if current["recorded_by"] else ""
    at = parse_iso(current["recorded_at"]).astimezone(zone)
    return f"Dose of order {order} already recorded taken{by} at {at:%H:%M %Z}; nothing recorded"


def dose_taken(console: Console, actor: Actor, row_key: str) -> str:
    """Record the dose of a Doses-tab row (key ``<order>@<UTC ISO instant>``) as taken, now."""
    from datetime import datetime

    order, _, instant = row_key.partition("@")
    done = console.record_dose(actor, int(order), datetime.fromisoformat(instant), "taken")
    was = f" (was {done.previous.replace('_', ' ')})" if done.previous else ""
    return f"Dose of order {done.order_id} due {done.local_time} recorded as taken{was}"


def describe(exc: BaseException | None) -> str:
    """A short text for an unexpected error: console errors are already safe; others give only their type
    (their message may quote stored data, so it is neither shown nor logged)."""
    if isinstance(exc, ConsoleError):
        return str(exc)
    return f"{type(exc).__name__}: unexpected error"


def _bulk_text(result, verb: str) -> str:
    text = f"{len(result.done)} run{'s' if len(result.done) != 1 else ''} {verb}"
    if result.refused:
        first_id, first_reason = result.refused[0]
        text += f"; {len(result.refused)} left as they were (e.g. {first_reason})"
    return text


def retry_many(console: Console, actor: Actor, run_ids: list[int]) -> str:
    """Retry each of ``run_ids`` (each audited); say how many were queued again and why others were not."""
    return _bulk_text(console.retry_many(actor, run_ids), "queued for one more attempt")


def cancel_many(console: Console, actor: Actor, run_ids: list[int]) -> str:
    """Cancel each of ``run_ids`` (each audited); say how many were cancelled and why others were not."""
    return _bulk_text(console.cancel_many(actor, run_ids), "cancelled")


def export(console: Console, actor: Actor, view: str, columns: list[str], rows: list[list[str]], path: str, *,
           overwrite: bool = False) -> str:
    """Write the rows of ``view`` to ``path`` (CSV or JSON by its suffix); audited by the console. A file already
    there is replaced only with ``overwrite`` (the user confirmed it); otherwise ConsoleError."""
    written = console.export_table(actor, view, columns, rows, Path(path), overwrite=overwrite)
    return f"Exported {len(rows)} rows of {view} to {written}"
