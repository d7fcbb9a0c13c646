"""The ranking metrics of bench/ranking.py: hand-computed values, brute-force expectations,
and the TrialSim reference figures recomputed from the copy of its table."""

from __future__ import annotations

import csv
import itertools
import math

import pytest

from bench.ranking import (
    dcg_at,
    expected_gains,
    expected_random,
    mean,
    ndcg_at,
    precision_at,
    recall_at,
    scores,
)
from tests.conftest import FIXTURES

TRIALSIM = FIXTURES / "trialsim" / "TrialSim-data.wide.csv"


def test_metrics_of_a_small_ranking_by_hand() -> None:
    gains = [1, 0, 1, 0, 0]  # two relevant, at positions 1 and 3
    assert precision_at(gains, 1) == 1.0
    assert precision_at(gains, 2) == 0.5
    assert precision_at(gains, 5) == pytest.approx(0.4)
    assert recall_at(gains, 1) == 0.5
    assert recall_at(gains, 2) == 0.5
    assert recall_at(gains, 5) == 1.0
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3) = 1.63093
    assert dcg_at(gains, 5) == pytest.approx(1.5)
    assert ndcg_at(gains, 5) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at(gains, 5) == pytest.approx(0.91972, abs=1e-5)
    assert ndcg_at([0, 0, 1, 1, 0], 2) == 0.0
    assert ndcg_at([1, 1, 0], 5) == pytest.approx(1.0)


def test_a_short_list_and_relevant_items_it_never_returned() -> None:
    """An engine returned two trials, one relevant, but three were there to find."""
    gains = [0, 1]
    assert precision_at(gains, 5) == pytest.approx(0.2)  # the gaps count as misses
    assert recall_at(gains, 5, relevant=3) == pytest.approx(1 / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(gains, 5, relevant=3) == pytest.approx((1 / math.log2(3)) / ideal)
    assert ndcg_at(gains, 5, relevant=3) == pytest.approx(0.29609, abs=1e-5)
    got = scores(gains, 3, ["P@1", "P@3", "R@5", "nDCG@5"])
    assert got == pytest.approx({"P@1": 0.0, "P@3": 1 / 3, "R@5": 1 / 3,
                                 "nDCG@5": ndcg_at(gains, 5, 3)})


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one relevant"):
        recall_at([0, 0], 2)
    with pytest.raises(ValueError, match="at least one relevant"):
        ndcg_at([0, 0], 2)
    with pytest.raises(ValueError, match="more than"):
        recall_at([1, 1], 2, relevant=1)
    with pytest.raises(ValueError, match="k must be"):
        precision_at([1], 0)
    with pytest.raises(ValueError, match="unknown metric"):
        scores([1], names=["MAP@5"])
    with pytest.raises(ValueError, match="outside"):
        expected_gains([1, 0], 3)


def _brute_force(gains: list[int], shuffled: int, names: list[str]) -> dict[str, float]:
    """The metrics averaged over every order of the first ``shuffled`` items."""
    rows = [scores([*head, *gains[shuffled:]], sum(gains), names)
            for head in itertools.permutations(gains[:shuffled])]
    return mean(rows)


@pytest.mark.parametrize(("gains", "shuffled"), [
    ([1, 0, 0, 0], 4),
    ([0, 1, 1, 0, 0, 1, 0], 7),
    ([1, 0, 0, 1, 0, 1], 4),  # the last two stay in place (missing candidates placed last)
    ([0, 0, 1], 0),
])
def test_random_expectation_is_exact(gains: list[int], shuffled: int) -> None:
    names = ["P@1", "P@2", "P@5", "R@1", "R@2", "R@5", "nDCG@2", "nDCG@5"]
    assert expected_random(gains, shuffled, names=names) == pytest.approx(
        _brute_force(gains, shuffled, names))


def test_random_expectation_by_hand() -> None:
    got = expected_random([1, 0, 0, 0], names=["P@1", "R@2", "nDCG@2"])
    assert got == pytest.approx({"P@1": 0.25, "R@2": 0.5,
                                 "nDCG@2": 0.25 + 0.25 / math.log2(3)})


def _trialsim_rows() -> list[list[int]]:
    with TRIALSIM.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 161
    return [[int(row[f"label_{i}"]) for i in range(1, 11)] for row in rows]


def test_trialsim_reference_figures() -> None:
    """The figures ../shared/benchmarks/trial2vec/PROVENANCE.md gives for the 105 rows that
    have a positive label."""
    rows = [labels for labels in _trialsim_rows() if any(labels)]  # figures rounded to 3 places
    assert len(rows) == 105
    stored = mean([scores(labels) for labels in rows])
    assert stored["nDCG@5"] == pytest.approx(0.501, abs=1e-3)
    assert stored["P@1"] == pytest.approx(0.448, abs=1e-3)
    assert stored["P@5"] == pytest.approx(0.339, abs=1e-3)
    assert stored["R@5"] == pytest.approx(0.555, abs=1e-3)
    oracle = mean([scores(sorted(labels, reverse=True)) for labels in rows])
    assert oracle == pytest.approx({"P@1": 1.0, "P@2": 0.862, "P@5": 0.560, "R@1": 0.505,
                                    "R@2": 0.735, "R@5": 0.977, "nDCG@5": 1.0}, abs=1e-3)
    random = mean([expected_random(labels) for labels in rows])
    assert random["nDCG@5"] == pytest.approx(0.412, abs=1e-3)
    # The provenance's random P and R figures were sampled; these are the expectations.
    assert random["P@1"] == pytest.approx(312 / 1050)
    assert random["R@5"] == pytest.approx(0.5)
    assert random["P@1"] == pytest.approx(0.298, abs=2e-3)
