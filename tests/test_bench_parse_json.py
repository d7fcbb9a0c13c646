"""bench/parse_json.py's cold figure: it must empty every per-text cache the parser keeps,
or repeating the corpus would let the caches answer what a first import computes."""

from __future__ import annotations

import importlib
import pkgutil

import parsers
from bench import parse_json


def _bounded_caches() -> set[object]:
    """Every size-bounded functools cache held at module level by a parser module (the
    unbounded ones are fixed vocabulary tables, the same for every study)."""
    found = set()
    for info in pkgutil.iter_modules(parsers.__path__):
        module = importlib.import_module(f"parsers.{info.name}")
        for value in vars(module).values():
            params = getattr(value, "cache_parameters", None)
            if params is not None and params()["maxsize"] is not None:
                found.add(value)
    return found


def test_cold_parse_empties_every_parser_cache() -> None:
    assert _bounded_caches() == set(parse_json.CACHES)


def test_cold_parse_equals_the_parse_and_starts_each_pass_empty() -> None:
    payloads = parse_json.corpus()[:3]
    cold = parse_json.cold(len(payloads))
    from parsers import ctgov_json

    for data in payloads:
        assert cold(data) == ctgov_json.parse(data)
    # the parser filled its caches; the next pass starts with them empty
    assert any(cache.cache_info().currsize for cache in parse_json.CACHES)
    cold(payloads[0])
    assert parse_json._json_protocol._criteria.cache_info().currsize <= 1
