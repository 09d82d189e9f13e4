"""Recovery of dead runners' runs: a runner whose process is gone is dead at once; otherwise its lease decides.

A runner's id names its host and process (``host:pid:random``). A runner on this host whose process no
longer exists is dead now, not after its lease: its runs return to the queue within one recovery pass
(every RECOVERY_EVERY_S). A runner elsewhere, or one whose process still exists but has gone silent,
is dead once its heartbeat is older than LEASE_SECONDS: with a heartbeat every HEARTBEAT_SECONDS and a
pass every RECOVERY_EVERY_S, a silent runner's runs return within LEASE_SECONDS + RECOVERY_EVERY_S
(12 s). Rows of dead runners are removed. A recovered attempt is closed as ``interrupted`` and re-queued
at once without spending a retry, its evidence rewritten in the same transaction.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from medjobs_tui.clock import iso
from medjobs_tui.config import Settings
from medjobs_tui.engine import outcomes
from medjobs_tui.store import transaction
from medjobs_tui.store import runs as store_runs

LEASE_SECONDS = 10
"""A runner that has not renewed its heartbeat for this long is taken for dead; its runs are recovered."""
HEARTBEAT_SECONDS = 2.0
"""How often (real seconds) a live runner renews its heartbeat."""
RECOVERY_EVERY_S = 2.0
"""How often (real seconds) a running runner looks for runs of runners that died."""
INTERRUPTED = "runner stopped during the attempt"


def new_runner_id() -> str:
    """``host:pid:random`` for a runner starting in this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def process_gone(runner_id: str) -> bool:
    """True when ``runner_id`` names a process on this host that no longer exists. A runner of another
    host, or an id in another form, is never taken for gone here: its lease decides."""
    host, _, rest = runner_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_dead_runners(db, own_id: str, now: datetime) -> list[str]:
    """Delete the rows of runners whose process is gone or whose lease expired (never ``own_id``); return them."""
    expired = iso(now - timedelta(seconds=LEASE_SECONDS))
    gone = [r["id"] for r in store_runs.runners(db)
            if r["id"] != own_id and (process_gone(r["id"]) or r["heartbeat_at"] < expired)]
    for runner_id in gone:
        store_runs.unregister_runner(db, runner_id)
    return gone


def recover(db, settings: Settings, own_id: str, now: datetime, in_flight: set[int] = frozenset()) -> list[int]:
    """Close the attempts of runs held by dead runners as ``interrupted`` and re-queue them now; return
    their ids. Runs in ``in_flight`` (this runner's own attempts) and runs of live runners are left alone."""
    remove_dead_runners(db, own_id, now)
    expired = now - timedelta(seconds=LEASE_SECONDS)
    ids = []
    for run in store_runs.orphaned_runs(db, lease_expired_before=expired):
        if run["id"] in in_flight:
            continue
        with transaction(db):
            if store_runs.interrupt_if_orphaned(db, run["id"], expired, now, INTERRUPTED):
                outcomes.write_evidence(db, settings, run["id"])
                ids.append(run["id"])
    return ids
