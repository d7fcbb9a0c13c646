"""Similar trials: the query → candidates → scores → matches and duplicates pipeline.

A query is a trial of the catalogue (by NCT id), a record not in it (a draft), or free text.
Each ``similar_*`` call first brings the index up to date (:meth:`SimilarityEngine.refresh`;
skipped, with a note, while another process writes the catalogue), then:

1. candidates: the trials posted under the query's most discriminative terms, pre-scored in
   SQL by summed IDF (``among`` replaces this: rank exactly those trials);
2. filters: a :class:`Selection` restricts the candidates, checked on the best pre-scored
   ones first and on more of them only while too few pass (never over the whole catalogue);
3. scoring: each candidate's features against the query's (:mod:`score`), with IDF from the
   index's current document frequencies; the reasons are worked out for the listed ones;
4. same-trial detection (:mod:`duplicates`): the query's own NCT id held from another source,
   trials sharing a registry id or naming the query's, near-identical title and sponsor — these
   are listed apart, never among the matches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from harvester.catalogue import recordcodec
from harvester.catalogue import tables as t
from harvester.catalogue.selection import Selection, selected
from harvester.catalogue.store import Catalogue
from harvester.errors import CatalogueBusyError, NotFoundError, UsageError
from harvester.find.similar import duplicates as dup
from harvester.find.similar import features as fx
from harvester.find.similar import index as ix
from harvester.find.similar import score as sc
from harvester.find.similar import store, termcache
from harvester.records import TrialRecord

V = t.Version.__table__  # type: ignore[attr-defined]
T = t.Trial.__table__  # type: ignore[attr-defined]

#: Pre-scoring weight of each kind of posted term (× its IDF).
TERM_WEIGHTS = {"c": 3.0, "a": 1.0, "i": 2.0, "k": 0.7, "t": 1.0}
POOL = 200  # candidates fully scored
FILTER_POOL = 4000  # pre-scored candidates a filter is checked on first …
FILTER_LAST = 20_000  # … and at most, when too few of those pass
POSTINGS_BUDGET = 30_000  # postings a candidate query may read
COMMON = 0.15  # terms in more than this share of trials are skipped (and at least …)
COMMON_FLOOR = 500  # … this many trials: small catalogues keep every term
DUPLICATE_LOOKUP = 200  # trials read per same-trial lookup
MIRRORS = {"veeva": "mirror"}


@dataclass(frozen=True)
class Match:
    nct_id: str
    score: float
    parts: dict[str, float]
    reasons: tuple[str, ...]
    title: str | None


@dataclass(frozen=True)
class Duplicate:
    nct_id: str
    reasons: tuple[str, ...]
    title: str | None


@dataclass(frozen=True)
class SimilarResult:
    query: str
    matches: list[Match]
    duplicates: list[Duplicate]
    weights: dict[str, float] = field(default_factory=dict)  # part → weight (for --explain)
    notes: tuple[str, ...] = ()  # e.g. trials not yet indexed


class SimilarityEngine:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.engine = catalogue.engine
        with self.engine.begin() as conn:  # a catalogue made while step 5 was empty
            if not sa.inspect(conn).has_table(store.META.name):
                store.create(conn)

    # --- the index ------------------------------------------------------------------------

    def refresh(self, on_progress: ix.Progress | None = None, *, lock: bool = True) -> int:
        """Bring the index up to date with the catalogue's current versions; the number of
        trials (re)indexed.  Raises CatalogueBusyError while another process writes (unless
        the caller holds the writer lock: ``lock=False``)."""
        return ix.refresh(self.engine, on_progress=on_progress, lock=lock)

    def rebuild(self, on_progress: ix.Progress | None = None, *, lock: bool = True) -> int:
        """Drop the index and build it again from the catalogue."""
        return ix.refresh(self.engine, rebuild=True, on_progress=on_progress, lock=lock)

    def _refresh_or_note(self) -> tuple[str, ...]:
        try:
            self.refresh()
        except CatalogueBusyError:
            with self.engine.connect() as conn:
                behind = ix.pending(conn)
            if behind:
                return (f"another process is writing to the catalogue: {behind} trials are "
                        "not yet indexed; answers are from the index as it stands",)
        return ()

    # --- queries ----------------------------------------------------------------------------

    def similar_to_id(self, nct_id: str, *, top: int = 10, selection: Selection | None = None,
                      among: Sequence[str] | None = None) -> SimilarResult:
        nct_id = nct_id.strip().upper()
        notes = self._refresh_or_note()
        with self.engine.connect() as conn:
            version_id = conn.execute(sa.select(T.c.current_version_id).where(
                T.c.nct_id == nct_id)).scalar()
            if version_id is None:
                holder = self._alias_holder(conn, nct_id)
                if holder is None:
                    raise NotFoundError(f"{nct_id} is not in the catalogue")
                notes += (f"{nct_id} is an alias of {holder} (the registry merged them): "
                          f"answering for {holder}",)
                nct_id = holder
                version_id = conn.execute(sa.select(T.c.current_version_id).where(
                    T.c.nct_id == nct_id)).scalar()
            found = ix.entries(conn, nct_ids=[nct_id])
            if found and found[0].version_id == version_id:
                query = found[0].features
            else:  # not indexed yet (another process is writing)
                stored = conn.execute(sa.select(V.c.record).where(V.c.id == version_id)
                                      ).scalar()
                query = fx.features(TrialRecord.model_validate_json(
                    recordcodec.unpack(stored) if stored is not None else "{}"))
            own = self._mirror_duplicate(conn, nct_id, query.title)
            return self._similar(conn, nct_id, query, top, selection, among, notes, own)

    def similar_to_record(self, record: TrialRecord, *, top: int = 10,
                          selection: Selection | None = None,
                          among: Sequence[str] | None = None,
                          label: str | None = None) -> SimilarResult:
        """Trials like ``record`` (a draft, or a record not in the catalogue); ``label``
        names it in the answer (default: its NCT id)."""
        notes = self._refresh_or_note()
        query = fx.features(record)
        own: list[Duplicate] = []
        if self.catalogue.has_trial(record.nct_id):
            own.append(Duplicate(record.nct_id, (
                f"{record.nct_id} is in the catalogue: the same trial",), query.title))
        with self.engine.connect() as conn:
            return self._similar(conn, label or record.nct_id, query, top, selection, among,
                                 notes, own)

    def similar_to_text(self, text: str, *, top: int = 10, selection: Selection | None = None,
                        among: Sequence[str] | None = None) -> SimilarResult:
        if not text or not text.strip():
            raise UsageError("the query text is empty")
        query = fx.text_features(text)
        if not query.title_terms:
            raise UsageError(f"the query text {text.strip()!r} has no words to search for "
                             "(only stop words or numbers)")
        notes = self._refresh_or_note()
        with self.engine.connect() as conn:
            return self._similar(conn, text.strip(), query, top, selection, among, notes, [])

    # --- the pipeline ---------------------------------------------------------------------------

    @staticmethod
    def _alias_holder(conn: Connection, nct_id: str) -> str | None:
        """The indexed trial that lists ``nct_id`` among its NCT id aliases, if one does."""
        found = ix.term_stats(conn, [f"x:{nct_id}"]).get(f"x:{nct_id}")
        if found is None:
            return None
        holders = [e.nct_id for e in ix.entries(conn, doc_ids=ix.docs_with(conn, [found[0]], 5))
                   if e.nct_id and nct_id in e.features.ids]
        return min(holders) if holders else None

    @staticmethod
    def _mirror_duplicate(conn: Connection, nct_id: str, title: str | None) -> list[Duplicate]:
        sources = sorted(conn.execute(sa.select(V.c.source).distinct().where(
            V.c.nct_id == nct_id)).scalars())
        if len(sources) < 2:
            return []
        others = [s for s in sources if s in MIRRORS] or sources[1:]
        named = ", ".join(f"{s} ({MIRRORS[s]})" if s in MIRRORS else s for s in others)
        return [Duplicate(nct_id, (f"{nct_id} also held from {named}: same trial "
                                   f"({', '.join(sources)})",), title)]

    def _similar(self, conn: Connection, label: str, query: fx.Features, top: int,
                 selection: Selection | None, among: Sequence[str] | None,
                 notes: tuple[str, ...], found_duplicates: list[Duplicate]) -> SimilarResult:
        if top < 1:
            raise UsageError("--top must be at least 1")
        if selection is not None and selection.is_everything:
            selection = None
        weights = sc.weights_for(query)
        meta = store.get_metas(conn, ("count", "generation"))
        count = max(int(meta.get("count") or 0), 1)
        # The terms' statistics read by earlier queries of this process, while the index
        # is as they were read from (termcache).
        cache, generation = termcache.for_engine(self.engine), meta.get("generation")
        posted, counted = fx.index_terms(query)
        stats = cache.stats(conn, posted | counted, generation)
        if among is not None:
            candidates = self._among(conn, among, selection)
        else:
            candidates = self._candidates(conn, query, posted, stats, count, selection, top)
        candidates = [c for c in candidates if c.nct_id != query.nct_id]
        same = self._same_trial_lookup(conn, query, posted, stats, among)
        # Document frequencies of everything the candidates use, for IDF.
        by_kind: dict[str, set[str]] = defaultdict(set)
        for entry in candidates:
            fx.scoring_terms(entry.features, by_kind)
        needed = {f"{kind}:{key}"[:200] for kind, keys in by_kind.items() for key in keys}
        stats.update(cache.stats(conn, needed - stats.keys(), generation))

        scorer = sc.Scorer(query, sc.Idf({t: df for t, (_, df) in stats.items()}, count),
                           weights)
        duplicates = {d.nct_id: d for d in found_duplicates}
        for entry in (*same, *candidates):
            if entry.nct_id in duplicates or entry.nct_id == query.nct_id:
                continue
            reasons = dup.same_trial(query, entry.features)
            if reasons:
                duplicates[entry.nct_id] = Duplicate(entry.nct_id, reasons, entry.features.title)
        # Rank every candidate on its score alone, then explain the ones listed.
        ranked = sorted(((scorer.score(e.features, reasons=False).score, e.nct_id, e)
                         for e in candidates if e.nct_id not in duplicates),
                        key=lambda x: (-x[0], x[1]))
        if among is None:
            ranked = [r for r in ranked if r[0] > 0][:top]
        matches = []
        for _, nct_id, entry in ranked:
            result = scorer.score(entry.features)
            matches.append(Match(nct_id, result.score, result.parts, result.reasons,
                                 entry.features.title))
        return SimilarResult(label, matches, list(duplicates.values()), weights, notes)

    def _among(self, conn: Connection, among: Sequence[str],
               selection: Selection | None) -> list[ix.Entry]:
        wanted = {n.strip().upper() for n in among}
        if selection is not None:
            stmt = selected(selection, few=True).order_by(None)
            wanted = {n for chunk in ix.chunks(sorted(wanted)) for n in conn.execute(
                stmt.where(stmt.selected_columns.nct_id.in_(chunk))).scalars()}
        return ix.entries(conn, nct_ids=wanted)

    def _candidates(self, conn: Connection, query: fx.Features, posted: set[str],
                    stats: dict[str, tuple[int, int]], count: int,
                    selection: Selection | None, top: int) -> list[ix.Entry]:
        weights = self._term_weights(query, posted, stats, count)
        pool = max(POOL, top) + 1  # + 1: the query itself may be among them
        if selection is None:
            ranked = ix.prescore(conn, weights, limit=pool)
            return ix.entries(conn, doc_ids=[doc for doc, _ in ranked])
        # The filter is checked on the best pre-scored trials first, then on more of them
        # only when too few pass: a filter over the whole catalogue would read every version.
        need = max(2 * top, 20)
        ranked = ix.prescore(conn, weights, limit=max(FILTER_POOL, pool))
        kept: list[int] = []
        done = 0
        for stop in (6 * pool, len(ranked)):
            kept += self._kept(conn, ranked[done:stop], selection)
            done = max(done, stop)
            if len(kept) >= need:
                break
        else:
            if len(ranked) == max(FILTER_POOL, pool):  # there are more: check more of them
                rest = ix.prescore(conn, weights, limit=FILTER_LAST)[len(ranked):]
                kept += self._kept(conn, rest, selection)
        return ix.entries(conn, doc_ids=kept[:pool])

    @staticmethod
    def _kept(conn: Connection, ranked: list[tuple[int, float]],
              selection: Selection) -> list[int]:
        """The pre-scored trials (doc ids) that the selection keeps, in their order."""
        ncts = ix.nct_ids(conn, (doc for doc, _ in ranked))
        # Each filter is tested on the candidates' own rows and index entries (few), never
        # built as the catalogue-wide set of versions passing it.
        stmt = selected(selection, few=True).order_by(None)
        column = stmt.selected_columns.nct_id
        passed: set[str] = set()
        for chunk in ix.chunks(sorted(ncts), 20_000):
            if conn.dialect.name == "postgresql":
                wanted = column == sa.any_(sa.bindparam("wanted", list(chunk),
                                                        type_=ARRAY(sa.String)))
            else:
                wanted = column.in_(chunk)
            passed.update(conn.execute(stmt.where(wanted)).scalars())
        keep = {ncts[n] for n in passed}
        return [doc for doc, _ in ranked if doc in keep]

    @staticmethod
    def _term_weights(query: fx.Features, posted: set[str], stats: dict[str, tuple[int, int]],
                      count: int) -> dict[int, float]:
        """The query's terms to look candidates up by, with their weights; the commonest are
        left out, and the rest kept from the most telling down within a postings budget."""
        limit = max(COMMON * count, COMMON_FLOOR)
        if query.free_text:
            posted = {f"t:{w}" for w in query.title_terms}
        options: list[tuple[float, int, int]] = []
        common: list[tuple[float, int, int]] = []
        for term in posted:
            kind = term.split(":", 1)[0]
            if kind not in TERM_WEIGHTS or term not in stats or not stats[term][1]:
                continue
            term_id, df = stats[term]
            option = (TERM_WEIGHTS[kind] * sc.idf_value(df, count), df, term_id)
            (options if df <= limit else common).append(option)
        if not options and common:  # only common terms ("cancer"): the rarest of them
            options = [min(common, key=lambda o: o[1])]
        options.sort(reverse=True)
        weights: dict[int, float] = {}
        budget = POSTINGS_BUDGET
        for weight, df, term_id in options:
            if df > budget and weights:
                continue
            weights[term_id] = weight
            budget -= df
        return weights

    def _same_trial_lookup(self, conn: Connection, query: fx.Features, posted: set[str],
                           stats: dict[str, tuple[int, int]],
                           among: Sequence[str] | None) -> list[ix.Entry]:
        """Trials that share a registry id, a sponsor protocol id or the title with the
        query (checked afterwards by :func:`duplicates.same_trial`)."""
        keys = [term for term in posted if term[:2] in ("x:", "p:", "h:") and term in stats]
        docs = ix.docs_with(conn, (stats[term][0] for term in keys), DUPLICATE_LOOKUP)
        found = [e for e in ix.entries(conn, doc_ids=docs) if e.nct_id != query.nct_id]
        if among is not None:
            allowed = {n.strip().upper() for n in among}
            found = [e for e in found if e.nct_id in allowed]
        return found

