"""Handlers for the claim-batch review tests (tests/engine/test_batch_review.py), run in real worker processes.

``marked``: what ``mark-<run id>`` beside the config says, ``;``-separated steps done in order:
``ignore_alarm`` (SIGALRM ignored), ``block_alarm`` (SIGALRM blocked), ``alarm0`` (``signal.alarm(0)``, as a
library's own timeout helper does when it finishes), ``sleep:<s>``, ``hang`` (a minute), ``gate`` (wait for the
file ``gate``), ``permanent`` (PermanentError), ``fail``. Each attempt appends its run id to ``order.txt``."""

import os
import signal
import time
from pathlib import Path


def marked(ctx):
    base = Path(ctx.settings.base_dir)
    with (base / "order.txt").open("a") as fh:
        fh.write(f"{ctx.run_id}\n")
    mark = base / f"mark-{ctx.run_id}"
    steps = mark.read_text().split(";") if mark.exists() else []
    for step in steps:
        if step == "ignore_alarm":
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
        elif step == "block_alarm":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        elif step == "alarm0":
            signal.alarm(0)
        elif step.startswith("sleep:"):
            time.sleep(float(step.split(":", 1)[1]))
        elif step == "hang":
            time.sleep(60)
        elif step == "gate":
            deadline = time.monotonic() + 30
            while not (base / "gate").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        elif step == "permanent":
            from medjobs_tui.jobs import PermanentError

            raise PermanentError("Jane Doe's record cannot be read")
        elif step == "fail":
            raise RuntimeError("Jane Doe's chart is broken")
    return {"pid": os.getpid(), "run": ctx.run_id}
