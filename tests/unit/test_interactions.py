"""Interaction knowledge base (clinical/interactions.py + data/interactions.yaml) against the ONC reference list."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text, normalise_ingredient
from medjobs_tui.clinical.interactions import (
    SEVERITIES,
    KnowledgeBaseError,
    find_interactions,
    load_knowledge_base,
    parse_knowledge_base,
)

from tests.conftest import SHARED_DATA as SHARED  # noqa: E402
ONC = SHARED / "reference" / "onc_high_priority_ddi_phansalkar2012.csv"

# Rows of the reference list deliberately not matched, with the reason (asserted below to stay honest):
EXCLUDED_PAIRS = {
    "21": "QT-prolonging agents: Table 2 names the class but lists no member drugs (empty object and precipitant)",
}


def test_knowledge_base_holds_the_fifteen_onc_pairs_all_contraindicated():
    kb = load_knowledge_base()
    assert len(kb.rules) == 15
    assert len({r.id for r in kb.rules}) == 15
    assert {r.severity for r in kb.rules} == {"contraindicated"}
    assert all("Phansalkar" in r.source and "Table 2" in r.source for r in kb.rules)


def test_knowledge_base_ingredient_names_are_normalised():
    for rule in load_knowledge_base().rules:
        for name in rule.object_members | rule.precipitant_members:
            assert name == normalise_ingredient(name) == name.lower()


@pytest.mark.shared_data
def test_every_onc_reference_row_matches_a_rule_in_both_directions():
    if not ONC.exists():
        pytest.skip(f"needs ../shared/data ({ONC} is absent)")
    with ONC.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 401
    checked, excluded, missing = 0, set(), []
    for row in rows:
        obj, pre = row["object_drug"].strip(), row["precipitant_drug"].strip()
        if not obj or not pre:
            excluded.add(row["table2_pair_no"])
            continue
        o, p = normalise_ingredient(obj), normalise_ingredient(pre)
        for orders in ({1: [o], 2: [p]}, {1: [p], 2: [o]}):
            hits = find_interactions(orders)
            if not any(h.object_drug == o and h.precipitant_drug == p for h in hits):
                missing.append((row["table2_pair_no"], obj, pre))
        checked += 1
    assert not missing, f"reference rows with no matching rule: {missing[:10]}"
    assert checked == 400
    assert excluded == set(EXCLUDED_PAIRS)


def test_matching_is_by_ingredient_not_product_name():
    orders = {
        10: ingredients_from_rxnorm_text("Simvastatin 20 MG Oral Tablet"),
        11: ingredients_from_rxnorm_text("clarithromycin 500 MG Oral Tablet"),
        12: ingredients_from_rxnorm_text("lisinopril 10 MG Oral Tablet"),
    }
    hits = find_interactions(orders)
    assert [(h.rule_id, h.object_drug, h.precipitant_drug, h.object_order, h.precipitant_order) for h in hits] == [
        ("ONC-25", "simvastatin", "clarithromycin", 10, 11)]


def test_salt_forms_match_their_base_ingredient():
    hits = find_interactions({1: ["Sertraline Hydrochloride"], 2: ["Phenelzine Sulfate"]})
    assert [(h.rule_id, h.object_drug, h.precipitant_drug) for h in hits] == [("ONC-08", "sertraline", "phenelzine")]


def test_order_of_prescription_does_not_matter():
    a = find_interactions({1: ["tizanidine"], 2: ["ciprofloxacin"]})
    b = find_interactions({1: ["ciprofloxacin"], 2: ["tizanidine"]})
    expected = [("ONC-28", "tizanidine")]
    assert [(h.rule_id, h.object_drug) for h in a] == [(h.rule_id, h.object_drug) for h in b] == expected


def test_ingredients_within_one_combination_order_are_not_paired():
    assert find_interactions({1: ["simvastatin", "clarithromycin"]}) == []


def test_unrelated_drugs_do_not_interact():
    assert find_interactions({1: ["lisinopril"], 2: ["metformin"], 3: ["amlodipine"]}) == []


def test_results_are_sorted_most_severe_first():
    text = yaml.safe_dump({"rules": [
        {"id": "T-MINOR", "name": "minor one", "severity": "minor", "effect": "e", "source": "s",
         "object": {"class": "a", "members": ["drug a"]}, "precipitant": {"class": "b", "members": ["drug b"]}},
        {"id": "T-MAJOR", "name": "major one", "severity": "major", "effect": "e", "source": "s",
         "object": {"class": "c", "members": ["drug c"]}, "precipitant": {"class": "b", "members": ["drug b"]}},
    ]})
    kb = parse_knowledge_base(text, "test.yaml")
    hits = find_interactions({1: ["drug a"], 2: ["drug b"], 3: ["drug c"]}, kb)
    assert [h.severity for h in hits] == ["major", "minor"]
    assert SEVERITIES == ("contraindicated", "major", "moderate", "minor")


def test_malformed_rule_is_rejected_with_its_id():
    text = yaml.safe_dump({"rules": [{"id": "BAD-1", "name": "x", "severity": "severe", "effect": "e",
                                      "source": "s", "object": {"class": "a", "members": ["a"]},
                                      "precipitant": {"class": "b", "members": ["b"]}}]})
    with pytest.raises(KnowledgeBaseError, match="BAD-1.*severity"):
        parse_knowledge_base(text, "clinic.yaml")


@pytest.mark.parametrize("salt, other, rule_words", [
    ("lisdexamfetamine dimesylate 30 MG Oral Capsule", "Phenelzine Sulfate 15 MG Oral Tablet", "contraindicated"),
    ("Erythromycin Ethylsuccinate 400 MG Oral Tablet", "Simvastatin 40 MG Oral Tablet", "contraindicated"),
])
def test_a_salt_named_product_meets_its_contraindicated_onc_pair(salt, other, rule_words):
    """Found by a clinical reviewer: ONC pairs 3 (amphetamines + MAOIs) and 25 (simvastatin + CYP3A4 inhibitors)
    were missed when RxNorm named the drug by its salt."""
    found = find_interactions({1: ingredients_from_rxnorm_text(salt), 2: ingredients_from_rxnorm_text(other)})
    assert [f.severity for f in found] == [rule_words]
