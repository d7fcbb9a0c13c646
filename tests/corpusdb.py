"""A catalogue of the whole corpus, built once per test session and database and shared,
read-only, by the search, full-text and selection tests (building it takes seconds).

A module uses it by binding the fixture into its namespace (``corpus_url =
corpusdb.corpus_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, empty_catalogue, trials

SNAPSHOTS = FIXTURES / "ctgov-history" / "api-v2-snapshots"
#: What the corpus catalogue holds: API v2 studies, legacy XML, the history snapshots of
#: NCT02552212 and NCT06203210, and the Veeva page of NCT00557986 with the partial API
#: record of the same trial (two sources of one trial).
CORPUS: tuple[Path, ...] = (FIXTURES / "ctgov-v2-json" / "studies", FIXTURES / "ctgov-xml",
                            *sorted(SNAPSHOTS.glob("NCT*__vh*")),
                            FIXTURES / "mirror-veeva" / "NCT00557986.html",
                            FIXTURES / "constructed" / "NCT00557986__ctgov-partial.json")


@contextmanager
def corpus_catalogue(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a catalogue holding :data:`CORPUS`."""
    with empty_catalogue(kind, folder) as url:
        result = trials(url, "import", *CORPUS)
        assert result.exit_code == 0, result.stderr
        yield url


_BUILT: dict[str, str] = {}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def corpus_url(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of the shared corpus catalogue (read-only: tests that write make their own).

    Bound into several modules, the fixture is one per module for pytest: the catalogue is
    built by the first and kept (and dropped) for the whole run.
    """
    kind = request.param
    if kind not in _BUILT:
        stack = ExitStack()
        _BUILT[kind] = stack.enter_context(
            corpus_catalogue(kind, tmp_path_factory.mktemp("corpus")))
        request.config.add_cleanup(stack.close)
    return _BUILT[kind]
