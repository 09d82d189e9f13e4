"""Delivery of the outbox: every notification to the in-app inbox, and to the apprise channels of its audience.

``deliver_due(db, settings, clock)`` is one delivery pass (the runner calls it from its delivery loop,
``engine/delivery.py``; ``medjobs run --once`` calls it once after the jobs):

1. **Plan.** Each pending notification without delivery rows gets one row per channel: ``inbox`` (the
   Notifications tab; delivered as soon as it is planned) and each configured channel whose ``audience``
   lists the notification's audience (pending, due at the notification's ``due_at``); for a patient
   with a preferred channel (``medjobs patient prefs --channel``) only that one (``inbox``: none outgoing). A notification already
   ``stale_after`` seconds past its due time is recorded ``expired`` instead: a reminder hours late does more
   harm than good. Channels added to config later do not apply to notifications already planned.
2. **Resolve sends cut short.** A row left ``sending`` by a deliverer that is gone (same host and its
   process no longer exists, or its claim older than ``claim_timeout``) may or may not have reached the
   receiver: see "At most once" below.
3. **Send.** One row at a time: claim it (``sending``, attempts + 1, the deliverer's id; committed), send it,
   then record the outcome in a transaction fenced by the claim (``claimed_by`` and ``attempts`` must still
   match, so a deliverer that was taken for dead cannot overwrite what another one decided). A failed send is
   retried after ``delay * 2**(n-1)`` seconds (capped at ``max_delay``) until ``max_attempts`` sends, then it
   ends ``failed`` with a masked reason: the channel's name, its URL scheme and a category such as
   ``connection failed`` (never the URL, which may hold a secret, never apprise's own text, which may quote an
   address, never patient data). A notification whose order was stopped, became one not to give (doNotPerform,
   a non-order intent) or whose patient died since it was queued is not sent: ``expired``, with that reason.

At most once, and what the idempotency key does
-----------------------------------------------
The claim is committed before the send and the outcome after it, so a crash (SIGKILL, power loss) between
the two leaves the row ``sending``: the store cannot know whether the receiver got the message. MedJobs
never guesses "not sent": by default (``on_interrupted: skip``) such a row is recorded ``unconfirmed`` and
never sent again. Each row is therefore sent at most once; a crash costs at most the one message that was in
flight, which the Notifications tab and ``medjobs notifications`` show as ``unconfirmed`` for staff to check.
For a dose reminder this is the safe side: a duplicate reminder invites a double dose.

Every message carries the notification's idempotency key as the header ``X-MedJobs-Idempotency-Key``
(``sha256(key)``, first 32 hex digits: the same for every send of that notification, opaque to the
receiver) wherever the channel has headers (e-mail, JSON/XML/form webhooks; SMS and most chat services have
none). A channel configured ``on_interrupted: resend`` sends an interrupted row again, with the same header:
its receiver (a Sieve ``duplicate`` rule, a procmail ``formail -D`` cache, the clinic's relay) drops a key it
has already seen, so the message is delivered once even though it may cross the wire twice. Config refuses
``resend`` for channels that cannot carry the header. Apprise sets its own random ``Message-ID`` (a header
given to it would be sent twice), so the key travels in its own header, not in ``Message-ID``.

Apprise's own log lines never reach MedJobs' logs (``config.quiet_apprise``); they are captured per send
only to pick the masked category.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable

import apprise

from medjobs_tui.clock import Clock, iso, parse_iso
from medjobs_tui.config import ChannelConfig, DeliveryRetry, Settings, channel_plugin, quiet_apprise
from medjobs_tui.store import outbox as store_outbox
from medjobs_tui.store import preferences as store_prefs

if TYPE_CHECKING:  # the store's connection type; only store/ talks to SQLite
    import sqlite_utils

log = logging.getLogger(__name__)

INBOX = "inbox"
"""The built-in in-app channel: the dashboard's Notifications tab. Every notification is delivered to it."""
KEY_HEADER = "X-MedJobs-Idempotency-Key"
"""The header carrying ``idempotency_token(key)`` on channels that have headers."""


@dataclass(frozen=True)
class OutgoingMessage:
    """What one channel is given: a title and body from the fixed templates (pseudonyms, order numbers,
    clock times and counts only), and the headers that identify it."""

    notification_id: int
    kind: str
    audience: str
    title: str
    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send: ``ok``, else a masked ``reason`` category (no URL, no patient data)."""

    ok: bool
    reason: str | None = None


Sender = Callable[[str, ChannelConfig, OutgoingMessage], SendResult]
"""``send(channel_name, channel, message)``: deliver ``message`` through one channel. Must not raise."""


@dataclass
class DeliveryReport:
    """Counts of one delivery pass (deliveries, not notifications)."""

    planned: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    expired: int = 0
    unconfirmed: int = 0
    resent: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def worked(self) -> bool:
        """True when the pass changed anything."""
        return any((self.planned, self.sent, self.retrying, self.failed, self.expired, self.unconfirmed,
                    self.resent))


def idempotency_token(key: str) -> str:
    """The header value of idempotency ``key``: the first 32 hex digits of its SHA-256 (opaque, stable)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def deliverer_id() -> str:
    """A new deliverer id ``host:pid:random``, the shape of a runner id (so a runner passes its own)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def retry_delay(retry: DeliveryRetry, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed send: ``delay * 2**(attempts-1)``, at most ``max_delay``."""
    return min(retry.delay * 2 ** max(attempts - 1, 0), retry.max_delay)


# ------------------------------------------------------------------------------------------------ sending

_CATEGORIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"auth|login|credential|\b535\b|\b401\b|\b403\b", re.I), "authentication refused"),
    (re.compile(r"timed? ?out|timeout", re.I), "timed out"),
    (re.compile(r"connect|refused|unreachable|resolve|name or service|errno|socket", re.I), "connection failed"),
    (re.compile(r"\b[45]\d\d\b|response|status", re.I), "refused by the service"),
)


def classify(log_text: str) -> str:
    """A masked category for a failed send from apprise's captured log text (the text itself is dropped)."""
    for pattern, category in _CATEGORIES:
        if pattern.search(log_text):
            return category
    return "not accepted by the channel"


def apprise_send(name: str, channel: ChannelConfig, message: OutgoingMessage) -> SendResult:
    """Send ``message`` through ``channel`` with apprise (a fresh plugin object per send, so headers never
    leak from one message to the next). Never raises; a failure's reason is a category, never apprise's text."""
    quiet_apprise()
    plugin = channel_plugin(channel.resolved_url())
    if plugin is None:
        return SendResult(False, "channel URL not understood")
    if isinstance(getattr(plugin, "headers", None), dict):
        plugin.headers.update(message.headers)
    with apprise.LogCapture(level=logging.DEBUG) as captured:
        try:
            ok = bool(plugin.notify(body=message.body, title=message.title))
        except Exception as exc:  # noqa: BLE001 - a plugin bug is a failed send, not a dead deliverer
            return SendResult(False, f"error {type(exc).__name__}")
        text = captured.getvalue()
    return SendResult(True) if ok else SendResult(False, classify(text))


def outgoing(row: dict, settings: Settings) -> OutgoingMessage:
    """The message of delivery ``row`` (a ``store.outbox`` delivery joined with its notification)."""
    headers = {KEY_HEADER: idempotency_token(row["idempotency_key"]), "X-MedJobs-Kind": row["kind"]}
    if row.get("patient"):
        headers["X-MedJobs-Patient"] = row["patient"]  # the pseudonym, for a relay that routes by it
    title = f"{settings.clinic.name}: {row['kind'].replace('_', ' ')}"
    return OutgoingMessage(notification_id=row["notification_id"], kind=row["kind"], audience=row["audience"],
                           title=title, body=row["message"], headers=headers)


def _masked(name: str, channel: ChannelConfig | None, category: str) -> str:
    scheme = channel.scheme if channel is not None else "?"
    return f"{name} ({scheme}): {category}"


# ------------------------------------------------------------------------------------------------ the pass

def plan(db: sqlite_utils.Database, settings: Settings, now: datetime, limit: int = 500) -> int:
    """Give each unplanned pending notification its delivery rows (inbox, then its audience's channels).
    Returns how many delivery rows were created."""
    conf = settings.notifications
    stale_before = now - timedelta(seconds=conf.stale_after)
    created = 0
    unplanned = store_outbox.unplanned(db, limit)
    preferred = store_prefs.channels_of_patients(
        db, {n["patient_id"] for n in unplanned if n["audience"] == "patient" and n["patient_id"] is not None})
    for n in unplanned:
        due = parse_iso(n["due_at"]) or parse_iso(n["created_at"])
        rows = [{"channel": INBOX, "status": "sent", "next_attempt_at": iso(now), "sent_at": iso(now)}]
        channels = conf.channels_for(n["audience"])
        choice = preferred.get(n["patient_id"]) if n["audience"] == "patient" else None
        if choice == INBOX:
            channels = []  # the patient chose the in-app inbox only
        elif choice in channels:
            channels = [choice]  # the patient's preferred channel (clinical.preferences); else the default
        for name in channels:
            if due < stale_before:
                rows.append({"channel": name, "status": "expired", "next_attempt_at": iso(due),
                             "error": _masked(name, conf.channels[name], "expired: due more than "
                                              f"{conf.stale_after:g} s before it could be sent")})
            else:
                rows.append({"channel": name, "status": "pending", "next_attempt_at": iso(due)})
        created += store_outbox.plan_deliveries(db, n["id"], rows, iso(now))
    return created


def claimer_is_gone(claimed_by: str | None, claimed_at: datetime | None, now: datetime,
                    claim_timeout: float) -> bool:
    """True when the deliverer holding a claim is gone: its id names this host and a process that no longer
    exists, or the claim is older than ``claim_timeout`` seconds."""
    if claimed_at is None or claimed_at < now - timedelta(seconds=claim_timeout):
        return True
    host, _, rest = (claimed_by or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def resolve_interrupted(db: sqlite_utils.Database, settings: Settings, now: datetime, deliverer: str,
                        report: DeliveryReport | None = None, unrecorded: dict[int, dict] | None = None
                        ) -> DeliveryReport:
    """Resolve deliveries left ``sending`` by a deliverer that is gone (see the module's "At most once"):
    ``unconfirmed`` (never re-sent), or pending again now for a channel configured ``on_interrupted: resend``
    (the same idempotency-key header lets its receiver drop the repeat).

    A deliverer runs one pass at a time, so at the start of a pass its own claims are cut short too, except
    those in ``unrecorded`` (outcome known, recording it failed): those are recorded, not guessed at.
    """
    report = report or DeliveryReport()
    conf = settings.notifications
    for row in store_outbox.in_flight(db):
        if row["claimed_by"] == deliverer:
            if row["id"] in (unrecorded or {}):
                continue
        elif not claimer_is_gone(row["claimed_by"], parse_iso(row["claimed_at"]), now, conf.claim_timeout):
            continue
        channel = conf.channels.get(row["channel"])
        resend = channel is not None and channel.on_interrupted == "resend" and row["attempts"] < conf.retry.max_attempts
        if resend:
            done = store_outbox.finish_delivery(
                db, row["id"], claimed_by=row["claimed_by"], attempts=row["attempts"], status="pending",
                now=iso(now), next_attempt_at=iso(now),
                error=_masked(row["channel"], channel, "interrupted; sent again under the same idempotency key"))
            report.resent += done
        else:
            done = store_outbox.finish_delivery(
                db, row["id"], claimed_by=row["claimed_by"], attempts=row["attempts"], status="unconfirmed",
                now=iso(now), error=_masked(row["channel"], channel, "interrupted between send and record; "
                                            "not sent again (at most once)"))
            report.unconfirmed += done
        if done:
            log.warning("delivery %s on channel %s was cut short by a deliverer that is gone: %s", row["id"],
                        row["channel"], "sent again under its idempotency key" if resend else "unconfirmed")
    return report


def deliver_due(db: sqlite_utils.Database, settings: Settings, clock: Clock, *, deliverer: str | None = None,
                send: Sender = apprise_send, limit: int = 100, should_stop: Callable[[], bool] | None = None,
                unrecorded: dict[int, dict] | None = None) -> DeliveryReport:
    """One delivery pass: plan new notifications, resolve interrupted sends, then send up to ``limit`` due
    deliveries one by one (claim, send, record). Instants come from ``clock`` (aware UTC).

    ``deliverer`` is the id recorded on claims (default: a new ``host:pid:random``; the runner passes its
    own); ``send`` delivers through one channel (default: apprise); ``should_stop`` is asked between sends.
    ``unrecorded`` (kept by the caller across passes) holds outcomes known but not yet recorded: when
    recording a send's outcome fails (a store locked past its busy timeout), the outcome waits there and is
    recorded first thing next pass, so a message that went out is recorded ``sent``, never sent twice and
    never taken for cut short. Returns the pass's counts. Store errors propagate to the caller, which
    tries again later.
    """
    deliverer = deliverer or deliverer_id()
    report = DeliveryReport()
    if unrecorded:
        for delivery_id, outcome in list(unrecorded.items()):
            store_outbox.finish_delivery(db, delivery_id, **outcome)
            del unrecorded[delivery_id]
            report.sent += outcome["status"] == "sent"
    now = clock.now()
    report.planned = plan(db, settings, now)
    resolve_interrupted(db, settings, now, deliverer, report, unrecorded)
    for _ in range(limit):
        if should_stop is not None and should_stop():
            break
        now = clock.now()
        row = store_outbox.claim_delivery(db, deliverer=deliverer, now=iso(now))
        if row is None:
            break
        _send_claimed(db, settings, clock, row, deliverer, send, report, unrecorded)
    return report


def _send_claimed(db: sqlite_utils.Database, settings: Settings, clock: Clock, row: dict, deliverer: str,
                  send: Sender, report: DeliveryReport, unrecorded: dict[int, dict] | None) -> None:
    conf = settings.notifications

    def record(**outcome) -> None:
        outcome.update(fence)
        try:
            store_outbox.finish_delivery(db, row["id"], **outcome)
        except Exception:
            if unrecorded is not None:
                unrecorded[row["id"]] = outcome   # recorded first thing next pass
            raise

    name, attempts = row["channel"], row["attempts"]
    channel = conf.channels.get(name)
    fence = {"claimed_by": deliverer, "attempts": attempts}
    due = parse_iso(row["due_at"]) or parse_iso(row["created_at"])
    now = clock.now()
    if channel is None:
        reason = _masked(name, None, "channel no longer configured")
        record(status="failed", now=iso(now), error=reason)
        report.failed += 1
        report.reasons.append(reason)
        return
    if due < now - timedelta(seconds=conf.stale_after):
        reason = _masked(name, channel, f"expired: not sent within {conf.stale_after:g} s of its due time")
        record(status="expired", now=iso(now), error=reason)
        report.expired += 1
        return
    if row.get("order_withdrawn"):
        reason = _masked(name, channel, "expired: its order was stopped or is not to be given since it was queued")
        record(status="expired", now=iso(now), error=reason)
        report.expired += 1
        return
    try:
        result = send(name, channel, outgoing(row, settings))
    except Exception as exc:  # noqa: BLE001 - a sender must not raise; if it does, the send failed
        result = SendResult(False, f"error {type(exc).__name__}")
    now = clock.now()
    if result.ok:
        record(status="sent", now=iso(now))
        report.sent += 1
        return
    category = result.reason or "not accepted by the channel"
    if attempts < conf.retry.max_attempts:
        retry_at = now + timedelta(seconds=retry_delay(conf.retry, attempts))
        reason = _masked(name, channel, f"{category}; attempt {attempts} of {conf.retry.max_attempts}, "
                                        f"next at {iso(retry_at)}")
        record(status="pending", now=iso(now), error=reason, next_attempt_at=iso(retry_at))
        report.retrying += 1
    else:
        reason = _masked(name, channel, f"{category}; gave up after {attempts} attempt(s)")
        record(status="failed", now=iso(now), error=reason)
        report.failed += 1
    report.reasons.append(reason)
    log.warning("delivery %s: %s", row["id"], reason)
