"""``medjobs signoff list|sign|revoke``: the sign-off checklists from the shell (the dashboard's Sign-off tab).

Registered from ``cli.py``; it uses its context (``Ctx``: who signs in, where the password comes from) and
printers, imported when a command runs. Signing asks for the password again. Without a live
``medjobs login`` session the signing is a one-off: the user name of ``--user`` and the password given for
this command are its two components. In a login session the first signing also takes the user name
(``--name``, or asked), later ones the password only (21 CFR 11.200(a)(1)).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from medjobs_tui.config import MEANINGS

if TYPE_CHECKING:
    from medjobs_tui.cli import Ctx
    from medjobs_tui.console.signoff import Signature

FORMATS = ("table", "csv", "json")


@click.group("signoff")
def signoff_group() -> None:
    """Sign-off checklists (Technical Review, Compliance Review, Final Approval) with electronic signatures."""


@signoff_group.command("list")
@click.option("--history", is_flag=True, help="every signature and revocation, oldest first, instead of the items")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; csv or json for scripts")
@click.pass_obj
def signoff_list(obj: Ctx, history: bool, fmt: str) -> None:
    """Each item: who must sign it, its status (signed, stale, unsigned, revoked, altered), the signature
    (printed name, meaning, UTC and clinic time) and what it is bound to (admin, reviewer, auditor)."""
    from medjobs_tui import cli

    console, actor = obj.console()
    state = console.signoff_items(actor)
    zone = obj.settings.zone
    if history:
        sigs = sorted((s for i in state.items for s in i.history), key=lambda s: s.id)
        cli._emit(fmt, ("id", "item", "kind", "revokes", "printed name", "user", "review role", "meaning", "UTC",
                        "clinic time", "components", "baseline", "record", "comment"), (
            (s.id, s.item, s.kind, s.revokes or "-", s.printed_name, s.username, s.review_role, s.meaning,
             _utc(s), _clinic(s, zone), s.components, s.baseline.short() + (" (stale)" if s.stale else ""),
             "intact" if s.intact else "ALTERED", s.comment or "") for s in sigs), "no signatures yet")
    elif fmt != "table":
        rows = []
        for c in state.checklists:
            for i in c.items:
                s = i.signature
                rows.append((c.title, i.id, i.title, i.review_role, i.status,
                             s.printed_name if s else "-", s.meaning if s else "-", _utc(s) if s else "-",
                             _clinic(s, zone) if s else "-", s.baseline.short() if s else "-", i.note or "-"))
        cli._emit(fmt, ("checklist", "item", "title", "signed by role", "status", "signed by", "meaning", "UTC",
                        "clinic time", "baseline", "note"), rows, "no checklists configured")
    else:
        _print_items(state, zone)
    if fmt == "table":
        cli.out.print(f"current baseline: {state.baseline.short()}", markup=False)
        for problem in state.problems:
            cli.err.print(f"medjobs: WARNING: {problem}", markup=False)


def _print_items(state, zone) -> None:
    """The items for people: one table per checklist, the item id whole (it is what `sign` takes); the
    signature's UTC time and baseline are in ``--history`` and ``--format json``."""
    from rich.table import Table

    from medjobs_tui import cli

    for c in state.checklists:
        table = Table(title=f"{c.title}: {c.signed_count} of {len(c.items)} signed"
                      + ("; complete" if c.complete else ""), title_justify="left")
        table.add_column("item", no_wrap=True)
        for name in ("title", "signed by role", "status", "signed by", "meaning", "clinic time", "note"):
            table.add_column(name)
        for i in c.items:
            s = i.signature
            table.add_row(*(cli._cell(v) for v in (
                i.id, i.title, i.review_role, i.status, s.printed_name if s else "-", s.meaning if s else "-",
                _clinic(s, zone) if s else "-", i.note or "")))
        cli.out.print(table)


def _credentials(obj: Ctx, console, actor, name: str | None) -> tuple[str | None, str]:
    """(user name or None, password) for a signing: see the module's docstring."""
    from medjobs_tui import cli

    session = obj.session_token
    username = name
    if console.signing_needs_name(actor, session):
        if username is None and session is None:
            username = obj.user                     # typed for this command with its password: both components
        if username is None and sys.stdin.isatty():
            username = click.prompt("user name (first signature component)", err=True)
    elif name is not None:
        cli.err.print("medjobs: this session has signed before: the password alone signs; --name is not needed",
                      markup=False)
    return username, obj.password(f"password of {actor.username} (signature)")


@signoff_group.command("sign")
@click.argument("item")
@click.option("--meaning", type=click.Choice(MEANINGS), required=True,
              help="what the signature means: reviewed, approved or responsible (21 CFR 11.50)")
@click.option("--comment", help="a comment kept with the signature (never logged); required while a job fails validation: why the item holds all the same")
@click.option("--name", "name", help="your user name, the first signature component (asked when needed)")
@click.pass_obj
def signoff_sign(obj: Ctx, item: str, meaning: str, comment: str | None, name: str | None) -> None:
    """Sign ITEM (``checklist.item``, see `medjobs signoff list`) with your password again (reviewers of the
    item's review role). Final Approval opens once both reviews are complete."""
    from medjobs_tui import cli

    console, actor = obj.console()
    console.authorise(actor, "signoff.sign", f"signoff:{item}")
    username, password = _credentials(obj, console, actor, name)
    sig = console.sign_item(actor, item, meaning, password, username=username, comment=comment,
                            session=obj.session_token)
    cli.out.print(f"signed {item}: {sig.manifest(obj.settings.zone)}\n  bound to {sig.baseline.short()}",
                  markup=False)


@signoff_group.command("revoke")
@click.argument("item")
@click.option("--reason", required=True, help="why the signature is revoked (kept with the revocation)")
@click.option("--name", "name", help="your user name, the first signature component (asked when needed)")
@click.pass_obj
def signoff_revoke(obj: Ctx, item: str, reason: str, name: str | None) -> None:
    """Revoke the signature of ITEM: a new signed entry (password again); the signature stays on record."""
    from medjobs_tui import cli

    console, actor = obj.console()
    console.authorise(actor, "signoff.revoke", f"signoff:{item}")
    username, password = _credentials(obj, console, actor, name)
    sig = console.revoke_item(actor, item, reason, password, username=username, session=obj.session_token)
    cli.out.print(f"revoked signature {sig.revokes} of {item}: {sig.manifest(obj.settings.zone)}", markup=False)


def _utc(s: Signature) -> str:
    return s.signed_at.strftime("%Y-%m-%d %H:%M:%SZ")


def _clinic(s: Signature, zone) -> str:
    return s.signed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
