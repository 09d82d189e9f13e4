"""Sign-off: the checklists of VALIDATION.md section 6 signed with electronic signatures (21 CFR Part 11).

Mixed into ``Console``. The checklists and the review role that signs each item come from config.yaml
(``signoff``; ``config.DEFAULT_CHECKLISTS`` when absent). A signature is an append-only row
(``store.signoff``) holding the signer's user id and printed name, the UTC instant, the meaning
(reviewed, approved, responsible) and an optional comment, bound to the validation baseline of the moment
(SHA-256 of the validated configuration: ``validated_config_sha256``; MedJobs' version; the evidence chain's
head; the audit chain's head) and
MAC'd under the audit key (``security.signatures``). Revoking is a new signed row naming the signature it
revokes; nothing is ever edited. Every signature and every refusal is an audit entry (the comment never is).

Rules:
- Only a reviewer whose review role (as the store has it now) is the item's signs or revokes it.
- Signing asks for the password again. The first signing of a signing session takes both components, user
  name and password; later ones in the same session the password only (21 CFR 11.200(a)(1)(i)); without a
  session (a one-off command) every signing takes both (11.200(a)(1)(ii)). A wrong password counts toward
  the sign-in lockout.
- A checklist with ``requires`` (Final Approval) opens only when those checklists are complete: every item
  signed, not stale, not revoked, its record intact.
- A signature whose baseline's configuration hash differs from the current validated configuration is ``stale``:
  it stays on record and shows "stale: configuration changed since signed", and counts as not signed.
Sources: 21 CFR 11.50 (signature manifestations), 11.70 (signature/record linking), 11.100, 11.200.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medjobs_tui import __version__
from medjobs_tui.clock import iso, parse_iso
from medjobs_tui.config import MEANINGS
from medjobs_tui.console.accounts import SignInFailed
from medjobs_tui.console.errors import ConsoleError
from medjobs_tui.console.models import Actor
from medjobs_tui.security import audit, auth
from medjobs_tui.security.masking import has_control_characters
from medjobs_tui.security.signatures import mac_fits, signature_mac
from medjobs_tui.store import transaction
from medjobs_tui.store import signoff as store_signoff
from medjobs_tui.store import users as store_users

if TYPE_CHECKING:
    from medjobs_tui.config import Settings

STALE_NOTE = "stale: configuration changed since signed"
"""What a signature whose configuration hash is no longer the current one shows."""

TWO_COMPONENTS = "user name + password"
PASSWORD_ONLY = "password"

MAX_COMMENT = 500
"""Longest comment (or revocation reason), in characters."""

MEANING_WORDS = {
    "reviewed": "I have reviewed this item and found it met",
    "approved": "I approve this item",
    "responsible": "I take responsibility for this item",
    "revoked": "I revoke my earlier signature of this item",
}
"""The meaning of each signature in words (21 CFR 11.50(a)(3)), as the signing dialog states it."""

DOCUMENTATION_ITEM = "documentation_complete"
"""The item key whose signature ticks the report's "Updates documentation" box."""


class SignoffRefused(ConsoleError):
    """A signing or revocation refused for a reason other than the actor's role or credentials (the item's
    review role, a checklist not yet open, nothing to revoke...); audited as denied."""


def validated_config_sha256(settings: Settings) -> str:
    """SHA-256 (hex) of the validated configuration: what decides how MedJobs behaves, as validated, in
    canonical JSON (sorted keys). It covers every job; the clinic's time zone, administration and event times
    and clinical thresholds (they decide dose instants and alerts); the runner and its queues; security
    (idle timeout, password hashing); alerts; and notification delivery (timings, and each channel's
    audiences, scheme and options, never its URL, which may hold a secret). Comments, key order, the clinic's
    display name, file paths and the sign-off checklists themselves do not change it.

    A signature is bound to this hash (21 CFR 11.70: signatures linked to their records) and a self-test
    counts for the configuration it ran against: a change to any of these settings makes both stale."""
    notifications = settings.notifications
    doc = {
        "jobs": {name: job.model_dump(mode="json") for name, job in settings.jobs.items()},
        "clinic": settings.clinic.model_dump(mode="json", exclude={"name"}),
        "runner": settings.runner.model_dump(mode="json"),
        "security": settings.security.model_dump(mode="json", exclude={"key_file"}),
        "alerts": settings.alerts.model_dump(mode="json"),
        "notifications": {
            **notifications.model_dump(mode="json", exclude={"channels"}),
            "channels": {name: {**ch.model_dump(mode="json", exclude={"url", "url_env"}), "scheme": ch.scheme}
                         for name, ch in notifications.channels.items()},
        },
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def session_hash(session: str | None) -> str | None:
    """What the store keeps of a signing session key (its SHA-256, domain-separated), or None."""
    if not session:
        return None
    return hashlib.sha256(f"medjobs signing session:{session}".encode()).hexdigest()


@dataclass(frozen=True)
class Baseline:
    """What a signature is bound to: the validated configuration's SHA-256, MedJobs' version, the evidence chain's
    head (``seq:sha256`` of its last link, None when empty) and the audit chain's head (id and MAC)."""

    config_sha256: str
    app_version: str
    evidence_head: str | None
    audit_head_id: int
    audit_head_mac: str

    def short(self) -> str:
        """One line: ``config 3f9a1c2b… · v0.1.0 · evidence 42:9c1d… · audit 118:77ab…``."""
        ev = self.evidence_head
        evidence = f"{ev.split(':')[0]}:{ev.split(':')[1][:8]}…" if ev else "none"
        return (f"config {self.config_sha256[:12]}… · v{self.app_version} · evidence {evidence} · "
                f"audit {self.audit_head_id}:{self.audit_head_mac[:8]}…")


@dataclass(frozen=True)
class Signature:
    """One signature row: a signing (``kind`` sign) or a revocation (``kind`` revoke, ``revokes`` its id).

    ``signed_at`` is aware UTC. ``intact`` is False when its MAC no longer fits (the row was altered outside
    MedJobs); ``stale`` when its configuration hash is not the current one; ``revoked_by`` the id of the
    revocation of a signing (None while it is in force)."""

    id: int
    item: str
    kind: str
    revokes: int | None
    username: str
    printed_name: str
    review_role: str
    meaning: str
    comment: str | None
    signed_at: datetime
    components: str
    baseline: Baseline
    intact: bool
    stale: bool
    revoked_by: int | None = None

    def manifest(self, zone) -> str:
        """The signature as 21 CFR 11.50 has it shown: printed name, UTC and clinic-local time, meaning."""
        local = self.signed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        return (f"{self.printed_name} ({self.username}, {self.review_role}) · {self.meaning} · "
                f"{self.signed_at.strftime('%Y-%m-%d %H:%M:%S')} UTC ({local})")


@dataclass(frozen=True)
class ItemState:
    """One checklist item now: ``status`` signed | stale | unsigned | revoked | altered; the signing in force
    (or the last one, stale or revoked) as ``signature``; every row of the item oldest first as ``history``;
    ``locked`` says why it may not be signed yet (a required checklist not complete), else None."""

    id: str
    checklist: str
    checklist_title: str
    title: str
    review_role: str
    default_meaning: str
    status: str
    signature: Signature | None
    history: tuple[Signature, ...]
    locked: str | None

    @property
    def signed(self) -> bool:
        """True only for a signature in force, intact and not stale: what counts for completeness."""
        return self.status == "signed"

    @property
    def note(self) -> str:
        """Why the item is not signed, in a few words (empty when it is)."""
        sig = self.signature
        if self.status == "stale":
            return STALE_NOTE
        if self.status == "altered":
            return "ALTERED: a signature record of this item no longer matches its MAC"
        if self.status == "revoked" and sig is not None:
            revocation = next((h for h in self.history if h.id == sig.revoked_by), None)
            who = revocation.printed_name if revocation else "?"
            return f"revoked by {who}" + (f": {revocation.comment}" if revocation and revocation.comment else "")
        if self.locked and not self.signed:
            return self.locked
        return ""


@dataclass(frozen=True)
class ChecklistState:
    """One checklist now: its items, and ``complete`` when every item is signed and every checklist it
    requires is complete."""

    key: str
    title: str
    requires: tuple[str, ...]
    items: tuple[ItemState, ...]
    complete: bool

    @property
    def signed_count(self) -> int:
        """How many of its items are signed (in force, intact, not stale)."""
        return sum(i.signed for i in self.items)


@dataclass(frozen=True)
class SignoffState:
    """Every checklist now, the current baseline, and problems of the signature records as a whole
    (an id missing from the sequence: a row removed outside MedJobs)."""

    checklists: tuple[ChecklistState, ...]
    baseline: Baseline
    problems: tuple[str, ...] = ()

    def item(self, item_id: str) -> ItemState | None:
        """The state of ``checklist.item``, or None."""
        return next((i for c in self.checklists for i in c.items if i.id == item_id), None)

    @property
    def items(self) -> list[ItemState]:
        """Every item, in config order."""
        return [i for c in self.checklists for i in c.items]


class SignoffMixin:
    """Sign-off operations; needs ``settings``, ``clock``, ``db``, ``keys``, ``authorise``, ``hash_params``."""

    settings: Settings

    # ------------------------------------------------------------------ reading

    def signing_baseline(self) -> Baseline:
        """The validation baseline now (what a signature made now would be bound to)."""
        link = store_signoff.last_evidence_link(self.db)
        head = audit.head(self.db)
        return Baseline(validated_config_sha256(self.settings), __version__,
                        f"{link[0]}:{link[1]}" if link else None, int(head["id"]), str(head["mac"]))

    def signoff_state(self) -> SignoffState:
        """Every checklist and item now (no role check: the report and the operations below use it)."""
        baseline = self.signing_baseline()
        rows = store_signoff.all_signatures(self.db)
        revoked_by = {r["revokes"]: r["id"] for r in rows if r["kind"] == "revoke" and r["revokes"]}
        sigs = [self._signature(r, baseline, revoked_by.get(r["id"])) for r in rows]
        problems = []
        ids = [r["id"] for r in rows]
        if ids != list(range(1, len(ids) + 1)):
            missing = sorted(set(range(1, (max(ids) if ids else 0) + 1)) - set(ids))
            problems.append(f"signature record(s) {', '.join(map(str, missing[:5]))} missing: removed outside MedJobs")
        by_item: dict[str, list[Signature]] = {}
        for s in sigs:
            by_item.setdefault(s.item, []).append(s)
        complete: dict[str, bool] = {}
        checklists = []
        for name, checklist in self.settings.signoff.checklists.items():
            waiting = [n for n in checklist.requires if not complete.get(n)]
            locked = None
            if waiting:
                titles = [self.settings.signoff.checklists[n].title for n in waiting]
                locked = f"opens when {' and '.join(titles)} {'is' if len(titles) == 1 else 'are'} complete"
            items = []
            for key, item in checklist.items.items():
                item_id = f"{name}.{key}"
                history = tuple(by_item.get(item_id, []))
                items.append(ItemState(item_id, name, checklist.title, item.title, item.review_role, checklist.meaning,
                                       *_status(history), history, locked))
            complete[name] = not waiting and all(i.signed for i in items)
            checklists.append(ChecklistState(name, checklist.title, tuple(checklist.requires), tuple(items),
                                             complete[name]))
        return SignoffState(tuple(checklists), baseline, tuple(problems))

    def _signature(self, r: dict[str, Any], baseline: Baseline, revoked_by: int | None) -> Signature:
        return Signature(
            id=r["id"], item=r["item"], kind=r["kind"], revokes=r["revokes"], username=r["username"],
            printed_name=r["printed_name"], review_role=r["review_role"], meaning=r["meaning"], comment=r["comment"],
            signed_at=parse_iso(r["signed_at"]), components=r["components"],
            baseline=Baseline(r["config_sha256"], r["app_version"], r["evidence_head"], r["audit_head_id"],
                              r["audit_head_mac"]),
            intact=mac_fits(self.keys.audit, r), stale=r["config_sha256"] != baseline.config_sha256,
            revoked_by=revoked_by)

    def signoff_items(self, actor: Actor) -> SignoffState:
        """The sign-off checklists for ``actor`` (``signoff.read``: admin, reviewer, auditor). Reads are not
        audited (the dashboard refreshes them); signing and revoking are."""
        self.authorise(actor, "signoff.read", "signoff")
        return self.signoff_state()

    def printed_name(self, actor: Actor) -> str:
        """The name ``actor``'s signatures print (their full name, else their user name)."""
        user = store_users.get(self.db, actor.username)
        return (user.get("full_name") if user else None) or actor.username

    def signing_needs_name(self, actor: Actor, session: str | None) -> bool:
        """True when ``actor``'s next signing takes both components (no session, or none signed in it yet)."""
        hashed = session_hash(session)
        return hashed is None or not store_signoff.signed_in_session(self.db, actor.username, hashed)

    # ------------------------------------------------------------------ signing

    def sign_item(self, actor: Actor, item_id: str, meaning: str, password: str, *, username: str | None = None,
                  comment: str | None = None, session: str | None = None) -> Signature:
        """Sign ``item_id`` (``checklist.item``) with ``meaning`` (reviewed | approved | responsible) and an
        optional ``comment``; the password again, and ``username`` too at the first signing of ``session``
        (an opaque key of the caller's continuous session; None: a one-off signing, both components).

        While any job fails validation (``medjobs validation``) a signing needs a comment saying why the item
        holds all the same: a deviation is documented, never signed over in silence (the audit entry names the
        failing jobs, ``over_failing``).

        Returns the signature. Raises PermissionDenied (not a reviewer), SignoffRefused (unknown item or
        meaning, another review role, checklist not open, already signed, jobs failing validation and no
        comment), SignInFailed (user name or password wrong, or missing). Every outcome is audited
        (``signoff.sign``)."""
        if meaning not in MEANINGS:
            self.authorise(actor, "signoff.sign", f"signoff:{item_id}")
            self._refuse(actor, "signoff.sign", item_id, "unknown meaning",
                         f"meaning must be one of {', '.join(MEANINGS)}, not {meaning!r}")
        return self._sign(actor, "signoff.sign", item_id, "sign", meaning, password, username, comment, session)

    def revoke_item(self, actor: Actor, item_id: str, reason: str, password: str, *, username: str | None = None,
                    session: str | None = None) -> Signature:
        """Revoke the signature in force (or stale) of ``item_id``: a new signed row (meaning ``revoked``,
        ``reason`` as its comment) naming it; the old row stays. Same credentials and review-role rules as
        ``sign_item``; audited (``signoff.revoke``). Raises as ``sign_item``, and SignoffRefused when there is
        nothing to revoke or no reason is given."""
        if not (reason or "").strip():
            self.authorise(actor, "signoff.revoke", f"signoff:{item_id}")
            self._refuse(actor, "signoff.revoke", item_id, "no reason", "say why the signature is revoked (--reason)")
        return self._sign(actor, "signoff.revoke", item_id, "revoke", "revoked", password, username, reason, session)

    def _refuse(self, actor: Actor, action: str, item_id: str, reason: str, message: str,
                error: type[ConsoleError] = SignoffRefused) -> None:
        self._audit_denied(actor, action, f"signoff:{item_id}", reason)
        raise error(message)

    def _sign(self, actor: Actor, action: str, item_id: str, kind: str, meaning: str, password: str,
              username: str | None, comment: str | None, session: str | None) -> Signature:
        self.authorise(actor, action, f"signoff:{item_id}")
        refuse = lambda reason, message, error=SignoffRefused: self._refuse(  # noqa: E731
            actor, action, item_id, reason, message, error)
        found = self.settings.signoff.item(item_id)
        if found is None:
            refuse("unknown item", f"no sign-off item {item_id!r}; items: {', '.join(self.settings.signoff.item_ids())}")
        _, checklist, _, item = found
        comment = (comment or "").strip() or None
        if comment is not None and (len(comment) > MAX_COMMENT or has_control_characters(comment)):
            refuse("bad comment", f"a comment is at most {MAX_COMMENT} characters of plain text")
        user = store_users.get(self.db, actor.username)
        holds = user["review_role"] if user else None
        refusal = signer_refusal(checklist.title, item.title, item.review_role, actor.username,
                                 user["role"] if user else None, holds)
        if refusal is not None:
            refuse("review role", refusal)
        state = self.signoff_state().item(item_id)
        if kind == "sign":
            if state.locked:
                refuse("checklist not open", f"{checklist.title} {state.locked}; {item.title} cannot be signed yet")
            if state.status == "signed":
                sig = state.signature
                refuse("already signed", f"{item.title} is already signed by {sig.printed_name} "
                                         f"({iso(sig.signed_at)}); revoke that signature first to sign again")
        elif state.status not in ("signed", "stale") or state.signature is None:
            refuse("nothing to revoke", f"{item.title} has no signature in force to revoke ({state.status})")
        failing = [v for v in self.validation() if v.status == "failing"] if kind == "sign" else []
        if failing and comment is None:
            refuse("validation failing", over_failing_message(failing))
        hashed = session_hash(session)
        two = hashed is None or not store_signoff.signed_in_session(self.db, actor.username, hashed)
        if two:
            if not (username or "").strip():
                refuse("user name missing", "the first signing of a session takes both components: your user name "
                                            "and your password (21 CFR 11.200(a)(1))", SignInFailed)
            if username.strip() != actor.username:
                refuse("user name does not match", auth.BAD_CREDENTIALS, SignInFailed)
        try:
            auth.authenticate(self.db, actor.username, password, self.clock.now(), self.hash_params,
                              audit_key=self.keys.audit, action="signoff.credentials")
        except auth.SignInError as exc:
            refuse("credentials", str(exc), SignInFailed)
        now = self.clock.now()
        with transaction(self.db):
            baseline = self.signing_baseline()
            row = {
                "id": store_signoff.next_id(self.db), "item": item_id, "kind": kind,
                "revokes": state.signature.id if kind == "revoke" else None, "user_id": user["id"],
                "username": actor.username, "printed_name": user.get("full_name") or actor.username,
                "review_role": holds, "meaning": meaning, "comment": comment, "signed_at": iso(now),
                "components": TWO_COMPONENTS if two else PASSWORD_ONLY, "session_hash": hashed,
                "config_sha256": baseline.config_sha256, "app_version": baseline.app_version,
                "evidence_head": baseline.evidence_head, "audit_head_id": baseline.audit_head_id,
                "audit_head_mac": baseline.audit_head_mac,
            }
            row["mac"] = signature_mac(self.keys.audit, row)
            store_signoff.append(self.db, row)
            audit.record(self.db, key=self.keys.audit, actor=actor.username, role=actor.role, action=action,
                         target=f"signoff:{item_id}", outcome="ok", at=now, detail={
                             "signature": row["id"], "meaning": meaning, "revokes": row["revokes"],
                             "review_role": holds, "components": row["components"], "comment": comment is not None,
                             "over_failing": [v.job_name for v in failing],
                             "config_sha256": baseline.config_sha256, "app_version": baseline.app_version,
                             "evidence_head": baseline.evidence_head, "audit_head": baseline.audit_head_id})
        return self._signature(row, baseline, None)


def may_sign(role: str | None, review_role: str | None, item_review_role: str) -> bool:
    """Whether a user of ``role`` holding ``review_role`` signs (and revokes) an item assigned to
    ``item_review_role``: a reviewer of that very review role, no one else (not an admin either).
    Source: DESIGN.md "Roles"; VALIDATION.md section 6 (each item names the review role that signs it)."""
    return role == "reviewer" and review_role is not None and review_role == item_review_role


def signer_refusal(checklist_title: str, item_title: str, item_review_role: str, username: str,
                   role: str | None, review_role: str | None) -> str | None:
    """Why ``username`` (``role``, holding ``review_role``) may not sign the item, naming who signs it; None
    when they may (``may_sign``). The console refuses a signing with this text; the dashboard says it as soon
    as `s` is pressed on such an item."""
    if may_sign(role, review_role, item_review_role):
        return None
    return (f"{checklist_title} · {item_title} is signed by the {item_review_role}; "
            f"{username} is {('the ' + review_role) if review_role else 'no review role holder'}")


def over_failing_message(failing: list) -> str:
    """Why a signing is refused while jobs fail validation (``engine.validation.JobValidation`` rows)."""
    jobs = "; ".join(f"{v.job_name}: {', '.join(v.reasons)}" for v in failing)
    return (f"{len(failing)} job(s) failing validation ({jobs}): sign only with a comment saying why the item "
            "holds all the same (a documented deviation), or mend the failure first (`medjobs validation`)")


def _status(history: tuple[Signature, ...]) -> tuple[str, Signature | None]:
    """(status, the signing shown) of an item from its rows, oldest first."""
    signings = [s for s in history if s.kind == "sign"]
    if not signings:
        return "unsigned", None
    last = signings[-1]
    if not all(s.intact for s in history):
        return "altered", last
    if last.revoked_by is not None:
        return "revoked", last
    if last.stale:
        return "stale", last
    return "signed", last
