"""Drug-drug interaction knowledge base and matching by ingredient.

The knowledge base is the project's own YAML file, ``medjobs_tui/clinical/data/interactions.yaml``:
the 15 ONC high-priority pairs of Phansalkar et al., JAMIA 2012;19:735-43 (Table 2), each rule with
an object class and a precipitant class (member ingredients, lower-case, normalised as
``ingredients.normalise_ingredient`` gives them), a severity and its source. No free, commercially
usable curated DDI database exists (see ../shared/DOMAIN.md), so a clinic may load its licensed list
in the same shape with ``load_knowledge_base(path)``, or import a list of ingredient pairs (CSV: drug_a, drug_b,
severity, effect, source; ``parse_clinic_list``) that is merged with the baseline (``merged``). Alerts are
raised once per patient and drug pair (``one_per_pair``, ``pair_key``).

Matching is on ingredients, never product names, and in both directions: an order containing a member
of the object class and another order containing a member of the precipitant class interact, whichever
was prescribed first. Severity order: contraindicated > major > moderate > minor.
Reading the packaged file is the only I/O here; everything else is pure.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Hashable, Iterable, Mapping

import yaml

from medjobs_tui.clinical.ingredients import normalise_ingredient

SEVERITIES = ("contraindicated", "major", "moderate", "minor")
"""The severity scale, most severe first."""

_PACKAGED = ("medjobs_tui.clinical", "data/interactions.yaml")


class KnowledgeBaseError(ValueError):
    """The interaction file is malformed; the message names the file, the rule and the problem."""


def severity_rank(severity: str) -> int:
    """0 for contraindicated .. 3 for minor; raises ValueError for a severity not on the scale."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; allowed: {', '.join(SEVERITIES)}") from None


@dataclass(frozen=True)
class Rule:
    """One interaction rule: object class + precipitant class, severity, effect and source citation."""

    id: str
    name: str
    object_class: str
    object_members: frozenset[str]
    precipitant_class: str
    precipitant_members: frozenset[str]
    severity: str
    effect: str
    source: str


@dataclass(frozen=True)
class Interaction:
    """A rule matched between two orders of one patient.

    ``object_order``/``precipitant_order`` are the caller's order keys; ``object_drug``/``precipitant_drug``
    the matched (normalised) ingredients.
    """

    rule_id: str
    rule_name: str
    severity: str
    object_drug: str
    precipitant_drug: str
    object_order: Hashable
    precipitant_order: Hashable
    effect: str
    source: str


@dataclass(frozen=True)
class KnowledgeBase:
    """The loaded rules, with an index from ingredient to the rules naming it."""

    name: str
    rules: tuple[Rule, ...]

    @functools.cached_property
    def _index(self) -> dict[str, list[tuple[Rule, str]]]:
        index: dict[str, list[tuple[Rule, str]]] = {}
        for rule in self.rules:
            for m in rule.object_members:
                index.setdefault(m, []).append((rule, "object"))
            for m in rule.precipitant_members:
                index.setdefault(m, []).append((rule, "precipitant"))
        return index

    def rule(self, rule_id: str) -> Rule:
        """The rule with ``rule_id``; KeyError if there is none."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no interaction rule {rule_id!r}")

    def roles(self, ingredient: str) -> list[tuple[Rule, str]]:
        """(rule, 'object' | 'precipitant') for each rule naming the (normalised) ingredient."""
        return self._index.get(normalise_ingredient(ingredient), [])

    def find(self, ingredients_by_order: Mapping[Hashable, Iterable[str]]) -> list[Interaction]:
        """See ``find_interactions``."""
        norm = {k: sorted({normalise_ingredient(i) for i in v if i and i.strip()})
                for k, v in ingredients_by_order.items()}
        found: dict[tuple, Interaction] = {}
        for a, b in combinations(sorted(norm, key=str), 2):
            for first, second in ((a, b), (b, a)):
                for ing_o in norm[first]:
                    for rule, role in self._index.get(ing_o, []):
                        if role != "object":
                            continue
                        for ing_p in norm[second]:
                            if ing_p in rule.precipitant_members and ing_p != ing_o:
                                key = (rule.id, ing_o, ing_p, first, second)
                                found[key] = Interaction(
                                    rule_id=rule.id, rule_name=rule.name, severity=rule.severity,
                                    object_drug=ing_o, precipitant_drug=ing_p,
                                    object_order=first, precipitant_order=second,
                                    effect=rule.effect, source=rule.source,
                                )
        return sorted(found.values(), key=lambda i: (severity_rank(i.severity), i.rule_id, i.object_drug,
                                                     i.precipitant_drug, str(i.object_order),
                                                     str(i.precipitant_order)))


def _members(where: str, node: object) -> frozenset[str]:
    if not isinstance(node, dict) or "members" not in node or "class" not in node:
        raise KnowledgeBaseError(f"{where}: needs 'class' and 'members'")
    members = node["members"] or []
    if not isinstance(members, list) or not all(isinstance(m, str) and m.strip() for m in members):
        raise KnowledgeBaseError(f"{where}.members: must be a list of ingredient names")
    return frozenset(normalise_ingredient(m) for m in members)


def parse_knowledge_base(text: str, source: str = "interactions.yaml") -> KnowledgeBase:
    """Parse and validate knowledge-base YAML text; raises KnowledgeBaseError naming the rule and problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise KnowledgeBaseError(f"{source}: needs a top-level 'rules' list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, raw in enumerate(data["rules"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise KnowledgeBaseError(f"{source}: rule #{n + 1} needs an 'id'")
        rid = raw["id"]
        where = f"{source}: rule {rid}"
        if rid in seen:
            raise KnowledgeBaseError(f"{where}: duplicate id")
        seen.add(rid)
        for key in ("name", "severity", "effect", "source"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise KnowledgeBaseError(f"{where}: '{key}' is required")
        if raw["severity"] not in SEVERITIES:
            raise KnowledgeBaseError(f"{where}: severity {raw['severity']!r}; allowed: {', '.join(SEVERITIES)}")
        rules.append(Rule(
            id=rid, name=raw["name"], severity=raw["severity"], effect=raw["effect"], source=raw["source"],
            object_class=str(raw.get("object", {}).get("class", "")) if isinstance(raw.get("object"), dict) else "",
            object_members=_members(f"{where}.object", raw.get("object")),
            precipitant_class=str(raw["precipitant"].get("class", "")) if isinstance(raw.get("precipitant"), dict)
            else "",
            precipitant_members=_members(f"{where}.precipitant", raw.get("precipitant")),
        ))
    return KnowledgeBase(name=str(data.get("name", source)), rules=tuple(rules))


def load_knowledge_base(path: str | Path | None = None) -> KnowledgeBase:
    """Load a knowledge base: the packaged ONC baseline (``path`` None, cached) or a clinic's own YAML file.

    Raises KnowledgeBaseError if the file is malformed, OSError if it cannot be read.
    """
    if path is None:
        return _packaged()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeBaseError(f"{p}: not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML") from None
    return parse_knowledge_base(text, str(p))


@functools.lru_cache(maxsize=1)
def _packaged() -> KnowledgeBase:
    package, name = _PACKAGED
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return parse_knowledge_base(text, name)


def find_interactions(ingredients_by_order: Mapping[Hashable, Iterable[str]],
                      kb: KnowledgeBase | None = None) -> list[Interaction]:
    """Every rule matched between two different orders of one patient, most severe first.

    ``ingredients_by_order`` maps an order key (e.g. a medication_request id) to its ingredient names
    (any case, salts allowed: they are normalised). Each (rule, object ingredient, precipitant
    ingredient, object order, precipitant order) is reported once, whichever order comes first in the
    mapping; ingredients inside one order (a combination product) are not paired with each other.
    ``kb`` defaults to the packaged ONC baseline. Source: Phansalkar et al., JAMIA 2012, Table 2.
    """
    return (kb or load_knowledge_base()).find(ingredients_by_order)


# ----------------------------------------------------------------------------------------------
# A clinic's own list (CSV), merged with the baseline; one alert per pair

CLINIC_COLUMNS = ("drug_a", "drug_b", "severity", "effect", "source")
"""The columns of a clinic's interaction list (CSV with a header row; other columns are ignored)."""

CLINIC_RULE_PREFIX = "CLINIC-"
MAX_CLINIC_ROWS = 50_000
_NAME = re.compile(r"^[\w][\w \-,.'()/+]{0,99}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ClinicPair:
    """One row of a clinic's list: two ingredients (normalised), severity, effect, source, CSV line."""

    drug_a: str
    drug_b: str
    severity: str
    effect: str
    source: str
    line: int


def parse_clinic_list(text: str) -> tuple[list[ClinicPair], list[str]]:
    """Read a clinic's interaction list: CSV with the header ``drug_a, drug_b, severity, effect, source``.

    Returns (pairs, errors). Each error names the CSV line and what is wrong, never quoting a long value:
    a missing column in the header; an empty or unusable drug name (letters, digits, space and - , . ' ( )
    / + only, up to 100 characters); the same ingredient on both sides; a severity not on the scale
    (contraindicated, major, moderate, minor; any case); an empty effect or source, or one longer than
    500 characters or holding control characters; a pair (in either order) already given on an earlier
    line; more than MAX_CLINIC_ROWS rows. Drug names are normalised (``normalise_ingredient``) so
    "Simvastatin" and "simvastatin" are one drug. A file with errors must not be used at all (the
    caller writes nothing); a header-only file is a valid, empty list.
    """
    reader = csv.reader(io.StringIO(text), strict=True)   # an unclosed quote is an error, not the rest of the file
    errors: list[str] = []
    try:
        header = next(reader)
    except StopIteration:
        return [], ["line 1: empty file; the header drug_a, drug_b, severity, effect, source is required"]
    except csv.Error as exc:
        return [], [f"line 1: not CSV ({exc})"]
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    missing = [c for c in CLINIC_COLUMNS if c not in names]
    if missing:
        return [], [f"line 1: the header lacks column(s) {', '.join(missing)}; "
                    f"needed: {', '.join(CLINIC_COLUMNS)}"]
    col = {c: names.index(c) for c in CLINIC_COLUMNS}
    pairs: list[ClinicPair] = []
    seen: dict[frozenset[str], int] = {}
    starts = reader.line_num + 1           # the line the record being read starts on
    try:
        for record in reader:
            line, starts = starts, reader.line_num + 1
            if not any(field.strip() for field in record):
                continue
            if len(pairs) + len(errors) >= MAX_CLINIC_ROWS:
                errors.append(f"line {line}: more than {MAX_CLINIC_ROWS:,} rows; split the list")
                break
            problems: list[str] = []
            fields = {c: (record[i].strip() if i < len(record) else "") for c, i in col.items()}
            drugs = []
            for c in ("drug_a", "drug_b"):
                name = normalise_ingredient(fields[c]) if fields[c] else ""
                if not name:
                    problems.append(f"{c} is empty")
                elif not _NAME.match(name):
                    problems.append(f"{c} is not an ingredient name (letters, digits, space and - , . ' ( ) / +, "
                                    "up to 100 characters)")
                drugs.append(name)
            if drugs[0] and drugs[0] == drugs[1]:
                problems.append("drug_a and drug_b are the same ingredient")
            severity = fields["severity"].lower()
            if severity not in SEVERITIES:
                problems.append(f"severity must be one of {', '.join(SEVERITIES)}")
            for c in ("effect", "source"):
                if not fields[c]:
                    problems.append(f"{c} is empty")
                elif len(fields[c]) > 500 or _CONTROL.search(fields[c]):
                    problems.append(f"{c} is longer than 500 characters or holds control characters")
            key = frozenset(drugs)
            if not problems and key in seen:
                problems.append(f"the same pair as line {seen[key]}")
            if problems:
                errors.append(f"line {line}: " + "; ".join(problems))
                continue
            seen[key] = line
            pairs.append(ClinicPair(drugs[0], drugs[1], severity, fields["effect"], fields["source"], line))
    except csv.Error as exc:
        errors.append(f"line {starts}: not CSV ({exc}): a quote opened on this line (or after it) is never "
                      "closed, or text follows a closing quote")
    return pairs, errors


def clinic_rules(pairs: Iterable[ClinicPair]) -> tuple[Rule, ...]:
    """A clinic's pairs as rules (id ``CLINIC-<n>``, in list order): drug_a is the object and drug_b the
    precipitant, but matching finds them in either order, as for the baseline."""
    return tuple(Rule(id=f"{CLINIC_RULE_PREFIX}{n}", name=f"{p.drug_a} + {p.drug_b} (clinic list)",
                      object_class=p.drug_a, object_members=frozenset({p.drug_a}), precipitant_class=p.drug_b,
                      precipitant_members=frozenset({p.drug_b}), severity=p.severity, effect=p.effect,
                      source=p.source)
                 for n, p in enumerate(pairs, start=1))


def merged(baseline: KnowledgeBase, clinic: Iterable[Rule]) -> KnowledgeBase:
    """The baseline with a clinic's rules added (both kept; ``one_per_pair`` picks one per drug pair)."""
    extra = tuple(clinic)
    if not extra:
        return baseline
    return KnowledgeBase(name=f"{baseline.name} + clinic list ({len(extra)} pairs)", rules=baseline.rules + extra)


def pair_key(drug_a: str, drug_b: str) -> str:
    """The unordered pair of two normalised ingredients as text: ``"clarithromycin|simvastatin"``."""
    a, b = sorted((drug_a, drug_b))
    return f"{a}|{b}"


def one_per_pair(found: Iterable[Interaction]) -> list[Interaction]:
    """One interaction per drug pair (either order), the most severe; on equal severity the baseline rule
    before a clinic's, then by rule id and order keys. Alerts are raised per patient and pair, so a pair
    on both lists, or two orders of the same drug, gives one alert. Most severe first."""
    def rank(i: Interaction) -> tuple:
        return (severity_rank(i.severity), i.rule_id.startswith(CLINIC_RULE_PREFIX), i.rule_id,
                str(i.object_order), str(i.precipitant_order))

    best: dict[str, Interaction] = {}
    for hit in sorted(found, key=rank):
        best.setdefault(pair_key(hit.object_drug, hit.precipitant_drug), hit)
    return sorted(best.values(), key=rank)
