"""Place names as people type them and as the registry writes them; distances on the globe.

The registry writes countries by their full English name ("United States", "Korea, Republic
of") and US states in full ("California").  :func:`country` and :func:`state` turn the
common short forms (USA, US, UK, South Korea, CA, NY…) into the registry's spelling, lower
case as ``version_place`` holds it.
"""

from __future__ import annotations

import math
import re

from harvester.errors import UsageError

_COUNTRIES = {
    "united states": ("usa", "us", "u.s.", "u.s.a.", "united states of america", "america"),
    "united kingdom": ("uk", "u.k.", "gb", "great britain", "britain", "england", "scotland",
                       "wales", "northern ireland"),
    "korea, republic of": ("south korea", "korea", "republic of korea", "kr"),
    "korea, democratic people's republic of": ("north korea",),
    "russian federation": ("russia",),
    "iran, islamic republic of": ("iran",),
    "czechia": ("czech republic",),
    "turkey": ("türkiye", "turkiye"),
    "netherlands": ("holland", "the netherlands"),
    "taiwan": ("republic of china",),
    "china": ("prc", "people's republic of china", "mainland china"),
    "viet nam": ("vietnam",),
    "moldova, republic of": ("moldova",),
    "syrian arab republic": ("syria",),
    "lao people's democratic republic": ("laos",),
    "tanzania": ("united republic of tanzania",),
    "united arab emirates": ("uae",),
    "germany": ("de",),
    "france": ("fr",),
    "canada": ("ca",),
}
#: Registry country names that hold a comma (not a list of two).
COMMA_NAMES = frozenset({
    "korea, republic of", "korea, democratic people's republic of", "iran, islamic republic of",
    "moldova, republic of", "congo, the democratic republic of the", "macedonia, the former "
    "yugoslav republic of", "micronesia, federated states of", "virgin islands, u.s.",
    "virgin islands, british", "tanzania, united republic of", "palestine, state of",
    "bolivia, plurinational state of", "venezuela, bolivarian republic of"})
_COUNTRY_ALIASES = {alias: name for name, aliases in _COUNTRIES.items() for alias in aliases}
# "CA" is Canada as a country but California as a state; a two-letter code is taken as a
# country only by --country.

US_STATES = {
    "al": "alabama", "ak": "alaska", "az": "arizona", "ar": "arkansas", "ca": "california",
    "co": "colorado", "ct": "connecticut", "de": "delaware", "fl": "florida", "ga": "georgia",
    "hi": "hawaii", "id": "idaho", "il": "illinois", "in": "indiana", "ia": "iowa",
    "ks": "kansas", "ky": "kentucky", "la": "louisiana", "me": "maine", "md": "maryland",
    "ma": "massachusetts", "mi": "michigan", "mn": "minnesota", "ms": "mississippi",
    "mo": "missouri", "mt": "montana", "ne": "nebraska", "nv": "nevada",
    "nh": "new hampshire", "nj": "new jersey", "nm": "new mexico", "ny": "new york",
    "nc": "north carolina", "nd": "north dakota", "oh": "ohio", "ok": "oklahoma",
    "or": "oregon", "pa": "pennsylvania", "ri": "rhode island", "sc": "south carolina",
    "sd": "south dakota", "tn": "tennessee", "tx": "texas", "ut": "utah", "vt": "vermont",
    "va": "virginia", "wa": "washington", "wv": "west virginia", "wi": "wisconsin",
    "wy": "wyoming", "dc": "district of columbia", "pr": "puerto rico",
}
_CITIES = {"nyc": "new york", "new york city": "new york", "la": "los angeles",
           "sf": "san francisco", "washington dc": "washington", "washington, dc": "washington",
           "d.c.": "washington"}


def _clean(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split()).lower()


def country(text: str) -> str:
    """The registry's name of a country, lower case: ``USA`` → ``united states``."""
    name = _clean(text)
    return _COUNTRY_ALIASES.get(name, name)


def state(text: str) -> str:
    """A state or region, lower case; US postal codes spelt out (``CA`` → ``california``)."""
    name = _clean(text).rstrip(".")
    return US_STATES.get(name, name)


def city(text: str) -> str:
    name = _clean(text)
    return _CITIES.get(name, name)


# --- distances -----------------------------------------------------------------------------

EARTH_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_KM / 180
MILE_KM = 1.609344
_DISTANCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km|mi|miles?|kilometers?|kilometres?)?\s*$",
                       re.IGNORECASE)
_POINT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


def distance_km(text: str) -> float:
    """``50km``, ``50 mi``, ``30`` (km) → kilometres (UsageError otherwise)."""
    m = _DISTANCE.match(text)
    if not m:
        raise UsageError(f"--within: {text!r} is not a distance (e.g. 50km or 30mi)")
    value = float(m.group(1))
    return value * MILE_KM if (m.group(2) or "km").lower().startswith("mi") else value


def point(text: str) -> tuple[float, float] | None:
    """``LAT,LON`` → the point; None when the text is not two numbers (a place name)."""
    m = _POINT.match(text)
    if not m:
        return None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UsageError(f"--near: {text!r} is not a latitude,longitude")
    return lat, lon


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    """The point on the unit sphere (x, y, z), z towards the north pole."""
    phi, lam = math.radians(lat), math.radians(lon)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


def chord(km: float) -> float:
    """The straight-line distance on the unit sphere of a great-circle distance ``km``:
    ``|p - q| <= chord(km)`` exactly when p and q are at most ``km`` apart."""
    return 2 * math.sin(min(km / EARTH_KM, math.pi) / 2)
