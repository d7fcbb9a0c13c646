"""The values of a version's facet and place rows (:mod:`harvester.catalogue.facets`), made
from its record — where records are prepared, in the parsing workers, which import neither
SQLAlchemy nor the tables: standard library, msgspec and :mod:`harvester.catalogue.places`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgspec

from harvester.catalogue import places

if TYPE_CHECKING:
    from harvester.records import TrialRecord

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?", re.IGNORECASE)
_AGE_UNITS = {"year": 1.0, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25,
              "hour": 1 / 8766, "minute": 1 / 525960}


def age_years(text: str | None) -> float | None:
    """``"18 Years"``, ``"6 Months"`` → years; None for no limit (``N/A``, empty)."""
    m = _AGE.match(text or "")
    if not m:
        return None
    factor = _AGE_UNITS.get((m.group(2) or "years").casefold().rstrip("s"))
    return None if factor is None else round(float(m.group(1)) * factor, 4)


def _norm(text: str | None, size: int) -> str | None:
    return " ".join(text.split()).lower()[:size] if text and text.strip() else None


#: A facet row without its version id, and a place row without version id and position,
#: in the tables' column order (computed where a record is prepared: plain, picklable).
FacetValues = tuple[Any, ...]
PlaceValues = tuple[Any, ...]


def values(record_json: str | bytes) -> tuple[FacetValues, list[PlaceValues]]:
    """The facet values and place values of one record (its stored JSON)."""
    return values_of(msgspec.json.decode(record_json))


def values_of(data: dict[str, Any]) -> tuple[FacetValues, list[PlaceValues]]:
    """The facet values and place values of one record as plain data (its JSON decoded, or
    :func:`harvester.catalogue.canonical.dump`'s) — read from it, not parsed again."""
    elig = data.get("eligibility") or {}
    std_ages = elig.get("std_ages") or ()
    sponsor = data.get("lead_sponsor")
    documents = data.get("documents") or ()
    docs = [name for name in ("protocol", "sap", "icf")
            if any(d.get(f"has_{name}") for d in documents)]
    facet = (
        age_years(elig.get("minimum_age")), age_years(elig.get("maximum_age")),
        "|" + "|".join(std_ages) + "|" if std_ages else None,
        elig.get("sex"), elig.get("healthy_volunteers"),
        sponsor.get("class") if sponsor else None,
        "|" + "|".join(docs) + "|" if docs else None,
        data.get("primary_completion_date"), data.get("completion_date"),
        data.get("first_posted"),
    )
    found = []
    for site in data.get("locations") or ():
        lat, lon = _float(site.get("lat")), _float(site.get("lon"))
        found.append((_norm(site.get("country"), 100), _norm(site.get("state"), 200),
                      _norm(site.get("city"), 200), lat, lon, *_xyz(lat, lon)))
    return facet, found


def values_of_record(record: TrialRecord) -> tuple[FacetValues, list[PlaceValues]]:
    """:func:`values_of` read from the record's models (where a record is prepared: its
    plain data is never built), the same values: enums as their plain strings."""
    elig = record.eligibility
    std_ages = elig.std_ages if elig else ()
    sponsor = record.lead_sponsor
    docs = [name for name in ("protocol", "sap", "icf")
            if any(getattr(d, f"has_{name}") for d in record.documents)]
    facet = (
        age_years(elig.minimum_age) if elig else None,
        age_years(elig.maximum_age) if elig else None,
        "|" + "|".join(std_ages) + "|" if std_ages else None,
        _text(elig.sex) if elig else None, elig.healthy_volunteers if elig else None,
        _text(sponsor.agency_class) if sponsor else None,
        "|" + "|".join(docs) + "|" if docs else None,
        record.primary_completion_date, record.completion_date, record.first_posted,
    )
    return facet, [_place(site.country, site.state, site.city, site.lat, site.lon)
                   for site in record.locations]


@lru_cache(maxsize=16384)  # the registry's coordinates are a city's: sites share places
def _place(country: str | None, state: str | None, city: str | None, lat: float | None,
           lon: float | None) -> PlaceValues:
    lat, lon = _float(lat), _float(lon)
    return (_norm(country, 100), _norm(state, 200), _norm(city, 200), lat, lon,
            *_xyz(lat, lon))


def _text(value: str | None) -> str | None:
    """An enum's value (or a plain string) as a plain ``str``: what its JSON holds."""
    return None if value is None else str(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _xyz(lat: float | None, lon: float | None) -> tuple[float | None, ...]:
    if lat is None or lon is None:
        return (None, None, None)
    return places.unit_vector(lat, lon)
