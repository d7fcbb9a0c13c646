"""The values of a version's facet and place rows (:mod:`harvester.catalogue.facets`), made
from its record — where records are prepared, in the parsing workers, which import neither
SQLAlchemy nor the tables: standard library, msgspec and :mod:`harvester.catalogue.places`.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from harvester.catalogue import places

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


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _xyz(lat: float | None, lon: float | None) -> tuple[float | None, ...]:
    if lat is None or lon is None:
        return (None, None, None)
    return places.unit_vector(lat, lon)
