"""Field-scoped search like the registry's: search areas, MeSH concepts, one tokeniser.

The registry searches *areas* (``query.cond``, ``query.intr``, ``query.term``…), each a set
of fields (reference §7).  Here each area is a set of columns of one index, ``version_area``:

========  ==========================================================================
titles    brief and official title, acronym
cond      conditions                           cmesh  condition MeSH headings and ancestors
keyw      keywords                             imesh  intervention MeSH headings and ancestors
intr      intervention names, other names, types, arm labels and types
idesc     intervention and arm descriptions    outc   outcome measures (title, description)
spons     lead sponsor and collaborators       locn   sites: facility, city, state, zip, country
ids       NCT id, aliases, org study id, secondary ids
text      summary, detailed description, why stopped, eligibility criteria
========  ==========================================================================

**One tokeniser** (:func:`tokens`) in Python makes the words of both the index and the
queries, for SQLite and PostgreSQL alike: case and accents folded, words are runs of letters
and digits (``covid-19`` is ``covid 19``, as the registry's own tokenisation), English
Snowball stems ("vaccines" finds "vaccine"), and the **hyphen rule**: ``non-`` binds to the
next word (``non-small``, ``non small`` and ``nonsmall`` are one word, ``nonsmall``), so
"small cell lung cancer" does not find non-small-cell lung cancer, and "hodgkin lymphoma"
does not find non-Hodgkin lymphoma.

**MeSH concepts.**  Each MeSH heading the registry assigned, and each of its ancestors, is
also indexed as one *concept token* (:func:`concept`): its words' stems, order-free, with
cancer / carcinoma / neoplasm / tumour read as one word (the registry's own synonym lists are
not public; this is the one family that matters most).  A condition (or intervention) query
matches a trial when its words match the area's fields *or* its concept is one of the trial's
headings or their ancestors — so "lung cancer" finds the trials whose heading is
"Carcinoma, Non-Small-Cell Lung" (an ancestor is "Lung Neoplasms"), and "small cell lung
cancer" is the heading "Small Cell Lung Carcinoma" and its descendants, not NSCLC.

Storage: SQLite, a contentless FTS5 table (rowid = version id) with one column per field
group and the plain ``unicode61`` tokenizer over the pre-made tokens; PostgreSQL, one
``tsvector`` per version whose lexemes are tagged with their column (``c:lung``), weighted
A–D, and the filter tokens untagged (:mod:`harvester.catalogue.filtertokens`), under one
GIN index — not one index per field.  The index is kept up by
:func:`catch_up` (versions with a higher id than any indexed), called by the searches before
they match, so storing a page of versions does not pay for it; ``trials index --rebuild``
builds it again (:func:`rebuild`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import snowballstemmer  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import facets, filtertokens, recordcodec
from harvester.catalogue import tables as t

FTS_TABLE = "version_area"
PG_TABLE = "version_area_doc"
#: SQLite: the indexed versions that are not their trial's current version (superseded,
#: earlier history, a mirror's copy), kept by :func:`catch_up`: a search of the current
#: versions counts its matches as the index's matches less these, without joining each
#: match to ``trial`` (schema step 16; PostgreSQL's since step 20).
PAST_TABLE = "version_area_past"
BATCH = 1000

#: The index's columns: (name, PostgreSQL tag, PostgreSQL weight, SQLite bm25 weight).
COLUMNS: tuple[tuple[str, str, str, float], ...] = (
    ("titles", "t", "A", 10.0), ("cond", "c", "A", 12.0), ("cmesh", "m", "A", 12.0),
    ("keyw", "k", "B", 4.0), ("intr", "i", "A", 8.0), ("imesh", "j", "B", 8.0),
    ("idesc", "d", "C", 2.0), ("outc", "o", "C", 2.0), ("spons", "s", "B", 3.0),
    ("locn", "l", "C", 2.0), ("ids", "n", "A", 10.0), ("text", "x", "D", 1.0),
)
NAMES = tuple(c[0] for c in COLUMNS)
TAG = {c[0]: c[1] for c in COLUMNS}
#: SQLite's ``bm25`` weights: the columns', then 0 for the filter tokens' column (see
#: :mod:`harvester.catalogue.filtertokens`), which no search ranks by.
WEIGHTS = (*(c[3] for c in COLUMNS), 0.0)

#: The registry's search areas (option names of `trials sync` and `trials search`) and the
#: columns each searches.
AREAS: dict[str, tuple[str, ...]] = {
    "term": NAMES,
    "cond": ("cond", "cmesh", "titles", "keyw"),
    "intr": ("intr", "imesh", "titles", "keyw", "idesc"),
    "titles": ("titles",),
    "outc": ("outc",),
    "spons": ("spons",),
    "locn": ("locn",),
    "id": ("ids",),
}
#: Where an area's concepts are: a query of the area matches a heading or its ancestors.
CONCEPTS: dict[str, tuple[str, ...]] = {"term": ("cmesh", "imesh"), "cond": ("cmesh",),
                                        "intr": ("imesh",)}
#: A match here ranks above any match elsewhere: the concept or the condition list.
STRONG = ("cond", "cmesh")

MAX_TEXT_TOKENS = 6000  # of the long text column (PostgreSQL positions stop at 16,383)

# --- the tokeniser -------------------------------------------------------------------------

_NON = re.compile(r"\bnon[\s\-\u2010\u2011\u2012\u2013]+(?=[^\W_])")
_WORD = re.compile(r"[^\W_]+")
_STEMMER = snowballstemmer.stemmer("english")
_SAME = {"carcinoma": "cancer", "neoplasm": "cancer", "tumor": "cancer", "tumour": "cancer",
         "malign": "cancer", "cancer": "cancer"}
_STOP = frozenset({"of", "the", "and", "in", "with", "for", "a", "an", "or", "to", "on",
                   "by", "at"})
CONCEPT_PREFIX = "zmesh"


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Folded words, with the hyphen rule (``non-small`` → ``nonsmall``), unstemmed."""
    return _WORD.findall(_NON.sub("non", _fold(text)))


@functools.lru_cache(maxsize=1 << 17)
def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def tokens(text: str) -> list[str]:
    """The index's tokens of a text (see the module's doc)."""
    return [stem(w) for w in words(text)]


def concept(text: str) -> str | None:
    """The concept token of a MeSH heading or a query: ``Carcinoma, Non-Small-Cell Lung`` and
    ``non-small cell lung cancer`` are both ``zmeshcancercelllungnonsmall``."""
    stems = sorted({_SAME.get(s, s) for s in tokens(text) if s not in _STOP})
    return CONCEPT_PREFIX + "".join(stems) if stems else None


# --- the text of a record ------------------------------------------------------------------

class _Term(msgspec.Struct):
    term: str | None = None


class _Named(msgspec.Struct):
    name: str | None = None


class _Intervention(msgspec.Struct):
    name: str | None = None
    type: str | None = None
    description: str | None = None
    other_names: list[str] = []


class _Arm(msgspec.Struct):
    label: str | None = None
    type: str | None = None
    description: str | None = None


class _Outcome(msgspec.Struct):
    title: str | None = None
    description: str | None = None


class _Site(msgspec.Struct):
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class _Eligibility(msgspec.Struct):
    criteria: str | None = None
    inclusion: list[str] = []
    exclusion: list[str] = []


class _Record(msgspec.Struct):
    nct_id: str = ""
    org_study_id: str | None = None
    secondary_ids: list[str] = []
    nct_id_aliases: list[str] = []
    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    conditions: list[str] = []
    keywords: list[str] = []
    interventions: list[_Intervention] = []
    arms: list[_Arm] = []
    condition_mesh: list[_Term] = []
    condition_ancestors: list[_Term] = []
    intervention_mesh: list[_Term] = []
    intervention_ancestors: list[_Term] = []
    outcomes: list[_Outcome] = []
    lead_sponsor: _Named | None = None
    collaborators: list[_Named] = []
    locations: list[_Site] = []
    eligibility: _Eligibility | None = None
    brief_summary: str | None = None
    detailed_description: str | None = None
    why_stopped: str | None = None


_DECODER = msgspec.json.Decoder(_Record)


def _mesh(terms: Iterable[_Term]) -> list[list[str]]:
    items = []
    for term in terms:
        if term.term:
            token = concept(term.term)
            items.append(([token] if token else []) + tokens(term.term))
    return items


def document(record_json: str | bytes) -> dict[str, list[list[str]]]:
    """Each column's items (a list of token lists: a phrase never spans two items)."""
    r = _DECODER.decode(record_json)

    def items(texts: Iterable[str | None]) -> list[list[str]]:
        return [found for text in texts if text and (found := tokens(text))]

    elig = r.eligibility or _Eligibility()
    criteria = elig.criteria or "\n".join([*elig.inclusion, *elig.exclusion])
    text = items([r.brief_summary, r.detailed_description, r.why_stopped, criteria])
    kept, budget = [], MAX_TEXT_TOKENS
    for item in text:
        kept.append(item[:budget])
        budget -= len(kept[-1])
        if budget <= 0:
            break
    return {
        "titles": items([r.brief_title, r.official_title, r.acronym]),
        "cond": items(r.conditions),
        "cmesh": _mesh([*r.condition_mesh, *r.condition_ancestors]),
        "keyw": items(r.keywords),
        "intr": items([*(i.name for i in r.interventions),
                       *(n for i in r.interventions for n in i.other_names),
                       *(i.type for i in r.interventions),
                       *(a.label for a in r.arms), *(a.type for a in r.arms)]),
        "imesh": _mesh([*r.intervention_mesh, *r.intervention_ancestors]),
        "idesc": items([*(i.description for i in r.interventions),
                        *(a.description for a in r.arms)]),
        "outc": items([x for o in r.outcomes for x in (o.title, o.description)]),
        "spons": items([r.lead_sponsor.name if r.lead_sponsor else None,
                        *(c.name for c in r.collaborators)]),
        "locn": items([x for s in r.locations
                       for x in (s.facility, s.city, s.state, s.zip, s.country)]),
        "ids": items([r.nct_id, r.org_study_id, *r.secondary_ids, *r.nct_id_aliases]),
        "text": kept,
    }


def _sqlite_fields(doc: dict[str, list[list[str]]]) -> list[str]:
    # Items are joined with a token no query can hold, so a phrase never spans two.
    return [" zzitemzz ".join(" ".join(item) for item in doc[name]) for name in NAMES]


def _tsvector(doc: dict[str, list[list[str]]]) -> str:
    """The tsvector literal: tagged lexemes with positions and weights; items apart."""
    positions: dict[str, list[str]] = {}
    for name, tag, weight, _ in COLUMNS:
        at = 1
        for item in doc[name]:
            for token in item:
                if at > 16383:
                    break
                positions.setdefault(f"{tag}:{token}", []).append(f"{at}{weight}")
                at += 1
            at += 1  # a gap between items: `<->` never joins two
    return " ".join(f"'{lexeme}':{','.join(places[:256])}"
                    for lexeme, places in positions.items())


# --- schema and upkeep ---------------------------------------------------------------------

def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def create(conn: Connection) -> None:
    """Schema step: the (empty) index; :func:`catch_up` fills it."""
    if _is_sqlite(conn):
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
            f"{', '.join(NAMES)}, {filtertokens.COLUMN}, content='', "
            f"tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")")
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {PAST_TABLE} "
                             f"(version_id INTEGER PRIMARY KEY)")
        return
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {PAST_TABLE} "
                         f"(version_id INTEGER PRIMARY KEY)")  # (schema step 20)
    # The documents compressed out of line (the default storage): a row is its id and a
    # pointer, so counting and joining a word's matches reads a heap page per ~180 of them
    # rather than one each (inline, a document filled most of a page).  Ranking reads the
    # documents as fast either way (decompressing them is its cost): measured at 60,000
    # trials, `cancer`'s 28,284 matches joined to their trials 101 → 39 ms, ranked 268 →
    # 277 ms.
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {PG_TABLE} (version_id INTEGER "
                         f"PRIMARY KEY, document TSVECTOR NOT NULL)")
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{PG_TABLE}_document "
                         f"ON {PG_TABLE} USING GIN (document)")


def indexed_up_to(conn: Connection) -> int:
    table = f"{FTS_TABLE}_docsize" if _is_sqlite(conn) else PG_TABLE
    column = "id" if _is_sqlite(conn) else "version_id"
    return int(conn.exec_driver_sql(
        f"SELECT coalesce(max({column}), 0) FROM {table}").scalar_one())


def count(conn: Connection) -> int:
    """The number of versions indexed."""
    table = f"{FTS_TABLE}_docsize" if _is_sqlite(conn) else PG_TABLE
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def size(conn: Connection) -> int:
    """Bytes the index takes on disk (tables and indexes)."""
    if _is_sqlite(conn):
        try:
            return int(conn.exec_driver_sql(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat "
                f"WHERE name LIKE '{FTS_TABLE}%'").scalar_one())
        except sa.exc.OperationalError:  # SQLite built without dbstat: approximate
            page = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
            rows = conn.exec_driver_sql(
                f"SELECT sum(length(block)) FROM {FTS_TABLE}_data").scalar_one()
            return int(rows or 0) + page
    return int(conn.exec_driver_sql(
        f"SELECT pg_total_relation_size('{PG_TABLE}')").scalar_one())


def pending(conn: Connection) -> int:
    """Versions not indexed yet."""
    version = t.Version.__table__  # type: ignore[attr-defined]
    return int(conn.execute(sa.select(sa.func.count()).where(
        version.c.id > indexed_up_to(conn))).scalar_one())


def catch_up(engine: sa.Engine, progress: Callable[[int], None] | None = None) -> int:
    """Index the versions stored since the last catch-up, a batch per transaction (a kill
    loses at most a batch, redone next time); returns how many were indexed."""
    version = t.Version.__table__  # type: ignore[attr-defined]
    done = 0
    horizon = _horizon(engine)
    if horizon is None:
        return 0
    while True:
        with engine.begin() as conn:
            if _is_sqlite(conn):  # take the write lock first: two catch-ups never race
                conn.exec_driver_sql("DELETE FROM schema_info WHERE 0")
            else:
                conn.exec_driver_sql(f"LOCK TABLE {PG_TABLE} IN SHARE ROW EXCLUSIVE MODE")
            last = indexed_up_to(conn)
            rows = conn.execute(_indexed(version.c.id > last, version.c.id <= horizon)).all()
            if not rows:
                return done
            _insert(conn, rows)
            _mark_past(conn, {row.nct_id for row in rows}, rows[-1].id)
        done += len(rows)
        if progress is not None:
            progress(len(rows))


def rebuild(engine: sa.Engine, progress: Callable[[int], None] | None = None) -> int:
    """Index every version again (after a change in what is indexed, or to repair), in one
    transaction: searches see the old index until the new one is whole.  Returns the number
    of versions indexed; ``progress(n)`` after each batch of ``n``."""
    version = t.Version.__table__  # type: ignore[attr-defined]
    done, last = 0, 0
    with engine.begin() as conn:
        if _is_sqlite(conn):
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
        else:
            conn.exec_driver_sql(f"LOCK TABLE {PG_TABLE} IN SHARE ROW EXCLUSIVE MODE")
            conn.exec_driver_sql(f"DELETE FROM {PG_TABLE}")
        while True:
            rows = conn.execute(_indexed(version.c.id > last)).all()
            if not rows:
                fill_past(conn)
                return done
            _insert(conn, rows)
            last, done = rows[-1].id, done + len(rows)
            if progress is not None:
                progress(len(rows))


def _mark_past(conn: Connection, nct_ids: set[str], top: int) -> None:
    """Keep :data:`PAST_TABLE` after indexing versions of ``nct_ids`` (ids up to ``top``):
    a trial's current pointer moves only when a version of it is stored, so the trials of
    the versions just indexed are the only ones whose indexed versions can have stopped
    (or started) being current."""
    sqlite = _is_sqlite(conn)
    mark = "?" if sqlite else "%s"
    ordered = sorted(nct_ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        marks = ", ".join([mark] * len(chunk))
        conn.exec_driver_sql(
            f"INSERT {'OR IGNORE ' if sqlite else ''}INTO {PAST_TABLE} SELECT v.id FROM "
            f"version AS v JOIN trial AS t ON t.nct_id = v.nct_id WHERE v.nct_id IN "
            f"({marks}) AND v.id <= {mark} AND v.id != t.current_version_id"
            f"{'' if sqlite else ' ON CONFLICT DO NOTHING'}", (*chunk, top))
        conn.exec_driver_sql(
            f"DELETE FROM {PAST_TABLE} WHERE version_id IN (SELECT current_version_id "
            f"FROM trial WHERE nct_id IN ({marks}))", tuple(chunk))


def fill_past(conn: Connection) -> None:
    """:data:`PAST_TABLE` made again from the whole index (a rebuild, schema steps 16 and
    20)."""
    table, column = (f"{FTS_TABLE}_docsize", "id") if _is_sqlite(conn) else (PG_TABLE,
                                                                             "version_id")
    conn.exec_driver_sql(f"DELETE FROM {PAST_TABLE}")
    conn.exec_driver_sql(
        f"INSERT INTO {PAST_TABLE} SELECT {column} FROM {table} WHERE {column} NOT IN "
        f"(SELECT current_version_id FROM trial WHERE current_version_id IS NOT NULL)")


def _horizon(engine: sa.Engine) -> int | None:
    """The highest version id below which no version can still appear (None: nothing to
    index now).  PostgreSQL writers run side by side and commit ids out of order: a brief
    SHARE lock on ``version`` waits for the inserts under way, so every id up to the
    largest then seen is final (a later insert takes a higher id).  Behind a long
    transaction the catch-up waits a few seconds at most, then leaves it to the next one."""
    version = t.Version.__table__  # type: ignore[attr-defined]
    top = sa.select(sa.func.coalesce(sa.func.max(version.c.id), 0))
    with engine.connect() as conn:
        try:
            if int(conn.execute(top).scalar_one()) <= indexed_up_to(conn):
                return None
            if _is_sqlite(conn):
                return int(conn.execute(top).scalar_one())
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            try:
                conn.exec_driver_sql("LOCK TABLE version IN SHARE MODE")
            except sa.exc.OperationalError:
                return None
            return int(conn.execute(top).scalar_one())
        finally:
            conn.rollback()  # reads only: the lock goes with the transaction


def _indexed(*where: Any) -> sa.Select[Any]:
    """The next batch of versions to index: id, NCT id, record and the values of the
    filter tokens (the version's own, its facet row's)."""
    version = t.Version.__table__  # type: ignore[attr-defined]
    f = facets.FACET
    return (sa.select(version.c.id, version.c.nct_id, version.c.record,
                      version.c.overall_status, version.c.phases, version.c.study_type,
                      version.c.has_results, version.c.effective_date,
                      version.c.start_date, f.c.version_id.label("facet_id"), f.c.funder,
                      f.c.sex, f.c.healthy, f.c.documents, f.c.completion,
                      f.c.primary_completion, f.c.first_posted)
            .outerjoin(f, f.c.version_id == version.c.id)
            .where(*where).order_by(version.c.id).limit(BATCH))


def _insert(conn: Connection, rows: Sequence[Any]) -> None:
    """Index the versions of :func:`_indexed`'s rows."""
    countries: dict[int, list[str]] = {}
    for version_id, name in conn.execute(
            sa.select(facets.PLACE.c.version_id, facets.PLACE.c.country).where(
                facets.PLACE.c.version_id.between(rows[0].id, rows[-1].id),
                facets.PLACE.c.country.is_not(None))):
        countries.setdefault(version_id, []).append(name)
    filters = [filtertokens.tokens(
        row.overall_status, row.phases, row.study_type, row.has_results,
        None if row.facet_id is None else (
            row.funder, row.sex, row.healthy, row.documents, row.completion,
            row.primary_completion, row.first_posted),
        row.effective_date, row.start_date, countries.get(row.id, ())) for row in rows]
    if _is_sqlite(conn):
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE} (rowid, {', '.join(NAMES)}, {filtertokens.COLUMN}) "
            f"VALUES (?{', ?' * (len(NAMES) + 1)})",
            [(row.id, *_sqlite_fields(document(recordcodec.unpack(row.record))), tokens)
             for row, tokens in zip(rows, filters, strict=True)])
        return
    # The filter tokens as lexemes without positions, after the tagged words.
    conn.execute(sa.text(
        f"INSERT INTO {PG_TABLE} (version_id, document) SELECT x.id, CAST(x.doc AS tsvector) "
        f"FROM unnest(CAST(:ids AS INTEGER[]), CAST(:docs AS TEXT[])) AS x(id, doc)"),
        {"ids": [row.id for row in rows],
         "docs": [" ".join((_tsvector(document(recordcodec.unpack(row.record))),
                            *(f"'{token}'" for token in tokens.split())))
                  for row, tokens in zip(rows, filters, strict=True)]})
