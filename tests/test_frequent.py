"""The frequent words of the area index (harvester/find/frequent.py): SQLite's vocabulary
and PostgreSQL's counts (whole, or in a sample of the index) agree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.catalogue import Catalogue, areas
from harvester.find import frequent
from tests.conftest import empty_catalogue, trials
from tests.corpusdb import CORPUS


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalogue, Catalogue]]:
    """The corpus indexed on SQLite and on PostgreSQL (skipped without PostgreSQL)."""
    folder: Path = tmp_path_factory.mktemp("frequent")
    with empty_catalogue("sqlite", folder) as lite, \
            empty_catalogue("postgresql", folder) as pg:
        for url in (lite, pg):
            assert trials(url, "import", *CORPUS).exit_code == 0
        with Catalogue.open(lite) as one, Catalogue.open(pg) as other:
            for catalogue in (one, other):
                areas.catch_up(catalogue.engine)
            yield one, other


def _words(catalogue: Catalogue, min_docs: int) -> dict[tuple[str, str], int]:
    with catalogue.engine.connect() as conn:
        return {(area, word): docs for area, word, docs in frequent.words(conn, min_docs)}


def test_both_databases_count_the_same_words(both: tuple[Catalogue, Catalogue]) -> None:
    """An index no larger than the sample is counted whole on PostgreSQL: the same counts
    as SQLite's vocabulary — in the words' box (any column) and in each area (its most in
    one column) — but where a trial's column runs past PostgreSQL's last position (16,383:
    a site list of thousands), whose words beyond it that index does not hold."""
    lite, pg = both
    mine, theirs = _words(lite, 3), _words(pg, 3)
    assert len(mine) > 300 and {area for area, _ in mine} == {"term", *frequent.AREAS}
    assert set(theirs) <= set(mine) and all(n <= mine[k] for k, n in theirs.items())
    same = sum(theirs.get(k) == n for k, n in mine.items())
    assert same >= 0.97 * len(mine), (same, len(mine))
    assert mine[("term", "patient")] >= mine[("cond", "cancer")] > 3
    few = _words(lite, 30)
    assert few and set(few) < set(mine) and all(n >= 30 for n in few.values())


def test_a_large_index_is_counted_in_a_sample(both: tuple[Catalogue, Catalogue],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An index larger than the sample: its words are counted in a sample of its rows
    and scaled to the whole; the most frequent are found, their counts near the true
    ones, and a word near the threshold is kept (the slack) rather than lost."""
    _, pg = both
    exact = {w: n for (area, w), n in _words(pg, 3).items() if area == "term"}
    with pg.engine.connect() as conn:
        total = areas.count(conn)
    monkeypatch.setattr(frequent, "SAMPLE", total // 3)
    sampled = {w: n for (area, w), n in _words(pg, 3).items() if area == "term"}
    assert sampled != exact  # counted in a sample, scaled
    top = sorted(exact, key=lambda w: -exact[w])[:10]
    assert all(w in sampled and exact[w] / 2 <= sampled[w] <= exact[w] * 2 for w in top)
