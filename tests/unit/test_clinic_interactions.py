"""A clinic's own interaction list (CSV) merged with the ONC baseline, and one alert per patient and pair.
Expected values written by hand from the rules in clinical/interactions.py."""

from __future__ import annotations

import pytest

from medjobs_tui.clinical.interactions import (
    ClinicPair, clinic_rules, find_interactions, load_knowledge_base, merged, one_per_pair, pair_key,
    parse_clinic_list,
)

HEADER = "drug_a,drug_b,severity,effect,source\n"


def test_a_good_list_is_read_and_normalised():
    pairs, errors = parse_clinic_list(
        HEADER + "Warfarin Sodium,Aspirin,Major,Bleeding risk,Clinic P&T 2026-03\n"
                 '"insulin, regular, human",propranolol,moderate,Masks hypoglycaemia,Licensed list v4\n')
    assert errors == []
    assert pairs == [ClinicPair("warfarin", "aspirin", "major", "Bleeding risk", "Clinic P&T 2026-03", 2),
                     ClinicPair("insulin regular human", "propranolol", "moderate", "Masks hypoglycaemia",
                                "Licensed list v4", 3)]


def test_every_bad_row_is_named_with_its_line():
    text = HEADER + "\n".join([
        "warfarin,aspirin,major,Bleeding,src",          # 2 good
        ",aspirin,major,Bleeding,src",                  # 3 empty drug_a
        "warfarin,Warfarin sodium,major,x,src",         # 4 same ingredient
        "warfarin,ibuprofen,severe,x,src",              # 5 severity not on the scale
        "warfarin,naproxen,minor,,src",                 # 6 empty effect
        "aspirin,warfarin,minor,x,src",                 # 7 same pair as line 2 (other order)
        "warfarin;drop table,naproxen,minor,x,src",     # 8 not an ingredient name
        "warfarin,naproxen,minor,x",                    # 9 source missing
    ]) + "\n"
    pairs, errors = parse_clinic_list(text)
    assert [p.line for p in pairs] == [2]
    assert errors == [
        "line 3: drug_a is empty",
        "line 4: drug_a and drug_b are the same ingredient",
        "line 5: severity must be one of contraindicated, major, moderate, minor",
        "line 6: effect is empty",
        "line 7: the same pair as line 2",
        "line 8: drug_a is not an ingredient name (letters, digits, space and - , . ' ( ) / +, up to 100 characters)",
        "line 9: source is empty",
    ]


def test_an_unclosed_quote_is_named_at_the_line_it_opens_not_read_as_the_rest_of_the_file():
    """Found by a fresh user: an unterminated quote swallowed the rows after it into one field, reported as
    "drug_b is empty; severity must be ...", which sent them looking at the wrong thing."""
    pairs, errors = parse_clinic_list(HEADER + "warfarin,aspirin,major,bleeding,ONC\n"
                                      '"simvastatin,clarithromycin,major,myopathy,ONC\nx,y,minor,e,s\n')
    assert [p.line for p in pairs] == [2]
    assert errors == ["line 3: not CSV (unexpected end of data): a quote opened on this line (or after it) is never "
                      "closed, or text follows a closing quote"]
    _, errors = parse_clinic_list(HEADER + 'warfarin,aspirin,major,"multi\nline",ONC\nsimvastatin,aspirin,bogus,e,s\n')
    assert errors[-1].startswith("line 4: severity must be")       # a record's line is where it starts


def test_a_header_without_the_columns_is_refused():
    assert parse_clinic_list("a,b,c\nx,y,z\n") == ([], [
        "line 1: the header lacks column(s) drug_a, drug_b, severity, effect, source; "
        "needed: drug_a, drug_b, severity, effect, source"])
    assert parse_clinic_list("")[1] == [
        "line 1: empty file; the header drug_a, drug_b, severity, effect, source is required"]


def test_clinic_pairs_match_in_either_order_and_merge_with_the_baseline():
    pairs, _ = parse_clinic_list(HEADER + "warfarin,aspirin,major,Bleeding,Clinic list\n")
    kb = merged(load_knowledge_base(), clinic_rules(pairs))
    assert len(kb.rules) == len(load_knowledge_base().rules) + 1
    for orders in ({1: ["aspirin"], 2: ["warfarin"]}, {1: ["warfarin"], 2: ["aspirin"]}):
        (hit,) = find_interactions(orders, kb)
        assert (hit.rule_id, hit.severity, hit.object_drug, hit.precipitant_drug) == (
            "CLINIC-1", "major", "warfarin", "aspirin")
    # the baseline still fires: simvastatin + clarithromycin (ONC pair 12)
    assert find_interactions({1: ["simvastatin"], 2: ["clarithromycin"]}, kb)[0].rule_id.startswith("ONC-")


def test_one_alert_per_pair_keeps_the_most_severe_and_prefers_the_baseline_on_a_tie():
    baseline = load_knowledge_base()
    pairs, _ = parse_clinic_list(HEADER + "simvastatin,clarithromycin,contraindicated,Myopathy,Clinic list\n"
                                          "simvastatin,itraconazole,minor,Myopathy,Clinic list\n")
    kb = merged(baseline, clinic_rules(pairs))
    orders = {1: ["simvastatin"], 2: ["clarithromycin"], 3: ["simvastatin"]}  # the statin ordered twice
    found = one_per_pair(find_interactions(orders, kb))
    assert len(found) == 1
    assert found[0].rule_id.startswith("ONC-") and (found[0].object_order, found[0].precipitant_order) == (1, 2)
    more_severe = one_per_pair(find_interactions({1: ["simvastatin"], 2: ["itraconazole"]}, kb))
    assert [h.severity for h in more_severe] == ["contraindicated"]  # the baseline's, not the clinic's minor


def test_pair_key_is_unordered():
    assert pair_key("simvastatin", "clarithromycin") == pair_key("clarithromycin", "simvastatin") == \
        "clarithromycin|simvastatin"


@pytest.mark.parametrize("row, problem", [
    ("warfarin,aspirin,major,x\x07y,src", "effect is longer than 500 characters or holds control characters"),
    ("warfarin,aspirin,major,x," + "s" * 501, "source is longer than 500 characters or holds control characters"),
])
def test_effect_and_source_are_plain_bounded_text(row, problem):
    assert parse_clinic_list(HEADER + row + "\n")[1] == [f"line 2: {problem}"]
