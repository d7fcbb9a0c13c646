"""How well ``trials similar`` finds the trials a reviewer judged relevant, on the fixture
corpus: precision@1/3/5, recall@5 and nDCG@5 against hand labels.

Run: ``.venv/bin/python bench/similar_offline.py [--top 10] [--json] [--verbose]``.

Imports the fixture paths listed in ``fixtures/similar-labels/catalogue.txt`` into a
temporary SQLite catalogue (or ``--db URL``, an empty one), builds the similarity index, and
asks for each labelled query's ``top`` most similar trials.  The ``similar`` list is scored
against the query's label-1 ``similar`` pairs (every other trial counts as not relevant);
``same-trial`` pairs are checked apart: they must come out among the ``duplicates``, never
in ``similar`` (a query with only such pairs is checked, not scored).  Also reported:
label-1 similar pairs wrongly called duplicates, the query itself coming back, near-misses
(label 0) in the top 5, the expectation of a random order of the catalogue as a floor, and
the best any ranking could do.  ``--via-cli`` runs ``trials similar --format json``
instead of the library, to check the command's output as well.  How the labels were made:
``fixtures/similar-labels/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ranking import Ranked, expected_random, mean, scores  # noqa: E402
from harvester.catalogue import Catalogue  # noqa: E402
from harvester.errors import HarvesterError  # noqa: E402

FIXTURES = ROOT / "fixtures"
LABELS = FIXTURES / "similar-labels"
METRICS = ("P@1", "P@3", "P@5", "R@5", "nDCG@5")
RELATIONS = ("similar", "same-trial")
_NCT = re.compile(r"^NCT\d{8}$")
_HEADER = ["query_nct_id", "candidate_nct_id", "label", "relation", "reason"]


class Ranker(Protocol):
    """What the bench needs of harvester.find.similar.engine.SimilarityEngine."""

    def similar_to_id(self, nct_id: str, *, top: int = 10) -> Ranked: ...


@dataclass(frozen=True)
class Label:
    query: str
    candidate: str
    label: int  # 1 relevant, 0 judged not relevant (a near-miss worth recording)
    relation: str  # similar or same-trial
    reason: str


def load_labels(path: Path = LABELS / "labels.tsv") -> list[Label]:
    """The labelled pairs, checked: header, NCT ids, 0/1, relation, no pair twice, every
    query with at least one label-1 pair (a query with only ``same-trial`` ones is checked
    for its duplicates, not scored).  A trial is paired with itself only as a
    ``same-trial`` pair: the same NCT id held from another source (a mirror page), which
    belongs among the query's duplicates."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header != _HEADER:
            raise ValueError(f"{path}: header must be {_HEADER}, not {header}")
        labels, seen = [], set()
        for line, row in enumerate(reader, start=2):
            if len(row) != len(_HEADER):
                raise ValueError(f"{path}:{line}: {len(row)} fields, not {len(_HEADER)}")
            query, candidate, label, relation, reason = row
            bad = [v for v in (query, candidate) if not _NCT.match(v)]
            if bad or label not in ("0", "1") or relation not in RELATIONS or not reason:
                raise ValueError(f"{path}:{line}: bad row {row}")
            if (query == candidate and relation != "same-trial") or (
                    (query, candidate) in seen):
                raise ValueError(f"{path}:{line}: pair {query}, {candidate} repeated, or a "
                                 "trial paired with itself as similar")
            seen.add((query, candidate))
            labels.append(Label(query, candidate, int(label), relation, reason))
    lacking = {x.query for x in labels} - {x.query for x in labels if x.label == 1}
    if lacking:
        raise ValueError(f"{path}: queries without a relevant pair: {sorted(lacking)}")
    return labels


def catalogue_paths(spec: Path = LABELS / "catalogue.txt",
                    fixtures: Path = FIXTURES) -> list[Path]:
    """The files to import: every file under the listed folders (and listed files), less
    the ones marked ``-``."""
    include, exclude = [], set()
    for raw in spec.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            exclude.add((fixtures / line[1:].strip()).resolve())
        else:
            include.append(fixtures / line)
    missing = sorted(str(p) for p in exclude if not p.exists())
    if missing:
        raise ValueError(f"{spec}: excluded files that are not there: {missing}")
    files: list[Path] = []
    for path in include:
        if not path.exists():
            raise ValueError(f"{spec}: {path} does not exist")
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        files.extend(p for p in found if p.resolve() not in exclude)
    return files


@dataclass
class QueryReport:
    query: str
    relevant: int
    returned: list[str]
    top5: list[str] = field(default_factory=list)  # id + mark: + relevant, x near-miss, ...
    scores: dict[str, float] = field(default_factory=dict)
    random: dict[str, float] = field(default_factory=dict)
    ideal: dict[str, float] = field(default_factory=dict)  # the best any ranking could do
    duplicates: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # relevant, not in the top
    near_misses_top5: list[str] = field(default_factory=list)
    false_duplicates: list[str] = field(default_factory=list)  # label-1 similar → duplicates
    same_found: list[str] = field(default_factory=list)  # same-trial → duplicates
    same_leaked: list[str] = field(default_factory=list)  # same-trial → similar
    same_lost: list[str] = field(default_factory=list)  # same-trial in neither list
    self_returned: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in self.__dict__.items() if k not in ("scores", "random", "ideal")} | {
            name: {k: round(v, 4) for k, v in getattr(self, name).items()}
            for name in ("scores", "random", "ideal")}


def evaluate(ranker: Ranker, labels: Sequence[Label], trials: int,
             top: int = 10) -> list[QueryReport]:
    """Score ``ranker`` on every labelled query; ``trials`` is the catalogue's size (for the
    random floor).  A query the ranker fails on is reported with its error, not dropped."""
    by_query: dict[str, list[Label]] = {}
    for label in labels:
        by_query.setdefault(label.query, []).append(label)
    reports = []
    for query, pairs in by_query.items():
        relevant = {x.candidate for x in pairs if x.label and x.relation == "similar"}
        same = {x.candidate for x in pairs if x.label and x.relation == "same-trial"}
        near = {x.candidate for x in pairs if not x.label}
        report = QueryReport(query, len(relevant), [])
        reports.append(report)
        try:
            result = ranker.similar_to_id(query, top=top)
        except (HarvesterError, RuntimeError) as exc:  # reported; the other queries go on
            report.error = f"{type(exc).__name__}: {exc}"
            continue
        returned = [m.nct_id for m in result.matches]
        report.returned = returned
        report.duplicates = [d.nct_id for d in result.duplicates]
        report.self_returned = query in returned  # in duplicates it is another source
        report.missed = sorted(relevant - set(returned))
        report.near_misses_top5 = [c for c in returned[:5] if c in near]
        report.false_duplicates = sorted(relevant & set(report.duplicates))
        report.same_found = sorted(same & set(report.duplicates))
        report.same_leaked = sorted(same & set(returned))
        report.same_lost = sorted(same - set(returned) - set(report.duplicates))
        report.top5 = [c + ("+" if c in relevant else "x" if c in near else
                            "=" if c in same else "") for c in returned[:5]]
        if relevant:
            gains = [1 if c in relevant else 0 for c in returned]
            report.scores = scores(gains, len(relevant), METRICS)
            others = trials - 1 - len(same - {query})  # all but the query and its twins
            floor = [1] * len(relevant) + [0] * max(others - len(relevant), 0)
            report.random = expected_random(floor, names=METRICS)
            report.ideal = scores([1] * len(relevant), names=METRICS)
    return reports


class CliRanker:
    """``trials similar NCT --top N --format json`` through click's CliRunner."""

    def __init__(self, db: str) -> None:
        self.db = db

    def similar_to_id(self, nct_id: str, *, top: int = 10) -> Ranked:
        from click.testing import CliRunner

        import cli

        result = CliRunner().invoke(cli.main, ["similar", nct_id, "--db", self.db,
                                               "--top", str(top), "--format", "json"])
        if result.exit_code != 0:
            raise RuntimeError(f"exit {result.exit_code}: {result.output.strip()[-300:]}")
        data = json.loads(result.stdout)
        if data.get("query") != nct_id:
            raise RuntimeError(f"answered for {data.get('query')!r}, not {nct_id}")
        return _CliResult([_CliTrial(x["nct_id"]) for x in data["similar"]],
                          [_CliTrial(x["nct_id"]) for x in data["duplicates"]])


@dataclass(frozen=True)
class _CliTrial:
    nct_id: str


@dataclass(frozen=True)
class _CliResult:
    matches: list[_CliTrial]
    duplicates: list[_CliTrial]


def summarise(reports: Sequence[QueryReport], labels: Sequence[Label]) -> dict[str, Any]:
    scored = [r for r in reports if r.scores]
    same_pairs = sum(1 for x in labels if x.label and x.relation == "same-trial")
    return {
        "queries": len(reports),
        "scored": len(scored),
        "failed": {r.query: r.error for r in reports if r.error},
        "relevant_pairs": sum(1 for x in labels if x.label and x.relation == "similar"),
        "near_miss_pairs": sum(1 for x in labels if not x.label),
        "scores": {k: round(v, 4) for k, v in mean([r.scores for r in scored]).items()},
        "random_order": {k: round(v, 4) for k, v in mean([r.random for r in scored]).items()},
        "best_possible": {k: round(v, 4) for k, v in mean([r.ideal for r in scored]).items()},
        "same_trial_pairs": same_pairs,
        "same_trial_in_duplicates": sum(len(r.same_found) for r in reports),
        "same_trial_in_similar": sum(len(r.same_leaked) for r in reports),
        "same_trial_in_neither": sum(len(r.same_lost) for r in reports),
        "similar_pairs_called_duplicates": [(r.query, c) for r in reports
                                            for c in r.false_duplicates],
        "query_returned_as_its_own_match": [r.query for r in reports if r.self_returned],
        "near_misses_in_top5": sum(len(r.near_misses_top5) for r in reports),
    }


def _print(summary: dict[str, Any], reports: Sequence[QueryReport], setup: str,
           verbose: bool) -> None:
    print(setup)
    print(f"labels: {summary['queries']} queries, {summary['relevant_pairs']} relevant pairs, "
          f"{summary['same_trial_pairs']} same-trial pairs, {summary['near_miss_pairs']} "
          "near-misses (label 0)")
    for query, error in summary["failed"].items():
        print(f"  could not score {query}: {error}")
    width = max(len(m) for m in METRICS) + 2
    print(f"\n{'':24}" + "".join(f"{m:>{width}}" for m in METRICS))
    for name, key in ((f"trials similar ({summary['scored']} q)", "scores"),
                      ("random order (expected)", "random_order"),
                      ("best possible", "best_possible")):
        values = summary[key]
        print(f"{name:24}" + "".join(f"{values.get(m, float('nan')):>{width}.3f}"
                                      for m in METRICS))
    print(f"\nsame-trial pairs: {summary['same_trial_in_duplicates']} of "
          f"{summary['same_trial_pairs']} in duplicates, {summary['same_trial_in_similar']} "
          f"leaked into similar, {summary['same_trial_in_neither']} in neither")
    wrong = summary["similar_pairs_called_duplicates"]
    print(f"label-1 similar pairs called duplicates: {len(wrong)}"
          + (f" ({', '.join(f'{q}→{c}' for q, c in wrong)})" if wrong else ""))
    selves = summary["query_returned_as_its_own_match"]
    print(f"queries returned as their own match: {len(selves)}"
          + (f" ({', '.join(selves)})" if selves else ""))
    print(f"near-misses (label 0) in a top 5: {summary['near_misses_in_top5']} of "
          f"{summary['near_miss_pairs']}")
    if not verbose:
        return
    print("\ntop 5 per query (+ relevant, x near-miss, = same trial):")
    for r in reports:
        if not r.error:
            print(f"{r.query}  P@5 {r.scores.get('P@5', 0):.2f}  nDCG@5 "
                  f"{r.scores.get('nDCG@5', 0):.2f}  {' '.join(r.top5)}"
                  + (f"  missed: {' '.join(r.missed)}" if r.missed else ""))


def build(url: str, paths: Sequence[Path]) -> tuple[Catalogue, dict[str, Any]]:
    """Import ``paths`` into the catalogue at ``url``; returns it and the import figures."""
    from harvester.ingest.importer import Importer

    problems: list[str] = []
    catalogue = Catalogue.open(url)
    start = time.perf_counter()
    summary = Importer(catalogue, workers=1, on_problem=problems.append).run(paths)
    figures = {"files": len(paths), "new": summary.new, "changed": summary.changed,
               "unchanged": summary.unchanged, "failed": summary.failed,
               "problems": problems, "seconds": round(time.perf_counter() - start, 3),
               "trials": len(catalogue.trial_ids())}
    return catalogue, figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=10, help="matches asked for (≥ 5)")
    parser.add_argument("--db", help="an empty catalogue to build in (default: a temporary "
                                     "SQLite file)")
    parser.add_argument("--via-cli", action="store_true",
                        help="ask `trials similar --format json` instead of the library")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--verbose", action="store_true", help="every query's top 5")
    args = parser.parse_args(argv)
    if args.top < 5:
        parser.error("--top must be at least 5 (the metrics go to 5)")
    labels = load_labels()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'similar-offline.sqlite'}"
        catalogue, built = build(url, catalogue_paths())
        try:
            if built["failed"]:
                raise SystemExit("the fixture import failed: " + "; ".join(built["problems"]))
            known = set(catalogue.trial_ids())
            absent = sorted({i for x in labels for i in (x.query, x.candidate)} - known)
            if absent:
                raise SystemExit(f"labelled trials missing from the catalogue: {absent}")
            from harvester.find.similar.engine import SimilarityEngine

            start = time.perf_counter()
            engine = SimilarityEngine(catalogue)
            indexed = engine.refresh()
            index_seconds = time.perf_counter() - start
            ranker: Ranker = CliRanker(url) if args.via_cli else engine
            start = time.perf_counter()
            reports = evaluate(ranker, labels, len(known), args.top)
            query_seconds = time.perf_counter() - start
        finally:
            catalogue.close()
    summary = summarise(reports, labels)
    summary |= {"catalogue": built, "indexed": indexed, "index_seconds": round(index_seconds, 3),
                "query_seconds": round(query_seconds, 3), "top": args.top,
                "via": "cli" if args.via_cli else "library"}
    if args.json:
        print(json.dumps(summary | {"per_query": [r.to_json() for r in reports]}, indent=2))
    else:
        setup = (f"catalogue: {built['trials']} trials from {built['files']} fixture files "
                 f"(import {built['seconds']:.1f} s); index: {indexed} trials refreshed in "
                 f"{index_seconds:.1f} s; {len(reports)} queries in {query_seconds:.1f} s "
                 f"({summary['via']}, top {args.top})")
        _print(summary, reports, setup, args.verbose)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
