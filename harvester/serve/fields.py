"""The study field tree of ``/studies/metadata``: piece names, JSON paths, kinds, search areas.

Everything the replica knows about fields comes from the registry's own metadata response
(``data/studies-metadata.json``, a copy of ``fixtures/spec/studies-metadata__aact.json``) and
enum table (``parsers/data/studies-enums.json``), so ``AREA[Piece]``, ``fields=`` and ``sort=``
accept exactly the names the real API documents, and nothing is typed in twice.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import msgspec

Kind = Literal["struct", "text", "enum", "date", "number", "age", "boolean", "geo"]
Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Piece:
    """One node of the field tree: ``name`` is the PascalCase piece, ``path`` its JSON keys."""

    name: str
    path: Path
    kind: Kind
    enum_values: tuple[str, ...] = ()
    leaf: bool = True

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Area:
    """A search area of ``/studies/search-areas``: the pieces a ``query.*`` parameter searches."""

    name: str
    param: str | None
    weighted: tuple[tuple[Piece, float], ...]
    # BasicSearch searches "all text fields": matched by walking every leaf of the study,
    # which is both closer to the real 57-field area and faster than 300 path lookups.
    everything: bool = False

    @property
    def pieces(self) -> tuple[Piece, ...]:
        return tuple(piece for piece, _ in self.weighted)


# Areas of reference §7 (weights from the real /studies/search-areas).  PatientSearch's 47
# real fields are not published piece by piece; this is the patient-facing subset.
_AREAS: dict[str, tuple[str | None, tuple[tuple[str, float], ...]]] = {
    "ConditionSearch": ("cond", (
        ("Condition", 0.95), ("BriefTitle", 0.6), ("OfficialTitle", 0.55),
        ("ConditionMeshTerm", 0.5), ("ConditionAncestorTerm", 0.4), ("Keyword", 0.3),
        ("NCTId", 0.2),
    )),
    "InterventionSearch": ("intr", (
        ("InterventionName", 0.95), ("InterventionType", 0.85), ("ArmGroupType", 0.85),
        ("InterventionOtherName", 0.75), ("BriefTitle", 0.65), ("OfficialTitle", 0.6),
        ("ArmGroupLabel", 0.5), ("InterventionMeshTerm", 0.5), ("Keyword", 0.5),
        ("InterventionAncestorTerm", 0.4), ("InterventionDescription", 0.4),
        ("ArmGroupDescription", 0.4),
    )),
    "LocationSearch": ("locn", (
        ("LocationCity", 0.95), ("LocationState", 0.95), ("LocationCountry", 0.95),
        ("LocationFacility", 0.95), ("LocationZip", 0.35),
    )),
    "TitleSearch": ("titles", (("Acronym", 1.0), ("BriefTitle", 0.95), ("OfficialTitle", 0.8))),
    "OutcomeSearch": ("outc", (
        ("PrimaryOutcomeMeasure", 0.9), ("SecondaryOutcomeMeasure", 0.8),
        ("OtherOutcomeMeasure", 0.7), ("PrimaryOutcomeDescription", 0.6),
        ("SecondaryOutcomeDescription", 0.5), ("OtherOutcomeDescription", 0.4),
        ("OutcomeMeasureTitle", 0.5), ("OutcomeMeasureDescription", 0.4),
    )),
    "SponsorSearch": ("spons", (
        ("LeadSponsorName", 1.0), ("CollaboratorName", 0.9), ("OrgFullName", 0.6),
    )),
    "IdSearch": ("id", (
        ("NCTId", 1.0), ("NCTIdAlias", 0.9), ("Acronym", 0.85), ("OrgStudyId", 0.8),
        ("SecondaryId", 0.75),
    )),
    "PatientSearch": ("patient", (
        ("Condition", 0.95), ("BriefTitle", 0.9), ("OfficialTitle", 0.85), ("Keyword", 0.8),
        ("ConditionMeshTerm", 0.75), ("ConditionAncestorTerm", 0.5), ("Acronym", 0.7),
        ("BriefSummary", 0.6), ("DetailedDescription", 0.4), ("EligibilityCriteria", 0.6),
        ("InterventionName", 0.7), ("InterventionOtherName", 0.6), ("InterventionType", 0.5),
        ("InterventionMeshTerm", 0.5), ("InterventionDescription", 0.4),
        ("ArmGroupLabel", 0.4), ("ArmGroupDescription", 0.4), ("OverallStatus", 0.5),
        ("Phase", 0.5), ("StudyType", 0.5), ("Sex", 0.5), ("StdAge", 0.5),
        ("HealthyVolunteers", 0.5), ("LocationFacility", 0.6), ("LocationCity", 0.6),
        ("LocationState", 0.6), ("LocationCountry", 0.6), ("LocationZip", 0.3),
        ("LeadSponsorName", 0.5), ("CollaboratorName", 0.4), ("NCTId", 0.5),
        ("PrimaryOutcomeMeasure", 0.4), ("SecondaryOutcomeMeasure", 0.3),
    )),
}


class _Node(msgspec.Struct):
    name: str
    piece: str
    sourceType: str = ""
    type: str = ""
    isEnum: bool = False
    altPieceNames: list[str] = []
    children: list[_Node] = []


class _EnumInfo(msgspec.Struct):
    type: str
    values: list[dict[str, Any]]


def _kind(node: _Node) -> Kind:
    source, type_ = node.sourceType, node.type.removesuffix("[]")
    if type_ == "GeoPoint":
        return "geo"
    if source == "STRUCT":
        return "struct"
    if node.isEnum:
        return "enum"
    if source == "DATE":
        return "date"
    if source == "TIME":
        return "age"
    if source == "NUMERIC" or type_ in ("integer", "long", "number", "float"):
        return "number"
    if source == "BOOLEAN" or type_ == "boolean":
        return "boolean"
    return "text"


class Catalogue:
    """Pieces by (case-insensitive) name and by dotted path, plus the search areas."""

    def __init__(self, metadata: bytes, enums: bytes) -> None:
        self.metadata_bytes = metadata
        self.enums_bytes = enums
        values = {
            info.type: tuple(str(v["value"]) for v in info.values)
            for info in msgspec.json.decode(enums, type=list[_EnumInfo])
        }
        self.pieces: list[Piece] = []
        self._by_name: dict[str, Piece] = {}
        self._by_path: dict[str, Piece] = {}
        alt_names: list[tuple[str, Piece]] = []
        self._add(msgspec.json.decode(metadata, type=list[_Node]), (), values, alt_names)
        for piece in self.pieces:
            self._by_name[piece.name.casefold()] = piece
            self._by_path[piece.dotted] = piece
        for alias, piece in alt_names:  # legacy names never shadow a real piece name
            self._by_name.setdefault(alias.casefold(), piece)
        self.areas: dict[str, Area] = {}
        for name, (param, weighted) in _AREAS.items():
            self.areas[name.casefold()] = Area(
                name, param, tuple((self._by_name[p.casefold()], w) for p, w in weighted)
            )
        leaves = tuple((p, 1.0) for p in self.pieces if p.leaf and p.kind != "geo")
        self.areas["basicsearch"] = Area("BasicSearch", "term", leaves, everything=True)

    def _add(
        self,
        nodes: list[_Node],
        parent: Path,
        enums: Mapping[str, tuple[str, ...]],
        alt_names: list[tuple[str, Piece]],
    ) -> None:
        for node in nodes:
            path = (*parent, node.name)
            kind = _kind(node)
            allowed = enums.get(node.type.removesuffix("[]"), ()) if kind == "enum" else ()
            piece = Piece(node.piece, path, kind, allowed, leaf=not node.children)
            self.pieces.append(piece)
            alt_names.extend((alias, piece) for alias in node.altPieceNames)
            self._add(node.children, path, enums, alt_names)

    def piece(self, name: str) -> Piece | None:
        """A piece by piece name (any case, legacy alternative names too) or dotted JSON path."""
        return self._by_name.get(name.casefold()) or self._by_path.get(name)

    def area(self, name: str) -> Area | None:
        return self.areas.get(name.casefold())

    def under(self, path: Path) -> tuple[Piece, ...]:
        """The leaf pieces below ``path`` (what ``SEARCH[Location]`` searches by default)."""
        n = len(path)
        return tuple(p for p in self.pieces if p.leaf and p.path[:n] == path and p.path != path)


@functools.cache
def catalogue() -> Catalogue:
    """The field catalogue, read once from the package's copies of the registry's responses."""
    metadata = importlib.resources.files(__package__).joinpath("data/studies-metadata.json")
    enums = importlib.resources.files("parsers").joinpath("data/studies-enums.json")
    return Catalogue(metadata.read_bytes(), enums.read_bytes())


def values_at(doc: Any, path: Iterable[str]) -> list[Any]:
    """Every value at ``path`` in ``doc``, lists flattened at each step (arrays of modules)."""
    current: list[Any] = [doc]
    for key in path:
        step: list[Any] = []
        for item in current:
            if isinstance(item, dict) and key in item:
                value = item[key]
                if isinstance(value, list):
                    step.extend(value)
                else:
                    step.append(value)
        current = step
        if not current:
            break
    return [v for v in current if v is not None and v != ""]


def leaves(doc: Any) -> Iterator[str | int | float | bool]:
    """Every scalar anywhere in ``doc``, in document order."""
    if isinstance(doc, dict):
        for value in doc.values():
            yield from leaves(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from leaves(value)
    elif doc is not None:
        yield doc


# None marks "this whole subtree was requested".
_Trie: TypeAlias = dict[str, "_Trie | None"]


def project(study: Mapping[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """The ``fields=`` projection: only the requested leaves, with their parent objects.

    Keys keep the study's own order (which is the registry's schema order), and objects or
    arrays that end up empty are dropped, as the real API omits empty modules.
    """
    trie: _Trie = {}
    for path in paths:
        node = trie
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if child is None:  # an ancestor was already requested whole
                break
            node = child
        else:
            node[path[-1]] = None
    return _project(study, trie)


def _project(doc: Mapping[str, Any], trie: _Trie) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in trie:
            continue
        sub = trie[key]
        if sub is None:
            out[key] = value
        elif isinstance(value, dict):
            if projected := _project(value, sub):
                out[key] = projected
        elif isinstance(value, list):
            items = [_project(v, sub) for v in value if isinstance(v, dict)]
            if items := [item for item in items if item]:
                out[key] = items
    return out


def search_areas() -> list[dict[str, Any]]:
    """``/studies/search-areas`` as the replica searches: one part per piece, with its weight."""
    areas = []
    for area in catalogue().areas.values():
        parts = [
            {"pieces": [piece.name], "type": piece.kind, "isEnum": piece.kind == "enum",
             "isSynonyms": False, "weight": weight}
            for piece, weight in area.weighted
        ]
        entry: dict[str, Any] = {"name": area.name}
        if area.param:
            entry["param"] = area.param
        areas.append({**entry, "parts": parts})
    return [{"name": "Study", "areas": areas}]
