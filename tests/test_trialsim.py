"""bench/trialsim.py: the TrialSim rows are read and accounted for, every ranker and baseline
is scored on the same rows and footing, and ids are found in the catalogue (or as aliases)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from bench.trialsim import (
    INCOMPLETE,
    NO_CANDIDATE,
    NO_POSITIVE,
    NO_QUERY,
    Row,
    load_rows,
    resolve,
    run,
    score_row,
    summarise,
)
from harvester.catalogue import Catalogue
from harvester.errors import NotFoundError
from harvester.ingest.importer import Importer
from tests.conftest import FIXTURES

DATA = FIXTURES / "trialsim"


@dataclass(frozen=True)
class _Trial:
    nct_id: str


@dataclass
class _Result:
    matches: list[_Trial]
    duplicates: list[_Trial] = field(default_factory=list)


class _InOrder:
    """Ranks the candidates as given (file order), or reversed; some called duplicates."""

    def __init__(self, reverse: bool = False, twins: Sequence[str] = ()) -> None:
        self.reverse = reverse
        self.twins = set(twins)
        self.asked: list[tuple[str, int, list[str]]] = []

    def similar_to_id(self, nct_id: str, *, top: int = 10,
                      among: Sequence[str] | None = None) -> _Result:
        assert among is not None
        self.asked.append((nct_id, top, list(among)))
        order = list(reversed(among)) if self.reverse else list(among)
        return _Result([_Trial(i) for i in order if i not in self.twins],
                       [_Trial(i) for i in order if i in self.twins])


def _everything(rows: Sequence[Row]) -> dict[str, str]:
    return {i: i for r in rows for i in (r.query, *r.candidates)}


def test_the_rows() -> None:
    rows = load_rows(DATA)
    assert len(rows) == 161 and sum(1 for r in rows if any(r.labels)) == 105
    assert rows[0].query == "NCT02112175" and rows[0].labels[:3] == (1, 1, 0)
    assert len(set(rows[147].candidates)) == 9  # one candidate listed twice
    assert sum(sum(r.labels) for r in rows) == 312


def test_file_order_reproduces_the_reference_on_all_rows() -> None:
    rows = load_rows(DATA)
    ranker = _InOrder()
    outcomes = run(rows, ranker, _everything(rows))
    summary = summarise(outcomes, {})
    assert summary["scored"] == 105 and summary["skipped"] == {NO_POSITIVE: 56}
    assert summary["scored_with_missing_candidates"] == 0
    assert summary["trials_similar"] == summary["file_order"]
    assert summary["file_order"]["nDCG@5"] == pytest.approx(0.501, abs=1e-3)
    assert summary["file_order"]["P@1"] == pytest.approx(0.448, abs=1e-3)
    assert summary["random_order"]["nDCG@5"] == pytest.approx(0.412, abs=1e-3)
    assert summary["best_possible"]["P@2"] == pytest.approx(0.862, abs=1e-3)
    # Each row asked once, for its distinct candidates, all of them ranked.
    assert len(ranker.asked) == 105
    assert all(top == len(among) == len(set(among)) for _, top, among in ranker.asked)


def test_a_reversed_ranking_scores_differently_on_the_same_rows() -> None:
    rows = load_rows(DATA)
    summary = summarise(run(rows, _InOrder(reverse=True), _everything(rows)), {})
    assert summary["scored"] == 105
    assert summary["trials_similar"]["nDCG@5"] < summary["random_order"]["nDCG@5"]
    assert summary["file_order"]["nDCG@5"] == pytest.approx(0.501, abs=1e-3)


def test_missing_trials_are_counted_and_placed_last_for_everyone() -> None:
    row = Row(7, "NCT00000001", tuple(f"NCT0000001{i}" for i in range(10)),
              (0, 1, 0, 0, 1, 0, 0, 0, 1, 0))
    mapping = _everything([row])
    del mapping["NCT00000011"], mapping["NCT00000013"]  # the first relevant one is missing
    out = score_row(row, _InOrder(reverse=True), mapping)
    assert out.skipped is None and out.missing == ["NCT00000011", "NCT00000013"]
    # ours: the present reversed: …19 …18+ …17 …16 …15 …14+ …12 …10, then …11+ …13
    assert out.ours["P@1"] == 0.0 and out.ours["P@2"] == 0.5
    assert out.ours["R@5"] == pytest.approx(1 / 3)
    # file order on the same footing: …10 …12 …14+ …15 …16, the missing …11+ only at 9th
    assert out.file_order["P@5"] == pytest.approx(0.2)
    assert out.oracle["R@2"] == pytest.approx(2 / 3)  # the missing relevant one is out of reach
    assert out.random["P@1"] == pytest.approx(2 / 8)  # two relevant among the 8 present
    assert score_row(row, _InOrder(), mapping, complete_only=True).skipped == INCOMPLETE
    assert score_row(row, _InOrder(), {}).skipped == NO_QUERY
    assert score_row(row, _InOrder(), {"NCT00000001": "NCT00000001"}).skipped == NO_CANDIDATE
    empty = Row(8, "NCT00000001", row.candidates, (0,) * 10)
    assert score_row(empty, _InOrder(), mapping).skipped == NO_POSITIVE


def test_duplicates_rank_first_and_aliases_resolve() -> None:
    row = Row(1, "NCT00000001", tuple(f"NCT0000001{i}" for i in range(10)),
              (0, 0, 0, 0, 0, 0, 0, 0, 0, 1))
    mapping = _everything([row])
    out = score_row(row, _InOrder(twins=["NCT00000019"]), mapping)
    assert out.duplicates == ["NCT00000019"] and out.duplicates_relevant == 1
    assert out.ours["P@1"] == 1.0 and out.file_order["P@1"] == 0.0
    # A candidate that is the query under an old id (an alias) is the query's twin.
    mapping["NCT00000019"] = "NCT00000001"
    ranker = _InOrder()
    out = score_row(row, ranker, mapping)
    assert out.duplicates == ["NCT00000001"] and out.ours["P@1"] == 1.0
    assert "NCT00000001" not in ranker.asked[-1][2]


class _Failing:
    def similar_to_id(self, nct_id: str, *, top: int = 10,
                      among: Sequence[str] | None = None) -> _Result:
        raise NotFoundError(f"{nct_id} is not in the catalogue")


def test_an_engine_error_is_a_reported_skip() -> None:
    rows = load_rows(DATA)[:3]
    outcomes = run(rows, _Failing(), _everything(rows))
    summary = summarise(outcomes, {})
    assert summary["scored"] == 0
    assert summary["skipped"] == {"engine error: NotFoundError": 2, NO_POSITIVE: 1}
    assert outcomes[0].error == "NCT02112175 is not in the catalogue"


def test_resolve_finds_trials_and_aliases(db_url: str) -> None:
    with Catalogue.open(db_url) as catalogue:
        Importer(catalogue, workers=1).run([
            FIXTURES / "ctgov-v2-json" / "studies" / "NCT00189228__partrita-tigit.json",
            FIXTURES / "ctgov-v2-json" / "studies" / "NCT06631677__partrita-tigit.json"])
        mapping, aliases = resolve(catalogue, ["NCT00189228", "NCT00201097", "NCT99999999",
                                               "NCT06369467"])
    assert mapping == {"NCT00189228": "NCT00189228", "NCT00201097": "NCT00189228"}
    assert aliases == {"NCT00201097": "NCT00189228"}
    # NCT06369467 is named in NCT06631677's title, but is not its alias: not resolved.
