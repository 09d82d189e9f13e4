"""Active ingredients from an RxNorm clinical-drug name, normalised for interaction matching.

RxNorm SCD/SBD names have the form ``<ingredient> <strength> <unit> [/ <ingredient> <strength> <unit>]
<dose form> [<brand>]`` (RxNorm Technical Documentation, "Semantic Clinical Drug"). Interaction rules
match on ingredients, never product names: "Simvastatin 20 MG Oral Tablet" (RxCUI 312961) contains
simvastatin. Pure functions, no I/O.
"""

from __future__ import annotations

import re

# Salt and ester words that name the same active moiety for interaction purposes.
SALT_WORDS = frozenset({
    "hydrochloride", "hcl", "sodium", "potassium", "calcium", "magnesium", "succinate", "tartrate",
    "maleate", "besylate", "mesylate", "citrate", "sulfate", "hyclate", "fumarate", "bromide",
    "acetate", "phosphate", "hydrobromide", "monohydrate", "dihydrate", "bitartrate", "disodium",
    "propionate", "furoate", "dipropionate", "valerate", "xinafoate", "trihydrate", "anhydrous",
    "macrocrystals", "monohydrate/macrocrystals",
})
# Where the "salt" word is the substance itself: keep the whole name.
_KEEP_WHOLE = frozenset({"ferrous", "magnesium", "calcium", "potassium", "sodium", "zinc", "lithium"})

_PACKAGING = re.compile(r"^(?:\d+\s*HR\s+|NDA\d+\s+|[\d.]+\s*(?:ML|MG|ACTUAT)\s+)+", re.IGNORECASE)
_BRAND = re.compile(r"\[[^\]]*\]")
_NUMBER = re.compile(r"^[\d.,/]+$")


def normalise_ingredient(name: str) -> str:
    """Lower-case ingredient name without trailing salt words: "Metoprolol Succinate" -> "metoprolol".

    Only trailing salt words are dropped, so a mineral salt keeps its cation ("Potassium Chloride"
    stays "potassium chloride"); a base that is itself a mineral ("ferrous sulfate") is kept whole.
    """
    words = [w for w in re.split(r"\s+", name.strip().lower().replace(",", " ")) if w]
    base = list(words)
    while len(base) > 1 and base[-1] in SALT_WORDS:
        base.pop()
    if len(base) == 1 and base[0] in _KEEP_WHOLE:
        return " ".join(words)
    return " ".join(base)


def ingredients_from_rxnorm_text(text: str) -> list[str]:
    """Ingredients named in an RxNorm drug name, normalised, in order, without duplicates.

    "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet" -> ["metformin"];
    "insulin isophane, human 70 UNT/ML / insulin, regular, human 30 UNT/ML ..." -> two ingredients;
    "NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector" -> ["epinephrine"]. Returns [] for text
    with no recognisable ingredient.
    """
    text = _BRAND.sub(" ", text or "")
    out: list[str] = []
    for part in re.split(r"\s+/\s+", text):
        part = _PACKAGING.sub("", part.strip())
        words: list[str] = []
        for word in part.split():
            if _NUMBER.match(word):
                break
            words.append(word)
        if words:
            name = normalise_ingredient(" ".join(words))
            if name and name not in out:
                out.append(name)
    return out
