"""Reading FHIR R4 input files: bulk NDJSON and .json (one resource or a Bundle) -> located resources.

No database and no mapping here: the reader only finds resources, remembers where each came from
(file, line, JSON path) and reports what it cannot read. Problems are described by location and
kind only, never by value (values may be patient data).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

from medjobs_tui.fhir.values import MAX_JSON_DEPTH, nesting_exceeds, plain_json

NDJSON_SUFFIXES = (".ndjson", ".jsonl")
JSON_SUFFIXES = (".json",)


class FhirImportError(Exception):
    """An input path cannot be used at all (missing, unreadable, unknown kind). Raised before anything
    is written; the message names the path only."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a resource sits: file (as given), 1-based line (NDJSON) or None (.json), and the JSON
    path prefix of the resource inside the document (``''`` or ``entry[3].resource``)."""

    file: str
    line: int | None
    prefix: str = ""

    def at(self, path: str = "") -> str:
        """The full JSON path of ``path`` inside this resource's document (``entry[3].resource.subject``)."""
        if not path:
            return self.prefix or "(resource)"
        return f"{self.prefix}.{path}" if self.prefix else path


@dataclass(slots=True)
class Found:
    """One resource read from the input: its type, id (may be None: the importer reports it) and body.
    ``storable``: True when the reader proved no value of it can be unstorable (``values.plain_json``)."""

    type: str
    id: str | None
    resource: dict[str, Any]
    loc: Location
    storable: bool = False


@dataclass
class Problem:
    """Something unreadable: where (file, line) and what, with a JSON path when there is one."""

    file: str
    line: int | None
    reason: str


@dataclass
class ReadResult:
    """Everything read: resources in input order, problems, and ``full_urls`` (Bundle.entry.fullUrl ->
    (type, id)) so ``urn:uuid:`` references in transaction Bundles can be resolved."""

    resources: list[Found] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    full_urls: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    lines: int = 0
    files: int = 0
    types: Counter = field(default_factory=Counter)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to read: each file as given; a directory contributes its *.ndjson, *.jsonl and *.json
    files (not recursive), sorted by name. Raises FhirImportError for a path that does not exist
    or a file whose suffix is not .ndjson, .jsonl or .json."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in
                              NDJSON_SUFFIXES + JSON_SUFFIXES))
        elif p.is_file():
            if p.suffix.lower() not in NDJSON_SUFFIXES + JSON_SUFFIXES:
                raise FhirImportError(f"{p}: not a FHIR input file; allowed: .ndjson, .jsonl, .json")
            out.append(p)
        else:
            raise FhirImportError(f"{p}: no such file or directory")
    return out


_UNREADABLE = object()


def _parse(data: bytes, name: str, line: int | None, result: ReadResult) -> tuple[Any, bool]:
    """(document, storable) of one NDJSON line or .json document (UTF-8 bytes, no byte-order mark), or
    (_UNREADABLE, False) after recording a Problem.

    Nesting is checked first (``values.nesting_exceeds``), so no parser ever recurses deeply. Bytes that
    ``values.plain_json`` passes are parsed by orjson (``storable`` True: no value in them can be unstorable);
    anything else, and anything orjson refuses, by the standard ``json`` module, which names what is wrong
    (line, column) and reads NaN, Infinity and whole numbers of any size, so the importer reports them with
    their JSON path."""
    text: str | None = None
    if data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH:   # else the depth cannot exceed the limit
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            result.problems.append(Problem(name, line, "not UTF-8 text"))
            return _UNREADABLE, False
        if nesting_exceeds(text):
            result.problems.append(Problem(name, line, f"JSON nested deeper than {MAX_JSON_DEPTH} levels; not read"))
            return _UNREADABLE, False
    if plain_json(data):
        try:
            return orjson.loads(data), True
        except orjson.JSONDecodeError:
            pass  # json below reports it in its own words (or reads what orjson refuses, for the value gate)
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            result.problems.append(Problem(name, line, "not UTF-8 text"))
            return _UNREADABLE, False
    try:
        return json.loads(text), False
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        result.problems.append(Problem(name, where, f"invalid JSON ({exc.msg} at column {exc.colno})"))
    except RecursionError:  # pragma: no cover - nesting_exceeds keeps the parser far from the limit
        result.problems.append(Problem(name, line, "JSON nested too deeply; not read"))
    return _UNREADABLE, False


def _read_json(name: str, data: bytes, result: ReadResult) -> None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    doc, storable = _parse(data, name, None, result)
    if doc is _UNREADABLE:
        return
    result.lines += 1
    _take(doc, Location(name, None), result, storable)


def _take(doc: Any, loc: Location, result: ReadResult, storable: bool = False) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        result.problems.append(Problem(loc.file, loc.line, f"{loc.at('resourceType')}: not a FHIR resource"))
        return
    rtype = doc["resourceType"]
    rid = doc.get("id") if isinstance(doc.get("id"), str) and doc.get("id") else None
    if rtype == "Bundle":
        entries = doc.get("entry") or []
        if not isinstance(entries, list):
            result.problems.append(Problem(loc.file, loc.line, f"{loc.at('entry')}: not a list"))
            return
        for i, entry in enumerate(entries):
            base = f"entry[{i}]" if not loc.prefix else f"{loc.prefix}.entry[{i}]"
            if not isinstance(entry, dict):
                result.problems.append(Problem(loc.file, loc.line, f"{base}: not an object"))
                continue
            res = entry.get("resource")
            if res is None:
                continue  # e.g. a DELETE in a transaction Bundle: nothing to import
            inner = Location(loc.file, loc.line, f"{base}.resource")
            full_url = entry.get("fullUrl")
            if isinstance(res, dict) and isinstance(full_url, str) and isinstance(res.get("resourceType"), str):
                if not res.get("id") and full_url.startswith("urn:uuid:"):
                    # transaction Bundles may identify a new resource by its fullUrl only
                    res = {**res, "id": full_url[len("urn:uuid:"):]}
                rid_inner = res.get("id") if isinstance(res.get("id"), str) else None
                result.full_urls[full_url] = (res["resourceType"], rid_inner)
            _take(res, inner, result, storable)
        return
    result.types[rtype] += 1
    result.resources.append(Found(rtype, rid, doc, loc, storable))


# -- streaming (bounded memory) ---------------------------------------------------------------------

_SNIFF = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]{1,64})"')


def sniff_type(raw: bytes) -> str | None:
    """The resourceType of one NDJSON line without parsing it, or None when it cannot be told cheaply.

    Only a line where ``"resourceType"`` occurs exactly once is sniffed (a resource with contained
    resources, or a line that is not a resource, gives None): that one occurrence is then the
    top-level key if the line is a resource at all. A wrong guess is harmless: the line is parsed in
    full by whoever handles it, and a line without a top-level resourceType is reported there."""
    if raw.count(b'"resourceType"') != 1:
        return None
    m = _SNIFF.search(raw)
    return m.group(1).decode("ascii") if m else None


def ndjson_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes) of each non-blank line of an NDJSON file, read one line at a time
    (a UTF-8 byte-order mark at the start is dropped). Raises OSError when the file cannot be read."""
    with path.open("rb") as fp:
        for number, raw in enumerate(fp, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if not raw.strip():
                continue
            yield number, raw


def read_ndjson_line(name: str, number: int, raw: bytes, result: ReadResult) -> None:
    """One NDJSON line into ``result``: its resource in ``result.resources``, or a Problem (file, line) when the
    line is not UTF-8, not JSON, nested deeper than ``values.MAX_JSON_DEPTH`` or not an object with a
    ``resourceType``. NaN, Infinity and -Infinity (not JSON, accepted by Python's parser) are read as floats
    so the importer can report them with their JSON path."""
    doc, storable = _parse(raw, name, number, result)
    if doc is not _UNREADABLE:
        _take(doc, Location(name, number), result, storable)


def read_json_file(path: Path, result: ReadResult) -> bool:
    """One .json file (a resource or a Bundle, read whole) into ``result``; False (a Problem recorded)
    when the file cannot be read (permissions, I/O error). A Bundle's ``entry[].resource`` are taken (nested
    Bundles too; a resource without ``id`` whose ``fullUrl`` is ``urn:uuid:X`` gets id X); problems carry the
    JSON path (``entry[2].resource``)."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.problems.append(Problem(name, None, f"cannot read the file ({exc.strerror or type(exc).__name__});"
                                                   " no resource of it imported"))
        return False
    _read_json(name, data, result)
    return True
