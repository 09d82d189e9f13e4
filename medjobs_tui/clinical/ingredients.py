"""Active ingredients from an RxNorm clinical-drug name, normalised for interaction matching.

RxNorm SCD/SBD names have the form ``<ingredient> <strength> <unit> [/ <ingredient> <strength> <unit>]
<dose form> [<brand>]`` (RxNorm Technical Documentation, "Semantic Clinical Drug"). Interaction rules
match on ingredients, never product names: "Simvastatin 20 MG Oral Tablet" (RxCUI 312961) contains
simvastatin. Brand-name packs (RxNorm BPCK, "Seasonique 91 Day Pack") and branded drugs named by brand only
(SBD, "Kyleena 19.5 MG Intrauterine System") do not spell out their ingredients: the packaged ingredient
table ``data/rxnorm_ingredients.csv`` (its source is in its header and in each row) names them. Reading
that packaged file is the only I/O here; everything else is pure.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from importlib import resources

# Salt and ester words that name the same active moiety for interaction purposes.
SALT_WORDS = frozenset({
    "hydrochloride", "hcl", "sodium", "potassium", "calcium", "magnesium", "succinate", "tartrate",
    "maleate", "besylate", "mesylate", "citrate", "sulfate", "hyclate", "fumarate", "bromide",
    "acetate", "phosphate", "hydrobromide", "monohydrate", "dihydrate", "bitartrate", "disodium",
    "propionate", "furoate", "dipropionate", "valerate", "xinafoate", "trihydrate", "anhydrous",
    "macrocrystals", "monohydrate/macrocrystals",
    # further salts, esters and hydrates of the same moiety as RxNorm names them (a clinical reviewer found
    # "lisdexamfetamine dimesylate" and "erythromycin ethylsuccinate" missing their contraindicated pairs)
    "dimesylate", "ethylsuccinate", "stearate", "estolate", "lactobionate", "aspartate", "saccharate",
    "gluceptate", "gluconate", "lactate", "napsylate", "pamoate", "palmitate", "oxalate", "chloride", "iodide",
    "hemifumarate", "hemihydrate", "sesquihydrate", "pentahydrate", "heptahydrate", "decanoate", "enanthate",
    "cypionate", "undecanoate", "benzoate", "tosylate", "edisylate", "isethionate", "tromethamine",
    "meglumine", "dimeglumine", "mesilate", "besilate", "diphosphate", "monosodium", "trisodium", "dipotassium",
    "sulfosalicylate", "teoclate", "embonate",
})
# Where the "salt" word is the substance itself: keep the whole name.
_KEEP_WHOLE = frozenset({"ferrous", "magnesium", "calcium", "potassium", "sodium", "zinc", "lithium",
                         "ammonium", "aluminum", "aluminium", "benzyl", "ethyl"})

_PACKAGING = re.compile(r"^(?:\d+\s*HR\s+|NDA\d+\s+|[\d.]+\s*(?:ML|MG|ACTUAT)\s+|Abuse-Deterrent\s+)+",
                        re.IGNORECASE)
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


@dataclass(frozen=True)
class TableRow:
    """One row of the ingredient table: the brand word or synonym, its ingredients, RxNorm term type,
    RxCUI of the example product (or None), the example RxNorm name and the source of the ingredients."""

    name: str
    ingredients: tuple[str, ...]
    tty: str
    rxcui: str | None
    example: str
    source: str


@dataclass(frozen=True)
class IngredientTable:
    """The ingredient table, indexed by name (lower-case brand word or synonym) and by RxCUI."""

    rows: tuple[TableRow, ...]

    @functools.cached_property
    def by_name(self) -> dict[str, TableRow]:
        return {r.name: r for r in self.rows}

    @functools.cached_property
    def by_rxcui(self) -> dict[str, TableRow]:
        return {r.rxcui: r for r in self.rows if r.rxcui}


def parse_ingredient_table(text: str, source: str = "rxnorm_ingredients.csv") -> IngredientTable:
    """Parse the table's CSV text (``#`` comment lines first, then a header: name, ingredients, tty,
    rxcui, example, source). Raises ValueError naming the line for a row without a name or ingredients,
    or a name given twice."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    rows: list[TableRow] = []
    seen: set[str] = set()
    for n, rec in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=2):
        name = (rec.get("name") or "").strip().lower()
        ingredients = tuple(normalise_ingredient(i) for i in (rec.get("ingredients") or "").split(";") if i.strip())
        if not name or not ingredients:
            raise ValueError(f"{source}: data row {n - 1}: needs a name and at least one ingredient")
        if name in seen:
            raise ValueError(f"{source}: data row {n - 1}: {name!r} is listed twice")
        seen.add(name)
        rows.append(TableRow(name, ingredients, (rec.get("tty") or "").strip(), (rec.get("rxcui") or "").strip()
                             or None, (rec.get("example") or "").strip(), (rec.get("source") or "").strip()))
    return IngredientTable(tuple(rows))


@functools.lru_cache(maxsize=1)
def ingredient_table() -> IngredientTable:
    """The packaged ingredient table (``clinical/data/rxnorm_ingredients.csv``), read once."""
    text = resources.files("medjobs_tui.clinical").joinpath("data/rxnorm_ingredients.csv").read_text("utf-8")
    return parse_ingredient_table(text)


def ingredients_from_rxnorm_text(text: str, rxcui: str | None = None) -> list[str]:
    """Ingredients named in an RxNorm drug name, normalised, in order, without duplicates.

    "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet" -> ["metformin"];
    "insulin isophane, human 70 UNT/ML / insulin, regular, human 30 UNT/ML ..." -> two ingredients;
    "NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector" -> ["epinephrine"]. A product whose ``rxcui``
    is in the ingredient table, or a parsed name that is a brand word or synonym of the table
    ("Kyleena 19.5 MG Intrauterine System" -> "kyleena" -> ["levonorgestrel"]; "Seasonique 91 Day
    Pack" -> ["levonorgestrel", "ethinyl estradiol"]), takes the table's ingredients. Returns [] for text
    with no recognisable ingredient. Source: RxNorm naming conventions; the table's own sources.
    """
    table = ingredient_table()
    if rxcui and rxcui in table.by_rxcui:
        return list(table.by_rxcui[rxcui].ingredients)
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
            row = table.by_name.get(name)
            for ingredient in (row.ingredients if row else (name,)):
                if ingredient and ingredient not in out:
                    out.append(ingredient)
    return out

