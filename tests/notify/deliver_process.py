"""The delivering process of the SMTP crash test, run as a subprocess:

    python -m tests.notify.deliver_process CONFIG NOW_ISO CRASH_AFTER

One pass of the runner's delivery loop (``engine.delivery.DeliveryLoop.run_pass``, real apprise sender) at
the fixed instant NOW_ISO. With CRASH_AFTER = k > 0 the process SIGKILLs itself on its k-th successful send,
after the SMTP server accepted the message and before ``sent`` is recorded: the crash between send and mark.
Prints the pass's counts as ``sent=N retrying=N failed=N unconfirmed=N resent=N``.
"""

from __future__ import annotations

import os
import signal
import sys

from medjobs_tui.clock import FixedClock, parse_iso
from medjobs_tui.config import load_settings
from medjobs_tui.engine.delivery import DeliveryLoop
from medjobs_tui.notify.delivery import deliverer_id
from medjobs_tui.store import outbox as store_outbox


def main(config: str, now: str, crash_after: int) -> None:
    if crash_after > 0:
        real_finish = store_outbox.finish_delivery
        marked = {"sent": 0}

        def finish_then_die(db, delivery_id, **kw):
            if kw["status"] == "sent":
                marked["sent"] += 1
                if marked["sent"] == crash_after:
                    os.kill(os.getpid(), signal.SIGKILL)   # sent, not yet marked
            return real_finish(db, delivery_id, **kw)

        store_outbox.finish_delivery = finish_then_die
    loop = DeliveryLoop(load_settings(config), FixedClock(parse_iso(now)), deliverer_id())
    report = loop.run_pass()
    loop.stop()
    print(f"sent={report.sent} retrying={report.retrying} failed={report.failed} "
          f"unconfirmed={report.unconfirmed} resent={report.resent}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
