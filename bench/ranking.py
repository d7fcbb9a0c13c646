"""Ranking metrics the similarity benchmarks share: precision, recall and nDCG at k with
binary gains, and their exact expectation under a random order.

A ranking is given as its *gains*, best first: 1 for a relevant item, 0 for one that is not
(a float between them only for an expected gain, see :func:`expected_gains`).  ``relevant``
is the number of relevant items there are to find, which may be more than the ranking
holds (an engine that returns only its top 5 of 8 relevant trials); it defaults to the
ranking's own sum.  The definitions are Trial2Vec's own evaluator's (``trial2vec/metrics.py``):

- P@k = relevant items among the first k / k (a list shorter than k counts its gaps as
  misses);
- R@k = relevant items among the first k / relevant;
- nDCG@k = Σ_{i<k} gain_i / log2(i + 2), divided by the same sum for the ideal ranking
  (``min(relevant, k)`` ones first).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

#: The TrialSim protocol's figures (Trial2Vec paper): P@1,2,5, R@1,2,5, nDCG@5.
TRIALSIM_METRICS = ("P@1", "P@2", "P@5", "R@1", "R@2", "R@5", "nDCG@5")


class Item(Protocol):
    @property
    def nct_id(self) -> str: ...


class Ranked(Protocol):
    """What the benches read of a ``SimilarResult`` (so a test can pass a fake)."""

    @property
    def matches(self) -> Sequence[Item]: ...

    @property
    def duplicates(self) -> Sequence[Item]: ...


def _relevant(gains: Sequence[float], relevant: float | None) -> float:
    total = sum(gains) if relevant is None else relevant
    if total <= 0:
        raise ValueError("recall and nDCG need at least one relevant item")
    if total + 1e-9 < sum(gains):
        raise ValueError(f"the ranking holds {sum(gains)} relevant items, more than "
                         f"relevant={relevant}")
    return total


def precision_at(gains: Sequence[float], k: int) -> float:
    """Relevant items among the first ``k``, divided by ``k``."""
    if k < 1:
        raise ValueError("k must be at least 1")
    return sum(gains[:k]) / k


def recall_at(gains: Sequence[float], k: int, relevant: float | None = None) -> float:
    """Relevant items among the first ``k``, divided by all there are to find."""
    if k < 1:
        raise ValueError("k must be at least 1")
    return sum(gains[:k]) / _relevant(gains, relevant)


def dcg_at(gains: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of the first ``k`` positions (log2 discount)."""
    return sum(gain / math.log2(i + 2) for i, gain in enumerate(gains[:k]))


def ndcg_at(gains: Sequence[float], k: int, relevant: float | None = None) -> float:
    """DCG@k over the DCG@k of the ideal ranking of ``relevant`` binary items."""
    if k < 1:
        raise ValueError("k must be at least 1")
    total = _relevant(gains, relevant)
    ideal = dcg_at([1.0] * min(math.ceil(total - 1e-9), k), k)
    return dcg_at(gains, k) / ideal


def scores(gains: Sequence[float], relevant: float | None = None,
           names: Iterable[str] = TRIALSIM_METRICS) -> dict[str, float]:
    """The named metrics (``P@k``, ``R@k``, ``nDCG@k``) of one ranking."""
    out = {}
    for name in names:
        kind, _, k_text = name.partition("@")
        k = int(k_text)
        if kind == "P":
            out[name] = precision_at(gains, k)
        elif kind == "R":
            out[name] = recall_at(gains, k, relevant)
        elif kind == "nDCG":
            out[name] = ndcg_at(gains, k, relevant)
        else:
            raise ValueError(f"unknown metric {name!r} (P@k, R@k or nDCG@k)")
    return out


def expected_gains(gains: Sequence[float], shuffled: int | None = None) -> list[float]:
    """The expected gain at each position when the first ``shuffled`` items (default: all)
    are put in a uniformly random order and the rest stay where they are.

    Every metric here is linear in the gains and their ideal depends only on how many are
    relevant, so the metrics of these expected gains are the exact expectations of the
    metrics under the random order (no sampling)."""
    n = len(gains) if shuffled is None else shuffled
    if not 0 <= n <= len(gains):
        raise ValueError(f"shuffled={shuffled} is outside 0..{len(gains)}")
    mean = sum(gains[:n]) / n if n else 0.0
    return [mean] * n + [float(g) for g in gains[n:]]


def expected_random(gains: Sequence[float], shuffled: int | None = None,
                    relevant: float | None = None,
                    names: Iterable[str] = TRIALSIM_METRICS) -> dict[str, float]:
    """The expected metrics of a random order of the first ``shuffled`` items."""
    return scores(expected_gains(gains, shuffled), relevant, names)


def mean(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each metric over rows (queries); empty when there are none."""
    if not rows:
        return {}
    return {name: sum(row[name] for row in rows) / len(rows) for name in rows[0]}
