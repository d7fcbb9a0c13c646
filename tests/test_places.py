"""Place names and distances (harvester/catalogue/places.py)."""

from __future__ import annotations

import math

import pytest

from harvester.catalogue import places
from harvester.errors import UsageError


@pytest.mark.parametrize(("given", "registry"), [
    ("USA", "united states"), ("us", "united states"), ("U.S.A.", "united states"),
    ("UK", "united kingdom"), ("South Korea", "korea, republic of"), ("France", "france"),
    ("Russia", "russian federation"), ("  united   states ", "united states")])
def test_country_aliases(given: str, registry: str) -> None:
    assert places.country(given) == registry


def test_states_and_cities() -> None:
    assert places.state("CA") == "california" and places.state("New York") == "new york"
    assert places.city("NYC") == "new york"


def test_distances() -> None:
    assert places.distance_km("50km") == 50
    assert places.distance_km("50 mi") == pytest.approx(80.4672)
    assert places.distance_km("30") == 30
    with pytest.raises(UsageError):
        places.distance_km("far")
    assert places.point("42.36,-71.06") == (42.36, -71.06)
    assert places.point("Boston, USA") is None
    with pytest.raises(UsageError):
        places.point("95,10")
    # Boston to New York is about 306 km
    boston, new_york = (42.3601, -71.0589), (40.7128, -74.0060)
    assert places.haversine_km(boston, new_york) == pytest.approx(306, abs=2)


@pytest.mark.parametrize("km", [1.0, 50.0, 306.0, 5000.0])
def test_the_chord_test_agrees_with_haversine(km: float) -> None:
    a = places.unit_vector(42.3601, -71.0589)
    b = places.unit_vector(40.7128, -74.0060)
    chord = math.dist(a, b)
    assert (chord <= places.chord(km)) == (
        places.haversine_km((42.3601, -71.0589), (40.7128, -74.0060)) <= km)
