"""Ingredients from real RxNorm drug names (all taken from the Synthea and US Core test data), for interaction matching."""

from __future__ import annotations

import json

import pytest

from medjobs_tui.clinical.ingredients import (
    ingredient_table, ingredients_from_rxnorm_text, normalise_ingredient, parse_ingredient_table,
)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Simvastatin 20 MG Oral Tablet", ["simvastatin"]),                                  # RxCUI 312961
        ("lisinopril 10 MG Oral Tablet", ["lisinopril"]),                                    # 314076
        # combination products: every ingredient, in order
        ("Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet", ["amoxicillin", "clavulanate"]),  # 562251
        ("Acetaminophen 21.7 MG/ML / Dextromethorphan Hydrobromide 1 MG/ML / doxylamine succinate 0.417 MG/ML"
         " Oral Solution", ["acetaminophen", "dextromethorphan", "doxylamine"]),              # 1043400
        ("insulin isophane, human 70 UNT/ML / insulin, regular, human 30 UNT/ML Injectable Suspension [Humulin]",
         ["insulin isophane human", "insulin regular human"]),                                # 106892
        # salts and esters name the same active moiety
        ("Meperidine Hydrochloride 50 MG Oral Tablet", ["meperidine"]),                      # 861467
        ("Naproxen sodium 220 MG Oral Tablet", ["naproxen"]),                                # 849574
        ("Penicillin V Potassium 250 MG Oral Tablet", ["penicillin v"]),                     # 834061
        # ...unless the salt word is the substance
        ("ferrous sulfate 325 MG Oral Tablet", ["ferrous sulfate"]),                         # 310325
        # extended release "24 HR" prefix
        ("24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", ["metformin"]),  # 860975
        ("24 HR metoprolol succinate 100 MG Extended Release Oral Tablet", ["metoprolol"]),  # 866412
        # brand in brackets is not an ingredient
        ("Ibuprofen 400 MG Oral Tablet [Ibu]", ["ibuprofen"]),                               # 206905
        ("Acetaminophen 325 MG Oral Tablet [Tylenol]", ["acetaminophen"]),                   # 209387
        ("Nizatidine 15 MG/ML Oral Solution [Axid]", ["nizatidine"]),                        # 582620 (US Core)
        # quantity and NDA prefixes of packaged products
        ("1 ML Epoetin Alfa 4000 UNT/ML Injection [Epogen]", ["epoetin alfa"]),              # 205923
        ("NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector", ["epinephrine"]),             # 1870230
    ],
)
def test_ingredients_of_real_rxnorm_names(name, expected):
    assert ingredients_from_rxnorm_text(name) == expected


def test_no_text_no_ingredients():
    assert ingredients_from_rxnorm_text("") == []
    assert ingredients_from_rxnorm_text(None) == []  # type: ignore[arg-type]


def test_duplicates_are_dropped():
    assert ingredients_from_rxnorm_text("Metoprolol Tartrate 25 MG / metoprolol succinate 50 MG Oral Tablet") == [
        "metoprolol"]


def test_normalise_ingredient():
    assert normalise_ingredient("Metoprolol Succinate") == "metoprolol"
    assert normalise_ingredient("  Fexofenadine  hydrochloride ") == "fexofenadine"
    assert normalise_ingredient("Magnesium") == "magnesium"
    assert normalise_ingredient("ferrous sulfate") == "ferrous sulfate"


@pytest.mark.parametrize("name, expected", [      # RxNorm names a product by its salt or ester
    ("lisdexamfetamine dimesylate 30 MG Oral Capsule", ["lisdexamfetamine"]),
    ("Erythromycin Ethylsuccinate 400 MG Oral Tablet", ["erythromycin"]),
    ("erythromycin stearate 250 MG Oral Tablet", ["erythromycin"]),
    ("Testosterone Cypionate 200 MG/ML Injectable Solution", ["testosterone"]),
    ("ketorolac tromethamine 10 MG Oral Tablet", ["ketorolac"]),
    ("Trospium chloride 20 MG Oral Tablet", ["trospium"]),
    ("Sodium Chloride 9 MG/ML Injectable Solution", ["sodium chloride"]),   # a mineral salt stays whole
])
def test_salts_and_esters_name_their_moiety(name, expected):
    """Found by a clinical reviewer: two contraindicated ONC pairs were missed (lisdexamfetamine with an MAOI,
    erythromycin with simvastatin) because their salt words were not known."""
    assert ingredients_from_rxnorm_text(name) == expected


@pytest.mark.parametrize("name, expected", [
    ("Potassium Chloride 20 MEQ Extended Release Oral Tablet", ["potassium chloride"]),
    ("Calcium Carbonate 500 MG Chewable Tablet", ["calcium carbonate"]),
])
def test_mineral_salts_keep_their_cation(name, expected):
    assert ingredients_from_rxnorm_text(name) == expected


@pytest.mark.parametrize("name, expected", [
    # brand-only names from the Synthea sample (RxCUI in the comment), ingredients from their FDA labels
    ("Kyleena 19.5 MG Intrauterine System", ["levonorgestrel"]),                          # 1856546 SBD
    ("Mirena 52 MG Intrauterine System", ["levonorgestrel"]),                             # 807283 SBD
    ("Seasonique 91 Day Pack", ["levonorgestrel", "ethinyl estradiol"]),                  # 749762 BPCK
    ("Camila 28 Day Pack", ["norethindrone"]),                                            # 748962 BPCK
    ("Errin 28 Day Pack", ["norethindrone"]),                                             # 831533 BPCK
    ("Natazia 28 Day Pack", ["estradiol", "dienogest"]),                                  # 978950 BPCK
    ("NuvaRing 0.12/0.015 MG per 24HR 21 Day Vaginal System", ["etonogestrel", "ethinyl estradiol"]),  # 1367439
    ("Vitamin B12 5 MG/ML Injectable Solution", ["cyanocobalamin"]),                      # 2001499 (synonym)
    # a brand pack not in the sample, by its brand word
    ("Yaz 28 Day Pack", ["drospirenone", "ethinyl estradiol"]),
    # a marketing prefix is not an ingredient
    ("Abuse-Deterrent 12 HR Oxycodone Hydrochloride 15 MG Extended Release Oral Tablet [Xtampza]", ["oxycodone"]),
])
def test_brand_name_pack_names_its_ingredient(name, expected):
    assert ingredients_from_rxnorm_text(name) == expected


def test_the_rxcui_finds_a_pack_whatever_its_display():
    assert ingredients_from_rxnorm_text("oral contraceptive", "749762") == ["levonorgestrel", "ethinyl estradiol"]
    assert ingredients_from_rxnorm_text("Simvastatin 20 MG Oral Tablet", "312961") == ["simvastatin"]  # not in table


def test_every_table_row_names_its_source_and_reads_its_example():
    table = ingredient_table()
    assert len(table.rows) >= 14
    for row in table.rows:
        assert row.source and row.tty in ("SBD", "BPCK", "SY")
        assert ingredients_from_rxnorm_text(row.example) == list(row.ingredients), row.name
        if row.rxcui:
            assert ingredients_from_rxnorm_text("", row.rxcui) == list(row.ingredients)


def test_a_broken_table_is_refused_with_its_row():
    with pytest.raises(ValueError, match="data row 1: needs a name"):
        parse_ingredient_table("name,ingredients,tty,rxcui,example,source\nfoo,,SBD,,Foo,x\n")
    with pytest.raises(ValueError, match="data row 2: 'foo' is listed twice"):
        parse_ingredient_table("name,ingredients,tty,rxcui,example,source\nfoo,a,SBD,,Foo,x\nfoo,b,SBD,,Foo,x\n")


@pytest.mark.shared_data
def test_no_synthea_product_keeps_a_brand_word_as_its_ingredient():
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "synthea-10" / "MedicationRequest.000.ndjson"
    if not path.exists():
        pytest.skip(f"{path} absent (../shared/data is not in a fresh clone)")
    brands = {r.name for r in ingredient_table().rows}
    names = {c["display"]: c["code"] for line in path.read_text().splitlines() if line.strip()
             for c in json.loads(line).get("medicationCodeableConcept", {}).get("coding", [])}
    for display, code in names.items():
        got = ingredients_from_rxnorm_text(display, code)
        assert got and not set(got) & brands, display


def test_nitrofurantoin_macrocrystals_is_nitrofurantoin():
    assert ingredients_from_rxnorm_text("NITROFURANTOIN, MACROCRYSTALS 50 MG Oral Capsule") == ["nitrofurantoin"]
