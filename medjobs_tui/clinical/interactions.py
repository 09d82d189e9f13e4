"""Drug-drug interaction knowledge base and matching by ingredient.

The knowledge base is the project's own YAML file, ``medjobs_tui/clinical/data/interactions.yaml``:
the 15 ONC high-priority pairs of Phansalkar et al., JAMIA 2012;19:735-43 (Table 2), each rule with
an object class and a precipitant class (member ingredients, lower-case, normalised as
``ingredients.normalise_ingredient`` gives them), a severity and its source. No free, commercially
usable curated DDI database exists (see ../shared/DOMAIN.md), so a clinic may load its licensed list
in the same shape with ``load_knowledge_base(path)``.

Matching is on ingredients, never product names, and in both directions: an order containing a member
of the object class and another order containing a member of the precipitant class interact, whichever
was prescribed first. Severity order: contraindicated > major > moderate > minor.
Reading the packaged file is the only I/O here; everything else is pure.
"""

from __future__ import annotations

import functools
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
    return parse_knowledge_base(p.read_text(encoding="utf-8"), str(p))


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
