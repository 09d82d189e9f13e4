"""The Validation tab: each job's validation status (valid, failing, stale) with its reasons.

Kept in its own module so the tab list in ``tables.py`` changes by one line. The tab's ``s`` key runs the
self-test (``Console.selftest``) in a thread worker and shows the latest one under the table. Rows come from
``Snapshot.validation`` (``engine.validation.JobValidation``): job, status, critical-path ticks that
succeeded in time out of those checked, evidence records intact out of the finished runs, last run,
when the status was evaluated, and the reasons (plain words, never patient data).
"""

from __future__ import annotations

from datetime import tzinfo
from functools import partial

from rich.text import Text
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Static

from medjobs_tui.console import Snapshot
from medjobs_tui.tui import formatting as fmt

COLUMNS = (
    ("job", "job", 12, False, ""),
    ("status", "status", 8, False, "valid; failing: a critical tick missed, failed or late, a critical run dead, "
                                   "another job's latest run dead, or evidence broken; stale: no run within two "
                                   "schedule periods"),
    ("ticks", "ticks ok", 8, False, "critical-path ticks of the last 24 h that succeeded within the timeout, "
                                    "of those checked (- when the job is not on the critical path)"),
    ("evidence", "evidence ok", 8, False, "finished runs whose evidence record matches its hash and the chain"),
    ("last", "last run", 11, False, "when the latest run finished"),
    ("checked", "checked", 11, False, "when the status was evaluated"),
    ("reasons", "reasons", 20, True, "why the job is not valid"),
)
"""(key, heading, width, fill, help) of each column."""

EMPTY = "No jobs configured."


def rows(snap: Snapshot, zone: tzinfo) -> list:
    """One row per configured job, in config order."""
    return [(v.job_name, (
        v.job_name, fmt.status(v.status),
        f"{v.ticks_ok}/{v.ticks_checked}" if v.critical_path else fmt.MISSING,
        f"{v.evidence_ok}/{v.runs_checked}" if v.evidence_required else fmt.MISSING,
        fmt.local_time(v.last_run_at, zone), fmt.local_time(v.timestamp, zone),
        fmt.long_text("; ".join(v.reasons) or None),
    )) for v in snap.validation]


# ------------------------------------------------------------------------------------ the self-test key

SELFTEST_ID = "selftest-summary"
"""The line under the Validation table that shows the latest self-test (or that one is running)."""

NO_SELFTEST = "No self-test recorded yet: s runs one on a scratch copy of the clinic (a few seconds)."
RUNNING = "Self-test running on a scratch copy of the clinic… (the dashboard stays usable)"


class SelfTestDone(Message):
    """The self-test a worker ran finished: ``result`` (console.selftest.SelfTestResult), or ``error`` (words)."""

    def __init__(self, result=None, error: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error


def summary(result, zone: tzinfo) -> Text:
    """The self-test line: verdict, when, how long, checks passed, the three verdicts, the failed checks."""
    if result is None:
        return Text(NO_SELFTEST)
    mark = lambda ok: ("✓" if ok else "✗")  # noqa: E731
    head = Text.assemble(
        (f"Self-test {result.id} ", "bold"),
        ("PASSED" if result.passed else "FAILED", "bold green" if result.passed else "bold red"),
        f" {fmt.local_time(result.finished_at, zone)} ({result.duration_s:.1f} s): "
        f"{len(result.checks) - len(result.failed)}/{len(result.checks)} checks · tests passing {mark(result.passed)}"
        f" · performance {mark(result.performance_ok)} · security {mark(result.security_ok)}")
    if result.failed:
        head.append("\nfailed: " + "; ".join(f"{c.name}: {c.detail}" for c in result.failed[:3]), style="red")
    return head


def start_selftest(app) -> None:
    """Run the self-test for the app's signed-in user in a thread worker (never on the event loop: it takes
    seconds); the line under the table says it is running, ``SelfTestDone`` brings the result back."""
    if getattr(app, "selftest_running", False):
        app.toast("The self-test is already running", severity="warning")
        return
    if app.actor is None or app.locked:
        return
    app.selftest_running = True
    _show(app, Text(RUNNING, style="italic"))
    app.run_worker(partial(_selftest_thread, app, app.actor), thread=True, group="selftest", name="self-test",
                   exit_on_error=False)


def _selftest_thread(app, actor) -> None:
    """Thread worker: the console runs and records the self-test; its own store connections, not the refresh lock."""
    from medjobs_tui.console import ConsoleError
    from medjobs_tui.tui import commands

    try:
        message = SelfTestDone(result=app.operations.selftest(actor))
    except ConsoleError as exc:   # PermissionDenied among them
        message = SelfTestDone(error=str(exc))
    except Exception as exc:  # noqa: BLE001 - shown, not raised
        message = SelfTestDone(error=commands.describe(exc))
    try:
        app.post_message(message)
    except RuntimeError:  # the app closed meanwhile
        pass


def selftest_done(app, message: SelfTestDone) -> None:
    """On the event loop: show the result under the table and in a toast."""
    app.selftest_running = False
    if message.error is not None:
        _show(app, Text(message.error, style="red"))
        app.toast(message.error, title="Self-test", severity="error")
        return
    r = message.result
    _show(app, summary(r, app.zone))
    app.toast(f"Self-test {r.id} {'passed' if r.passed else 'FAILED'}: "
              f"{len(r.checks) - len(r.failed)}/{len(r.checks)} checks", title="Self-test",
              severity="information" if r.passed else "error")
    app.refresh_now()


def paint_summary(app, snap: Snapshot) -> None:
    """Show the snapshot's latest self-test under the table (unless one is running now)."""
    if "validation" in snap.views and not getattr(app, "selftest_running", False):
        _show(app, summary(snap.selftest, app.zone))


def _show(app, text: Text) -> None:
    try:
        app.query_one(f"#{SELFTEST_ID}", Static).update(text)
    except NoMatches:  # the app is closing
        pass
