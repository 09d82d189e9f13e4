"""Handlers for engine tests, run in real worker processes through ProcessExecutor overrides."""

import time
from pathlib import Path


def ok(ctx):
    return {"job": ctx.job_name, "attempt": ctx.attempt}


def fail(ctx):
    raise RuntimeError("Jane Doe's chart is broken")  # text that must never reach the screen


def hang(ctx):
    time.sleep(60)
    return {"never": True}


def fail_until_third(ctx):
    if ctx.attempt < 3:
        raise RuntimeError("transient")
    return {"attempt": ctx.attempt}


def record_order(ctx):
    """Append this job's name to order.txt beside the clinic's config (the claim order)."""
    with (Path(ctx.settings.base_dir) / "order.txt").open("a") as fh:
        fh.write(ctx.job_name + "\n")
    return {"ok": 1}


def pid(ctx):
    """This worker's process id (the pool's workers are long-lived)."""
    import os

    return {"pid": os.getpid()}


def hang_after_pid(ctx):
    """Write this worker's pid to hung.pid, then hang."""
    import os

    _announce(Path(ctx.settings.base_dir) / "hung.pid", str(os.getpid()))
    time.sleep(60)
    return {"never": True}


def kill_self(ctx):
    """A poison input: the worker dies from SIGKILL (as the OOM killer does) on every attempt."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def _wait_for(path: Path, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def _announce(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary name, then rename): a test polling for the file
    must never read it created but still empty (seen under load as int('') in the SIGKILL test)."""
    import os

    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def gated(ctx):
    """Wait until the test creates ``gate`` beside the config, then succeed."""
    _wait_for(Path(ctx.settings.base_dir) / "gate")
    return {"attempt": ctx.attempt}


def gated_effect(ctx):
    """Announce the attempt (``started-<n>`` holding this worker's pid), wait for ``gate`` (or 1.5 s when
    ``effect_delay`` exists), then commit an effect of this attempt: an outbox row keyed by the attempt and
    an ``effect-<n>`` file renamed into place inside the fenced transaction."""
    import os

    from medjobs_tui.notify import outbox

    base = Path(ctx.settings.base_dir)
    _announce(base / f"started-{ctx.attempt}", str(os.getpid()))
    if (base / "effect_delay").exists():
        time.sleep(1.5)
    else:
        _wait_for(base / "gate")
    tmp = base / f".effect-{ctx.attempt}.tmp"
    tmp.write_text("effect")
    with ctx.transaction() as db:
        outbox.queue(db, kind="job_failed", key=f"effect:{ctx.run_id}:attempt{ctx.attempt}", now=ctx.now,
                     params={"job": ctx.job_name, "run_id": ctx.run_id}, run_id=ctx.run_id)
        os.replace(tmp, base / f"effect-{ctx.attempt}")
    return {"attempt": ctx.attempt}


def bad_data(ctx):
    from medjobs_tui.jobs import PermanentError

    raise PermanentError("Jane Doe's record cannot be read")   # no retry can cure it; text never shown


def busy_timeout(ctx):
    """The busy timeout (ms) of this worker's store connection."""
    return {"busy_timeout_ms": ctx.db.execute("PRAGMA busy_timeout").fetchone()[0]}


def marked(ctx):
    """What ``mark-<run id>`` beside the config says: ``hang`` (sleep a minute), ``kill`` (die from SIGKILL, as
    the OOM killer does) or ``fail``; unmarked runs succeed. Returns this worker's pid and the run id."""
    import os
    import signal

    mark = Path(ctx.settings.base_dir) / f"mark-{ctx.run_id}"
    what = mark.read_text() if mark.exists() else ""
    if what == "hang":
        time.sleep(60)
    elif what == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif what == "fail":
        raise RuntimeError("Jane Doe's chart is broken")  # text that must never reach the screen
    return {"pid": os.getpid(), "run": ctx.run_id}
