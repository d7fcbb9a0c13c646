"""``trials similar`` on TrialSim, the Trial2Vec test set: re-rank each query's 10 labelled
candidates and score P@1/2/5, R@1/2/5 and nDCG@5 (binary gains), beside the file's own order
and a random order on exactly the same rows.

Run: ``.venv/bin/python bench/trialsim.py [--db URL] [--data DIR] [--complete-only]
[--json] [--verbose]``.

The trials' records are not in the data set: get them into a catalogue with one sync first,
``trials sync --ids-file ../shared/benchmarks/trial2vec/nct_ids.txt --save trialsim`` (the
default catalogue, or ``--db``), then run this.  ``--data`` is the folder of
``TrialSim-data.wide.csv`` (default ``../shared/benchmarks/trial2vec`` beside the repository).

Every one of the 161 rows is accounted for.  Rows without a positive label (56) cannot be
scored (the upstream evaluator skips them too); rows whose query is not in the catalogue, or
none of whose candidates is, are skipped; each skip is counted by reason (``--verbose``
lists the ids).  A candidate missing from the catalogue is placed last (in file order) —
for our ranking and for both baselines alike — and the rows scored that way are counted;
``--complete-only`` skips such rows instead.  An id the catalogue holds only as an alias
(``nctIdAliases``) of another trial is resolved to it.  A candidate the engine reports as a
duplicate of the query (the same trial) is ranked first.  The figures of the paper's
setting (105 rows, every record at hand) are printed for reference: file order nDCG@5 0.501,
random 0.412.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ranking import TRIALSIM_METRICS, Ranked, expected_random, mean, scores  # noqa: E402
from harvester.catalogue import Catalogue, recordcodec  # noqa: E402
from harvester.catalogue import tables as t  # noqa: E402
from harvester.errors import HarvesterError  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "benchmarks" / "trial2vec"
WIDE_CSV = "TrialSim-data.wide.csv"
CANDIDATES = 10
_NCT = re.compile(r"^NCT\d{8}$")
V = t.Version.__table__  # type: ignore[attr-defined]
T = t.Trial.__table__  # type: ignore[attr-defined]


class _Aliased(msgspec.Struct):
    nct_id_aliases: list[str] = []


_ALIASES = msgspec.json.Decoder(_Aliased)

#: Reported figures of the paper's setting (all 105 evaluable rows, every record at hand).
REFERENCE = {"file_order": {"P@1": 0.448, "P@5": 0.339, "R@5": 0.555, "nDCG@5": 0.501},
             "random_order": {"nDCG@5": 0.412}}
NO_POSITIVE = "no positive label (not scorable; the upstream evaluator skips it too)"
NO_QUERY = "query not in the catalogue"
NO_CANDIDATE = "none of its candidates in the catalogue"
INCOMPLETE = "candidates missing from the catalogue (--complete-only)"


class Ranker(Protocol):
    """What the bench needs of harvester.find.similar.engine.SimilarityEngine."""

    def similar_to_id(self, nct_id: str, *, top: int = 10,
                      among: Sequence[str] | None = None) -> Ranked: ...


@dataclass(frozen=True)
class Row:
    number: int  # the file's ``row`` column
    query: str
    candidates: tuple[str, ...]
    labels: tuple[int, ...]


def load_rows(folder: Path) -> list[Row]:
    """The query rows of ``TrialSim-data.wide.csv``, checked."""
    path = folder / WIDE_CSV
    if not path.is_file():
        raise SystemExit(f"{path}: not found (give the TrialSim folder with --data)")
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for line, raw in enumerate(csv.DictReader(f), start=2):
            try:
                candidates = tuple(raw[f"rank_{i}"] for i in range(1, CANDIDATES + 1))
                labels = tuple(int(raw[f"label_{i}"]) for i in range(1, CANDIDATES + 1))
                row = Row(int(raw["row"]), raw["target_trial"], candidates, labels)
            except (KeyError, TypeError, ValueError) as exc:
                raise SystemExit(f"{path}:{line}: not a TrialSim row ({exc})") from None
            if not all(_NCT.match(i) for i in (row.query, *candidates)) or not set(
                    labels) <= {0, 1}:
                raise SystemExit(f"{path}:{line}: bad NCT id or label in {raw}")
            rows.append(row)
    return rows


def resolve(catalogue: Catalogue, ids: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Map each id to the catalogue's trial: itself when the catalogue has it, else the trial
    whose record lists it among its ``nctIdAliases``.  Returns (map, the alias resolutions);
    ids in neither are absent from the map."""
    ids = sorted(set(ids))
    with catalogue.engine.connect() as conn:
        held = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            held |= set(conn.execute(sa.select(T.c.nct_id).where(T.c.nct_id.in_(chunk)))
                        .scalars())
        missing = [i for i in ids if i not in held]
        aliases: dict[str, str] = {}
        if missing:  # the current records' aliases (records are stored compressed: read here)
            wanted = set(missing)
            rows = conn.execution_options(stream_results=True, yield_per=500).execute(
                sa.select(V.c.nct_id, V.c.record).select_from(
                    T.join(V, T.c.current_version_id == V.c.id)))
            for nct_id, stored in rows:
                for alias in _ALIASES.decode(recordcodec.unpack(stored)).nct_id_aliases:
                    if alias in wanted:
                        aliases[alias] = nct_id
    mapping = {i: i for i in held} | aliases
    return mapping, aliases


@dataclass
class RowOutcome:
    row: Row
    skipped: str | None = None  # the reason
    error: str | None = None  # the engine's, when it failed on the row
    missing: list[str] = field(default_factory=list)  # candidates not in the catalogue
    duplicates: list[str] = field(default_factory=list)  # candidates called the query's twin
    duplicates_relevant: int = 0  # of those, positions labelled 1
    unranked: list[str] = field(default_factory=list)  # in the catalogue, not in the answer
    outside: list[str] = field(default_factory=list)  # answered ids that were not asked
    ours: dict[str, float] = field(default_factory=dict)
    file_order: dict[str, float] = field(default_factory=dict)
    random: dict[str, float] = field(default_factory=dict)
    oracle: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row.number, "query": self.row.query, "skipped": self.skipped,
                "error": self.error, "duplicates_relevant": self.duplicates_relevant,
                "missing": self.missing, "duplicates": self.duplicates,
                "unranked": self.unranked, "outside": self.outside,
                **{name: {k: round(v, 4) for k, v in getattr(self, name).items()}
                   for name in ("ours", "file_order", "random", "oracle")}}


def score_row(row: Row, ranker: Ranker, mapping: Mapping[str, str],
              complete_only: bool = False) -> RowOutcome:
    """Re-rank one row's candidates with ``ranker``; the baselines on the same footing."""
    out = RowOutcome(row)
    if not any(row.labels):
        out.skipped = NO_POSITIVE
        return out
    query = mapping.get(row.query)
    if query is None:
        out.skipped = NO_QUERY
        return out
    # Positions by the catalogue trial they resolve to; missing ones keep file order at the end.
    resolved = [mapping.get(c) for c in row.candidates]
    out.missing = [c for c, r in zip(row.candidates, resolved, strict=True) if r is None]
    present = [i for i, r in enumerate(resolved) if r is not None]
    absent = [i for i, r in enumerate(resolved) if r is None]
    if not present:
        out.skipped = NO_CANDIDATE
        return out
    if complete_only and absent:
        out.skipped = INCOMPLETE
        return out
    among = list(dict.fromkeys(r for r in resolved if r is not None and r != query))
    out.duplicates = [query] if query in resolved else []  # a candidate aliasing the query
    order = list(out.duplicates)
    if among:
        result = ranker.similar_to_id(query, top=len(among), among=among)
        asked = set(among)
        out.duplicates += [d.nct_id for d in result.duplicates if d.nct_id in asked]
        seen = set(out.duplicates)
        matches = [m.nct_id for m in result.matches if m.nct_id in asked - seen]
        out.outside = [x.nct_id for x in (*result.matches, *result.duplicates)
                       if x.nct_id not in asked]
        out.unranked = [i for i in among if i not in seen | set(matches)]
        order = [*dict.fromkeys(out.duplicates), *dict.fromkeys(matches), *out.unranked]
    ranked = [i for trial in order for i in present if resolved[i] == trial]
    labels = row.labels
    out.duplicates_relevant = sum(labels[i] for i in present
                                  if resolved[i] in set(out.duplicates))
    tail = [labels[i] for i in absent]
    total = sum(labels)
    out.ours = scores([*(labels[i] for i in ranked), *tail], total)
    file_gains = [*(labels[i] for i in present), *tail]
    out.file_order = scores(file_gains, total)
    out.random = expected_random(file_gains, shuffled=len(present), relevant=total)
    out.oracle = scores([*sorted((labels[i] for i in present), reverse=True), *tail], total)
    return out


def run(rows: Sequence[Row], ranker: Ranker, mapping: Mapping[str, str],
        complete_only: bool = False) -> list[RowOutcome]:
    outcomes = []
    for row in rows:
        try:
            outcomes.append(score_row(row, ranker, mapping, complete_only))
        except HarvesterError as exc:  # reported as a skip; the other rows go on
            outcomes.append(RowOutcome(row, skipped=f"engine error: {type(exc).__name__}",
                                       error=str(exc)))
    return outcomes


def summarise(outcomes: Sequence[RowOutcome], aliases: Mapping[str, str]) -> dict[str, Any]:
    scored = [o for o in outcomes if o.skipped is None]
    skipped = Counter(o.skipped for o in outcomes if o.skipped)

    def avg(name: str) -> dict[str, float]:
        return {k: round(v, 4) for k, v in mean([getattr(o, name) for o in scored]).items()}

    return {
        "rows": len(outcomes),
        "evaluable": sum(1 for o in outcomes if any(o.row.labels)),
        "scored": len(scored),
        "scored_with_missing_candidates": sum(1 for o in scored if o.missing),
        "missing_candidates_placed_last": sum(len(o.missing) for o in scored),
        "skipped": dict(skipped),
        "duplicates_ranked_first": sum(len(o.duplicates) for o in scored),
        "duplicates_labelled_relevant": sum(o.duplicates_relevant for o in scored),
        "unranked_candidates": sum(len(o.unranked) for o in scored),
        "answers_outside_the_candidates": sum(len(o.outside) for o in scored),
        "ids_resolved_by_alias": dict(sorted(aliases.items())),
        "trials_similar": avg("ours"),
        "file_order": avg("file_order"),
        "random_order": avg("random"),  # the exact expectation
        "best_possible": avg("oracle"),
        "reference_paper_setting": REFERENCE,  # 105 rows, every record at hand
    }


def _ids_by_reason(outcomes: Sequence[RowOutcome]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for o in outcomes:
        if o.skipped == NO_QUERY:
            found.setdefault("queries not in the catalogue", []).append(o.row.query)
        elif o.error:
            found.setdefault("engine errors", []).append(f"{o.row.query}: {o.error}")
        if o.missing and (o.skipped is None or o.skipped in (NO_CANDIDATE, INCOMPLETE)):
            found.setdefault("candidates not in the catalogue", []).extend(o.missing)
    return {k: sorted(set(v)) for k, v in found.items()}


def _print(summary: dict[str, Any], outcomes: Sequence[RowOutcome], setup: str,
           verbose: bool) -> None:
    print(setup)
    print(f"TrialSim: {summary['rows']} query rows, {summary['evaluable']} with a positive "
          f"label; scored {summary['scored']} "
          f"({summary['scored_with_missing_candidates']} with missing candidates placed last: "
          f"{summary['missing_candidates_placed_last']} candidates)")
    for reason, count in sorted(summary["skipped"].items(), key=lambda x: -x[1]):
        print(f"  skipped {count:4}: {reason}")
    extras = [f"{summary['duplicates_ranked_first']} candidates called duplicates of their "
              f"query (ranked first; {summary['duplicates_labelled_relevant']} labelled "
              "relevant)",
              f"{summary['unranked_candidates']} candidates in the catalogue the engine did not "
              "rank (placed after its ranking)",
              f"{summary['answers_outside_the_candidates']} answers outside the candidates "
              "(ignored)",
              f"{len(summary['ids_resolved_by_alias'])} ids found as aliases of another trial"]
    for line in extras:
        print(f"  {line}")
    width = max(len(m) for m in TRIALSIM_METRICS) + 2
    print(f"\n{'':26}" + "".join(f"{m:>{width}}" for m in TRIALSIM_METRICS))
    for name, key in (("trials similar", "trials_similar"), ("file order", "file_order"),
                      ("random order (expected)", "random_order"),
                      ("best possible", "best_possible")):
        values = summary[key]
        print(f"{name:26}" + "".join(
            f"{values[m]:>{width}.3f}" if m in values else f"{'—':>{width}}"
            for m in TRIALSIM_METRICS))
    print("\nreference, the paper's setting (105 rows, every record at hand): file order "
          "P@1 0.448, P@5 0.339, R@5 0.555, nDCG@5 0.501; random nDCG@5 0.412")
    if summary["skipped"].get(NO_QUERY, 0) > summary["rows"] // 2:
        print("most queries are not in the catalogue: get the records first, e.g.\n"
              "  trials sync --ids-file ../shared/benchmarks/trial2vec/nct_ids.txt "
              "--save trialsim")
    if verbose:
        for reason, ids in _ids_by_reason(outcomes).items():
            print(f"\n{reason} ({len(ids)} distinct ids): {' '.join(ids)}")
        for alias, trial in summary["ids_resolved_by_alias"].items():
            print(f"alias {alias} → {trial}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="the catalogue (default: $TRIALS_DB, else the user's "
                                     "default catalogue, as `trials`)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"the folder of {WIDE_CSV} (default: %(default)s)")
    parser.add_argument("--complete-only", action="store_true",
                        help="skip rows with missing candidates instead of placing them last")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--verbose", action="store_true", help="the ids behind each count")
    args = parser.parse_args(argv)
    rows = load_rows(args.data)
    from harvester.find.similar.engine import SimilarityEngine

    with Catalogue.open(args.db) as catalogue:
        mapping, aliases = resolve(catalogue, {i for r in rows for i in (r.query,
                                                                         *r.candidates)})
        start = time.perf_counter()
        engine = SimilarityEngine(catalogue)
        indexed = engine.refresh()
        index_seconds = time.perf_counter() - start
        start = time.perf_counter()
        outcomes = run(rows, engine, mapping, args.complete_only)
        seconds = time.perf_counter() - start
        url = catalogue.engine.url.render_as_string(hide_password=True)
    summary = summarise(outcomes, aliases) | {
        "catalogue": url, "indexed": indexed, "index_seconds": round(index_seconds, 3),
        "rank_seconds": round(seconds, 3), "data": str(args.data),
        "complete_only": args.complete_only}
    if args.json:
        print(json.dumps(summary | {"ids": _ids_by_reason(outcomes),
                                    "per_row": [o.to_json() for o in outcomes]}, indent=2))
    else:
        setup = (f"catalogue {url}: {len({v for v in mapping.values()})} of the set's "
                 f"{len({i for r in rows for i in (r.query, *r.candidates)})} trials; index "
                 f"refresh: {indexed} trials (re)indexed in {index_seconds:.1f} s; rows "
                 f"ranked in {seconds:.1f} s")
        _print(summary, outcomes, setup, args.verbose)
    return 0 if summary["scored"] else 1


if __name__ == "__main__":
    sys.exit(main())
