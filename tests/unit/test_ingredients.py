"""Ingredients from real RxNorm drug names (all taken from the Synthea and US Core test data), for interaction matching."""

from __future__ import annotations

import pytest

from medjobs_tui.clinical.ingredients import ingredients_from_rxnorm_text, normalise_ingredient


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


@pytest.mark.parametrize("name, expected", [
    ("Potassium Chloride 20 MEQ Extended Release Oral Tablet", ["potassium chloride"]),
    ("Calcium Carbonate 500 MG Chewable Tablet", ["calcium carbonate"]),
])
def test_mineral_salts_keep_their_cation(name, expected):
    assert ingredients_from_rxnorm_text(name) == expected


@pytest.mark.xfail(strict=True, reason="known gap in ingredients.py: brand-name packs and devices (RxNorm BPCK/SBD "
                                       "'Kyleena', 'Camila 28 Day Pack') do not name their ingredients; needs an "
                                       "RxNorm ingredient table")
def test_brand_name_pack_names_its_ingredient():
    assert ingredients_from_rxnorm_text("Kyleena 19.5 MG Intrauterine System") == ["levonorgestrel"]


def test_nitrofurantoin_macrocrystals_is_nitrofurantoin():
    assert ingredients_from_rxnorm_text("NITROFURANTOIN, MACROCRYSTALS 50 MG Oral Capsule") == ["nitrofurantoin"]
