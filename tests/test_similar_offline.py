"""bench/similar_offline.py: the hand labels hold together, refer to trials of the catalogue
the fixture paths make, and are scored as the bench says."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.similar_offline import (
    LABELS,
    Label,
    build,
    catalogue_paths,
    evaluate,
    load_labels,
    summarise,
)
from harvester.catalogue import Catalogue
from harvester.errors import NotFoundError
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    url = f"sqlite:///{tmp_path_factory.mktemp('similar') / 'catalogue.sqlite'}"
    catalogue, built = build(url, catalogue_paths())
    assert built["failed"] == 0, built["problems"]
    yield catalogue
    catalogue.close()


def test_the_catalogue_of_the_labels(catalogue: Catalogue) -> None:
    paths = catalogue_paths()
    names = {p.name for p in paths}
    assert "biomcp__capture-receipts.json" not in names
    assert "NCT06203210__watcher-diff-log__partrita-tigit.json" not in names
    assert "NCT00557986.txt" in names and "NCT06203210__vh2026-03-09__partrita-tigit.json" in names
    ids = set(catalogue.trial_ids())
    assert len(ids) == 92
    assert {"NCT06203210", "NCT07281079", "NCT05915728", "NCT00557986", "NCT99000001"} <= ids


def test_every_labelled_trial_is_in_the_catalogue(catalogue: Catalogue) -> None:
    labels = load_labels()
    ids = set(catalogue.trial_ids())
    assert {i for x in labels for i in (x.query, x.candidate)} <= ids
    queries = {x.query for x in labels}
    assert 15 <= len(queries) <= 40
    assert all(any(x.label for x in labels if x.query == q) for q in queries)
    scored = {x.query for x in labels if x.label and x.relation == "similar"}
    assert len(scored) == 32 and len(queries - scored) == 2  # two check duplicates only


def test_labels_are_symmetric_where_both_are_queries() -> None:
    labels = load_labels()
    given = {(x.query, x.candidate): x.label for x in labels}
    queries = {x.query for x in labels}
    for (query, candidate), label in given.items():
        if candidate in queries and label == 1:
            assert given.get((candidate, query)) == 1, (query, candidate)


@pytest.mark.parametrize(("text", "error"), [
    ("query\tcandidate\n", "header"),
    ("{h}NCT00000001\tNCT0000002\t1\tsimilar\tshort id\n", "bad row"),
    ("{h}NCT00000001\tNCT00000002\t2\tsimilar\tlabel 2\n", "bad row"),
    ("{h}NCT00000001\tNCT00000002\t1\tdupe\trelation\n", "bad row"),
    ("{h}NCT00000001\tNCT00000002\t1\tsimilar\n", "4 fields"),
    ("{h}NCT00000001\tNCT00000002\t1\tsimilar\ta\nNCT00000001\tNCT00000002\t0\tsimilar\tb\n",
     "repeated"),
    ("{h}NCT00000001\tNCT00000001\t1\tsimilar\titself\n", "itself"),
    ("{h}NCT00000001\tNCT00000001\t0\tsame-trial\tnot the same\n", "without a relevant"),
    ("{h}NCT00000001\tNCT00000002\t0\tsimilar\tonly a near-miss\n", "without a relevant"),
])
def test_bad_label_files_are_refused(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "labels.tsv"
    header = "query_nct_id\tcandidate_nct_id\tlabel\trelation\treason\n"
    path.write_text(text.replace("{h}", header))
    with pytest.raises(ValueError, match=error):
        load_labels(path)


def test_a_missing_excluded_file_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "catalogue.txt"
    spec.write_text("constructed\n-constructed/nothing.json\n")
    with pytest.raises(ValueError, match="not there"):
        catalogue_paths(spec, FIXTURES)
    spec.write_text("# comment\nconstructed\n-constructed/NCT00557986__ctgov-partial.json\n"
                    "mirror-veeva/NCT00557986.txt\n")
    assert catalogue_paths(spec, FIXTURES) == [
        *sorted(p for p in (FIXTURES / "constructed").iterdir()
                if p.name != "NCT00557986__ctgov-partial.json"),
        FIXTURES / "mirror-veeva" / "NCT00557986.txt"]
    assert (LABELS / "catalogue.txt").exists()


@dataclass(frozen=True)
class _Trial:
    nct_id: str


@dataclass(frozen=True)
class _Result:
    matches: list[_Trial]
    duplicates: list[_Trial]


class _Fixed:
    """Answers each query with a fixed list of matches and duplicates."""

    def __init__(self, answers: dict[str, tuple[Sequence[str], Sequence[str]]]) -> None:
        self.answers = answers

    def similar_to_id(self, nct_id: str, *, top: int = 10) -> _Result:
        if nct_id not in self.answers:
            raise NotFoundError(f"no trial {nct_id}")
        matches, duplicates = self.answers[nct_id]
        return _Result([_Trial(i) for i in matches[:top]], [_Trial(i) for i in duplicates])


def test_scoring_and_checks() -> None:
    labels = [Label("NCT00000001", "NCT00000002", 1, "similar", "r"),
              Label("NCT00000001", "NCT00000003", 1, "similar", "r"),
              Label("NCT00000001", "NCT00000004", 0, "similar", "near-miss"),
              Label("NCT00000001", "NCT00000005", 1, "same-trial", "alias"),
              Label("NCT00000006", "NCT00000007", 1, "similar", "r"),
              Label("NCT00000006", "NCT00000008", 1, "same-trial", "other source"),
              Label("NCT00000009", "NCT00000002", 1, "similar", "r"),
              Label("NCT00000011", "NCT00000012", 1, "similar", "r"),
              Label("NCT00000011", "NCT00000011", 1, "same-trial", "its mirror page")]
    ranker = _Fixed({
        "NCT00000001": (["NCT00000004", "NCT00000002", "NCT00000010"], ["NCT00000005"]),
        "NCT00000006": (["NCT00000008", "NCT00000006"], ["NCT00000007"]),
        "NCT00000011": (["NCT00000012"], ["NCT00000011"]),
    })
    reports = evaluate(ranker, labels, trials=100, top=10)
    first, second, third, fourth = reports
    assert first.scores["P@1"] == 0.0 and first.scores["P@3"] == pytest.approx(1 / 3)
    assert first.scores["R@5"] == 0.5 and first.missed == ["NCT00000003"]
    assert first.near_misses_top5 == ["NCT00000004"]
    assert first.same_found == ["NCT00000005"] and not first.same_leaked
    assert first.top5 == ["NCT00000004x", "NCT00000002+", "NCT00000010"]
    assert first.random["P@1"] == pytest.approx(2 / 98)  # 100 trials less query and its twin
    assert first.ideal["P@5"] == pytest.approx(0.4)
    assert second.same_leaked == ["NCT00000008"] and second.self_returned
    assert second.false_duplicates == ["NCT00000007"] and second.scores["P@1"] == 0.0
    assert third.error == "NotFoundError: no trial NCT00000009" and not third.scores
    assert fourth.same_found == ["NCT00000011"] and not fourth.self_returned
    assert fourth.scores["P@1"] == 1.0 and fourth.random["P@1"] == pytest.approx(1 / 99)
    summary = summarise(reports, labels)
    assert summary["scored"] == 3 and list(summary["failed"]) == ["NCT00000009"]
    assert summary["same_trial_in_duplicates"] == 2 and summary["same_trial_in_similar"] == 1
    assert summary["similar_pairs_called_duplicates"] == [("NCT00000006", "NCT00000007")]
    assert summary["query_returned_as_its_own_match"] == ["NCT00000006"]
    assert summary["scores"]["R@5"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
