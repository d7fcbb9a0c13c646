"""``GET /studies``: parameters → matching NCT ids in order → one page, as the real API pages.

Paging is by offset in an opaque token.  A harvest asks for the same search page after page,
so the ordered hits are cached per (store revision, search parameters): each page costs one
slice, not a re-evaluation of every study.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from .fields import Path, Piece, catalogue, project, values_at
from .matching import age_years, date_span
from .query import QueryError, parse_query
from .responses import ApiError, invalid_value, page_body
from .store import Snapshot, canonical_nct

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

# query.* parameter → the search area (or piece) it searches; reference §3.
QUERY_AREAS = {
    "query.cond": "ConditionSearch",
    "query.term": "BasicSearch",
    "query.locn": "LocationSearch",
    "query.titles": "TitleSearch",
    "query.intr": "InterventionSearch",
    "query.outc": "OutcomeSearch",
    "query.spons": "SponsorSearch",
    "query.lead": "LeadSponsorName",
    "query.id": "IdSearch",
    "query.patient": "PatientSearch",
}
_FILTERS = ("overallStatus", "geo", "ids", "advanced", "synonyms")
# Accepted but not acted on: the replica has no synonym table, facets or geo ranking.
_IGNORED = frozenset({"markupFormat", "aggFilters", "geoDecay", "filter.synonyms",
                      "postFilter.synonyms"})
STUDIES_PARAMS = frozenset(
    {*QUERY_AREAS, *(f"{p}.{f}" for p in ("filter", "postFilter") for f in _FILTERS),
     *_IGNORED, "format", "fields", "sort", "countTotal", "pageSize", "pageToken"}
)
# Parameters that only change which page or which leaves come back, not the hits.
_PAGING = frozenset({"countTotal", "pageSize", "pageToken", "fields", "format", "markupFormat"})

_LIST_SPLIT = re.compile(r"[,|]")
_NCT_ONLY = re.compile(r"^\s*NCT\d+(?:[\s,]+NCT\d+)*\s*$", re.IGNORECASE)
_GEO = re.compile(r"^distance\((-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?),(\d+(?:\.\d+)?)(km|mi)?\)$")
_SORT = re.compile(r"^(([a-zA-Z][a-zA-Z0-9\-. ]*)|(@relevance))(:(asc|desc))?$")
_TOKEN_SALT = b"trials-replica-page"
_TOKEN_MASK = 0x5A17_C3E9_0B6D_F2A4

Matcher = Callable[[Mapping[str, Any]], bool]


# --- page tokens -----------------------------------------------------------------------------


def encode_token(offset: int) -> str:
    """An opaque, URL-safe token for ``offset`` (checksummed so junk is told from a token).

    The offset is masked so tokens do not look like counters: clients must treat them as
    opaque, as they must with the real API's.
    """
    payload = struct.pack(">Q", offset ^ _TOKEN_MASK)
    check = struct.pack(">I", zlib.crc32(_TOKEN_SALT + payload))
    return base64.urlsafe_b64encode(payload + check).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise invalid_value("pageToken", token) from exc
    if len(raw) != 12 or struct.unpack(">I", raw[8:])[0] != zlib.crc32(_TOKEN_SALT + raw[:8]):
        raise invalid_value("pageToken", token)
    masked: int = struct.unpack(">Q", raw[:8])[0]
    return masked ^ _TOKEN_MASK


@dataclass(frozen=True)
class Paging:
    """A search page's paging parameters, checked with the registry's 400 wording."""

    count_total: str  # "true" or "false"
    size: int
    token: str
    offset: int

    @classmethod
    def read(cls, params: Mapping[str, str], server: str) -> Paging:
        """``server`` names this server in the refusal of ``format=csv``."""
        fmt = params.get("format", "json")
        if fmt == "csv":
            raise ApiError(400, f"Format `csv` is not supported by this {server}")
        if fmt != "json":
            raise invalid_value("format", fmt)
        count_total = params.get("countTotal", "false").lower()
        if count_total not in ("true", "false"):
            raise invalid_value("countTotal", params["countTotal"])
        raw_size = params.get("pageSize", "")
        try:
            size = int(raw_size) if raw_size else 0
        except ValueError:
            raise invalid_value("pageSize", raw_size) from None
        if size < 0:
            raise invalid_value("pageSize", raw_size)
        token = params.get("pageToken", "")
        return cls(count_total, min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE), token,
                   decode_token(token) if token else 0)


# --- filters ---------------------------------------------------------------------------------


def _split(value: str) -> list[str]:
    return [item.strip() for item in _LIST_SPLIT.split(value) if item.strip()]


def _ids_matcher(ids: set[str]) -> Matcher:
    nct_path = ("protocolSection", "identificationModule", "nctId")
    alias_path = ("protocolSection", "identificationModule", "nctIdAliases")

    def match(study: Mapping[str, Any]) -> bool:
        found = values_at(study, nct_path) + values_at(study, alias_path)
        return any(canonical_nct(str(v)) in ids for v in found)

    return match


def _status_matcher(param: str, value: str) -> Matcher:
    allowed = catalogue().piece("OverallStatus")
    assert allowed is not None
    wanted = set()
    for item in _split(value):
        if item not in allowed.enum_values:
            raise invalid_value(param, item)
        wanted.add(item)

    def match(study: Mapping[str, Any]) -> bool:
        return any(v in wanted for v in values_at(study, allowed.path))

    return match


def _geo_matcher(param: str, value: str) -> Matcher:
    m = _GEO.match(value)
    if not m:
        raise invalid_value(param, value)
    lat, lon, dist = float(m.group(1)), float(m.group(2)), float(m.group(3))
    radius = 6371.0 if m.group(4) == "km" else 3958.8  # Earth's radius; miles by default
    geo = catalogue().piece("LocationGeoPoint")
    assert geo is not None

    def match(study: Mapping[str, Any]) -> bool:
        for point in values_at(study, geo.path):
            if isinstance(point, dict) and "lat" in point and "lon" in point:
                p1, p2 = math.radians(lat), math.radians(float(point["lat"]))
                dp, dl = p2 - p1, math.radians(float(point["lon"]) - lon)
                h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
                if 2 * radius * math.asin(math.sqrt(min(1.0, h))) <= dist:
                    return True
        return False

    return match


def _query_matcher(param: str, value: str, area: str) -> tuple[Matcher, list[Piece]]:
    # The real API names the advanced filters "advanced filter" in its message.
    where = "advanced filter" if param.endswith(".advanced") else param
    try:
        query = parse_query(value, area)
    except QueryError as exc:
        raise ApiError(400, f"Error parsing query in {where}: {exc.message}") from exc
    return query.matches, list(query.queried())


# --- sorting ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SortKey:
    piece: Piece | None  # None: @relevance
    descending: bool


def _sort_keys(value: str) -> list[_SortKey]:
    items = _split(value)
    if len(items) > 2:
        raise invalid_value("sort", value)
    keys = []
    for item in items:
        m = _SORT.match(item)
        if not m:
            raise invalid_value("sort", item)
        name, direction = m.group(1), m.group(5)
        if name == "@relevance":
            keys.append(_SortKey(None, direction != "asc"))
            continue
        piece = catalogue().piece(name)
        if piece is None:
            raise invalid_value("sort", item)
        if piece.kind not in ("date", "number", "age"):
            raise ApiError(400, f"Unsupported sort field type: {piece.kind}")
        default_desc = piece.kind == "date"  # dates default to desc, numbers to asc
        keys.append(_SortKey(piece, direction == "desc" or (direction is None and default_desc)))
    return keys


def _sort_value(piece: Piece, study: Mapping[str, Any]) -> float | None:
    for value in values_at(study, piece.path):
        if piece.kind == "date":
            span = date_span(str(value))
            if span:
                return float(span[0].toordinal())
        elif piece.kind == "age":
            years = age_years(str(value))
            if years is not None:
                return years
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _sorted(ids: list[str], snap: Snapshot, keys: list[_SortKey]) -> list[str]:
    # Stable sorts, last key first; ties keep NCT order.  Missing values always sort last.
    for key in reversed(keys):
        piece = key.piece
        if piece is None:
            continue  # no relevance model: relevance order is the stable NCT order

        def order(nct: str, piece: Piece = piece, desc: bool = key.descending) -> tuple[int, float]:
            value = _sort_value(piece, snap.studies[nct])
            return (1, 0.0) if value is None else (0, -value if desc else value)

        ids = sorted(ids, key=order)
    return ids


# --- the endpoint ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    matchers: tuple[Matcher, ...]
    sort: tuple[_SortKey, ...]
    queried: tuple[Piece, ...]


def _plan(params: Mapping[str, str]) -> _Plan:
    queries: list[Matcher] = []
    filters: list[Matcher] = []
    queried: list[Piece] = []
    ids_only = False
    for param, area in QUERY_AREAS.items():
        value = params.get(param, "")
        if not value.strip():
            continue
        if _NCT_ONLY.match(value):
            # Spec: a query of NCT ids only selects those studies and switches filters off.
            ids_only = True
            wanted = {canonical_nct(v) or v for v in re.split(r"[\s,]+", value.strip())}
            queries.append(_ids_matcher({v for v in wanted if v}))
            continue
        matcher, pieces = _query_matcher(param, value, area)
        queries.append(matcher)
        queried.extend(pieces)
    for prefix in ("filter", "postFilter"):
        if value := params.get(f"{prefix}.overallStatus", ""):
            filters.append(_status_matcher(f"{prefix}.overallStatus", value))
        if value := params.get(f"{prefix}.ids", ""):
            wanted = set()
            for item in _split(value):
                nct = canonical_nct(item)
                if nct is None:
                    raise invalid_value(f"{prefix}.ids", item)
                wanted.add(nct)
            filters.append(_ids_matcher(wanted))
        if value := params.get(f"{prefix}.geo", ""):
            filters.append(_geo_matcher(f"{prefix}.geo", value))
        if (value := params.get(f"{prefix}.advanced", "")).strip():
            filters.append(_query_matcher(f"{prefix}.advanced", value, "BasicSearch")[0])
    sort = _sort_keys(params["sort"]) if params.get("sort") else []
    matchers = queries if ids_only else queries + filters
    return _Plan(tuple(matchers), tuple(sort), tuple(queried))


class StudiesEndpoint:
    """``/studies`` over a store snapshot, with a small cache of ordered hits."""

    def __init__(self, cache_size: int = 32) -> None:
        self._cache: OrderedDict[tuple[Any, ...], tuple[str, ...]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def hits(self, snap: Snapshot, params: Mapping[str, str], plan: _Plan) -> tuple[str, ...]:
        key = (snap.revision, tuple(sorted((k, v) for k, v in params.items() if k not in _PAGING)))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        ids = [
            nct for nct in snap.ids if all(match(snap.studies[nct]) for match in plan.matchers)
        ]
        found = tuple(_sorted(ids, snap, list(plan.sort)))
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found

    def page(self, snap: Snapshot, params: Mapping[str, str]) -> bytes:
        paging = Paging.read(params, "replica")
        count_total, size, token, offset = (paging.count_total, paging.size, paging.token,
                                            paging.offset)
        plan = _plan(params)
        fields = resolve_fields(params["fields"], plan.queried) if params.get("fields") else None

        hits = self.hits(snap, params, plan)
        chunk = hits[offset : offset + size]
        if fields is None:
            studies = [snap.encoded(nct) for nct in chunk]
        else:
            studies = [msgspec.json.encode(project(snap.studies[nct], fields)) for nct in chunk]
        total = len(hits) if count_total == "true" and not token else None
        next_token = encode_token(offset + size) if offset + size < len(hits) else None
        return page_body(total, studies, next_token)


def resolve_fields(value: str, queried: tuple[Piece, ...] = ()) -> list[Path]:
    """``fields=`` names (areas, pieces, dotted paths, ``@query``) → JSON paths; 400 if unknown."""
    cat = catalogue()
    paths: list[Path] = []
    items = _split(value)
    if not items:
        raise invalid_value("fields", value)
    for name in items:
        if name == "@query":
            paths.extend(p.path for p in queried)
        elif (area := cat.area(name)) is not None:
            paths.extend(p.path for p in area.pieces)
        elif (piece := cat.piece(name)) is not None:
            paths.append(piece.path)
        else:
            raise ApiError(400, f"Parameter 'fields' contains invalid field name: '{name}'")
    return paths
