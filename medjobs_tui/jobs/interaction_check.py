"""Interaction check: every pair of a patient's active orders against the interaction knowledge base.

Rules and their sources:
- Knowledge base: the ONC high-priority list (Phansalkar et al., JAMIA 2012;19:735-43, Table 2) shipped as
  ``clinical/data/interactions.yaml``; ``options.knowledge_base`` may name a clinic's licensed file in the
  same shape. Matching is by ingredient, both directions (``clinical.interactions``). Source: DOMAIN.md.
- All active orders count (scheduled, PRN and unscheduled alike: a PRN drug is still taken); orders of
  deceased patients are skipped. Ingredients come from the order's ``ingredients`` list, else from its
  RxNorm name (``clinical.ingredients``).
- A clinic's own list (``medjobs interactions import FILE``, stored in ``clinic_interactions``) is merged
  with that baseline (``clinical.interactions.merged``).
- Alert once per patient and drug pair until the medication list changes or a clinician acknowledges it:
  one ``interaction_alerts`` row per (patient, unordered drug pair, medication-list hash), where the hash
  covers the patient's active orders and their ingredients; a pair matched by several rules or several
  orders is one alert, the most severe rule's (baseline first on a tie: ``one_per_pair``). A changed list
  re-alerts and closes the alerts raised for the old list (``superseded_at``); an acknowledged alert is
  not raised again for the same list. Source: DOMAIN.md "Drug-drug interactions".
- One 'interaction_alert' staff notice per alert row (idempotency key ``interaction_alert:<alert id>``).
- A major or contraindicated interaction also keeps one ``interaction_major`` alert (``notify.alerts``) per
  patient and pair of orders open until a run no longer finds the pair on the active medication list
  (then resolved, saying so); a changed list that keeps the pair bumps its count.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text, normalise_ingredient
from medjobs_tui.clinical.interactions import (
    SEVERITIES, ClinicPair, KnowledgeBaseError, clinic_rules, find_interactions, load_knowledge_base, merged,
    one_per_pair, pair_key,
)
from medjobs_tui.clock import iso
from medjobs_tui.jobs.base import JobContext, PermanentError
from medjobs_tui.notify import outbox
from medjobs_tui.notify.alerts import Observed, reconcile
from medjobs_tui.store import clinical as store
from medjobs_tui.store import interactions as store_interactions
from medjobs_tui.store.db import transaction


def order_ingredients(order: dict[str, Any]) -> list[str]:
    """Normalised ingredients of an order: its ``ingredients`` list, else parsed from its RxNorm name."""
    names = order.get("ingredients") or ingredients_from_rxnorm_text(order.get("medication_text") or "")
    return sorted({normalise_ingredient(n) for n in names if n and n.strip()})


def med_list_hash(ingredients_by_order: dict[int, list[str]]) -> str:
    """SHA-256 (hex) of a patient's active medication list: sorted (order id, sorted ingredients) pairs."""
    canonical = json.dumps(sorted((k, sorted(v)) for k, v in ingredients_by_order.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def run(ctx: JobContext) -> dict[str, Any]:
    """Find interacting pairs among each living patient's active orders; record alerts and notify staff once.

    Summary: patients_checked, deceased_skipped (patients), orders_checked, pairs_checked (order pairs),
    interactions (drug pairs found this run, one per patient and pair), alerts_new, alerts_existing,
    alerts_superseded (open alerts closed because their patient's medication list changed), notices_queued,
    notices_already_sent, orders_without_ingredients, clinic_pairs (rules of the clinic's own list in use),
    by_severity ({contraindicated, major, moderate, minor} of interactions found).
    """
    db, now = ctx.db, ctx.now
    kb_path = ctx.option("knowledge_base", None)
    try:
        baseline = load_knowledge_base(kb_path if kb_path is None else ctx.settings.base_dir / kb_path)
    except KnowledgeBaseError as exc:     # changed since the config was checked: no retry can cure it
        raise PermanentError(str(exc)) from None
    clinic = clinic_rules(ClinicPair(**p) for p in store_interactions.clinic_pairs(db))
    kb = merged(baseline, clinic)

    by_patient: dict[int, list[dict[str, Any]]] = {}
    deceased: set[int] = set()
    for order in store.active_orders(db):
        if order["deceased"]:
            deceased.add(order["patient_id"])
            continue
        if order["schedule_status"] in ("deceased", "inactive"):
            continue
        by_patient.setdefault(order["patient_id"], []).append(order)

    summary: dict[str, Any] = dict(patients_checked=0, deceased_skipped=len(deceased), orders_checked=0,
                                   pairs_checked=0, interactions=0, alerts_new=0, alerts_existing=0,
                                   alerts_superseded=0, notices_queued=0, notices_already_sent=0,
                                   orders_without_ingredients=0, clinic_pairs=len(clinic))
    by_severity = {s: 0 for s in SEVERITIES}
    hashes: dict[int, str] = {}
    checked: list[tuple[int, str, list]] = []      # (patient id, pseudonym, interactions found)
    # looked up before the write transaction, so the dashboard sees the patients checked as they go
    for index, (patient_id, orders) in enumerate(sorted(by_patient.items()), start=1):
        ctx.progress(index, len(by_patient))
        summary["patients_checked"] += 1
        summary["orders_checked"] += len(orders)
        n = len(orders)
        summary["pairs_checked"] += n * (n - 1) // 2
        ingredients = {o["id"]: order_ingredients(o) for o in orders}
        summary["orders_without_ingredients"] += sum(1 for v in ingredients.values() if not v)
        hashes[patient_id] = med_list_hash(ingredients)
        checked.append((patient_id, orders[0]["pseudonym"], one_per_pair(find_interactions(ingredients, kb))))
    major: dict[str, Observed] = {}
    with transaction(db):
        for patient_id, pseudonym, found in checked:
            list_hash = hashes[patient_id]
            for hit in found:
                summary["interactions"] += 1
                by_severity[hit.severity] = by_severity.get(hit.severity, 0) + 1
                pair = pair_key(hit.object_drug, hit.precipitant_drug)
                alert_id = store_interactions.alert_for_pair(db, patient_id, pair, list_hash)
                if alert_id is None:
                    alert_id = store_interactions.insert_alert(
                        db, patient_id=patient_id, rule_id=hit.rule_id, drug_a=hit.object_drug,
                        drug_b=hit.precipitant_drug, pair_key=pair, severity=hit.severity, source=hit.source,
                        medication_request_ids=[hit.object_order, hit.precipitant_order], med_list_hash=list_hash,
                        run_id=ctx.run_id, created_at=iso(now))
                    summary["alerts_new"] += 1
                else:
                    summary["alerts_existing"] += 1
                queued = outbox.queue(
                    db, kind="interaction_alert", key=outbox.interaction_alert_key(alert_id), now=now,
                    params={"patient": pseudonym, "severity": hit.severity, "rule_id": hit.rule_id,
                            "rule_name": _notice_name(hit.rule_name), "object_order": hit.object_order,
                            "precipitant_order": hit.precipitant_order},
                    patient_id=patient_id, medication_request_id=hit.object_order, run_id=ctx.run_id,
                )
                summary["notices_queued" if queued else "notices_already_sent"] += 1
                if hit.severity in MAJOR:
                    a, b = sorted((hit.object_order, hit.precipitant_order))
                    major[interaction_scope(a, b, pseudonym)] = Observed(
                        summary=f"{hit.severity} interaction ({hit.rule_id}) between orders {a} and {b}",
                        ref=f"interaction alert {alert_id}", severity=MAJOR[hit.severity])
        summary["alerts_superseded"] = store_interactions.supersede_alerts(db, hashes, iso(now))
        summary["major_alerts_resolved"] = reconcile(
            db, "interaction_major", major, now, notify=False,
            reason=lambda row: f"{row['scope']}: the interacting pair is no longer on the active medication list",
        )["resolved"]
    summary["by_severity"] = by_severity
    return summary


MAJOR = {"contraindicated": "critical", "major": "high"}
"""Interaction severities that open an ``interaction_major`` alert, with the alert's severity."""


def interaction_scope(order_a: int, order_b: int, pseudonym: str) -> str:
    """The scope of a major interaction's alert: ``orders 45+46 (P-00012)`` (lower order id first)."""
    return f"orders {order_a}+{order_b} ({pseudonym})"


_NOT_NOTICE_TEXT = re.compile(r"[^\w .:+()/'-]")


def _notice_name(name: str) -> str:
    """A rule name as notification text allows it (a clinic's drug names may hold commas): other
    characters become spaces, at most 120 characters."""
    return _NOT_NOTICE_TEXT.sub(" ", name)[:120]
