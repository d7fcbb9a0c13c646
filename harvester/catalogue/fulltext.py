"""The text of a version in four fields, for highlighted extracts of search results.

Searches match with the area index (:mod:`harvester.catalogue.areas`); what a result shows is
an extract of its text, taken here from the record, in four fields, most telling first:

``title``     brief and official title, acronym
``focus``     conditions, keywords, intervention names and other names, MeSH terms
``summary``   brief summary, detailed description, why stopped, arm and intervention
              descriptions, MeSH ancestors
``criteria``  the eligibility criteria

Both databases take the extract with FTS5's ``snippet()`` over a private in-memory table of
the few documents shown (:func:`sqlite_snippets`, Porter stemmer over ``unicode61`` without
diacritics): PostgreSQL's ``ts_headline`` cost two thirds of a page's rendering there.

Catalogues before schema version 12 also kept a full-text index of every version here
(``version_fts`` on SQLite, ``version_text`` on PostgreSQL), written after each run; since the
searches moved to the area index nothing read it, and schema step 12 drops it.  The indexes
on the catalogue's own tables that a search needs (:data:`SUPPORT_INDEXES`) stay.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: The fields of a version's text, most telling first.
COLUMNS = ("title", "focus", "summary", "criteria")
#: The full-text index of versions that catalogues before schema version 12 kept.
FTS_TABLE = "version_fts"
PG_TABLE = "version_text"
TOKENIZE = "porter unicode61 remove_diacritics 2"
#: Text kept per field: far beyond any real record.
MAX_FIELD = 200_000
SEPARATOR = " · "  # between items of a list: no token, reads well in a snippet


# --- the text of a record ------------------------------------------------------------------

class _Term(msgspec.Struct):
    term: str | None = None


class _Intervention(msgspec.Struct):
    name: str | None = None
    description: str | None = None
    other_names: list[str] = []


class _Arm(msgspec.Struct):
    label: str | None = None
    description: str | None = None


class _Eligibility(msgspec.Struct):
    criteria: str | None = None
    inclusion: list[str] = []
    exclusion: list[str] = []


class RecordText(msgspec.Struct):
    """The record's text fields (unknown fields ignored, absent ones empty); a reader that
    needs more of the record decodes a subclass once (:func:`texts_of`)."""

    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    conditions: list[str] = []
    keywords: list[str] = []
    interventions: list[_Intervention] = []
    arms: list[_Arm] = []
    condition_mesh: list[_Term] = []
    intervention_mesh: list[_Term] = []
    condition_ancestors: list[_Term] = []
    intervention_ancestors: list[_Term] = []
    eligibility: _Eligibility | None = None
    brief_summary: str | None = None
    detailed_description: str | None = None
    why_stopped: str | None = None


_DECODER = msgspec.json.Decoder(RecordText)


@dataclass(frozen=True, slots=True)
class Texts:
    """A version's text, one string per field of :data:`COLUMNS`."""

    title: str
    focus: str
    summary: str
    criteria: str

    def fields(self) -> tuple[str, str, str, str]:
        return (self.title, self.focus, self.summary, self.criteria)

    @property
    def body(self) -> str:
        """All four fields in one text (for a highlighted extract)."""
        return SEPARATOR.join(f for f in self.fields() if f)


def _join(items: Iterator[str | None] | Sequence[str | None]) -> str:
    seen: list[str] = []
    for item in items:
        text = (item or "").strip()
        if text and text not in seen:
            seen.append(text)
    return SEPARATOR.join(seen)[:MAX_FIELD]


def texts(record_json: str | bytes) -> Texts:
    """The text of a record (its JSON, as the catalogue stores it)."""
    return texts_of(_DECODER.decode(record_json))


def texts_of(r: RecordText) -> Texts:
    """The text of a record decoded as :class:`RecordText` (or a subclass)."""
    elig = r.eligibility or _Eligibility()
    criteria = elig.criteria or "\n".join([*elig.inclusion, *elig.exclusion])
    return Texts(
        title=_join([r.brief_title, r.official_title, r.acronym]),
        focus=_join([*r.conditions, *r.keywords,
                     *(i.name for i in r.interventions),
                     *(n for i in r.interventions for n in i.other_names),
                     *(m.term for m in (*r.condition_mesh, *r.intervention_mesh))]),
        summary=_join([r.brief_summary, r.detailed_description, r.why_stopped,
                       *(f"{a.label}: {a.description}" if a.description else a.label
                         for a in r.arms),
                       *(i.description for i in r.interventions),
                       *(m.term for m in (*r.condition_ancestors,
                                          *r.intervention_ancestors))]),
        criteria=criteria[:MAX_FIELD],
    )


# --- schema -------------------------------------------------------------------------------

#: Indexes on the catalogue's own tables that a search needs: a search joins its matches
#: with a selection (see harvester.catalogue.selection), whose filters are answered from
#: indexes — on SQLite, reading a version's filter columns from its row means reading
#: through its record's overflow pages.  ``(statement, SQLite only)``.
SUPPORT_INDEXES = (
    # versions as of a date: each trial's preferred version, superseded ones left out
    ("CREATE INDEX IF NOT EXISTS ix_version_as_of "
     "ON version (nct_id, effective_date, source, seen_at)", False),
    ("CREATE INDEX IF NOT EXISTS ix_version_supersedes_id ON version (supersedes_id)", False),
    # --country (any case; until schema step 15 dropped version_site), --has-results,
    # --sponsor
    ("CREATE INDEX IF NOT EXISTS ix_version_site_country_lower "
     "ON version_site (lower(country), version_id)", False),
    ("CREATE INDEX IF NOT EXISTS ix_version_has_results ON version (has_results)", True),
    ("CREATE INDEX IF NOT EXISTS ix_version_lead_sponsor ON version (lead_sponsor)", True),
)


def create_support_indexes(conn: Connection) -> None:
    """Schema step 4 (which also made the full-text index, until step 12 dropped it).
    ``version_site``'s index only where the table is (step 15 drops it)."""
    sites = sa.inspect(conn).has_table("version_site")
    for statement, sqlite_only in SUPPORT_INDEXES:
        if " version_site " in statement and not sites:
            continue
        if conn.dialect.name == "sqlite" or not sqlite_only:
            conn.exec_driver_sql(statement)


def drop_index(conn: Connection) -> None:
    """Schema step 12: the full-text index of versions goes (nothing reads it)."""
    table = FTS_TABLE if conn.dialect.name == "sqlite" else PG_TABLE
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


# --- highlighted extracts ------------------------------------------------------------------

def sqlite_snippets(match: str, docs: Sequence[tuple[int, Texts]], start: str, stop: str,
                    tokens: int = 16) -> dict[int, str]:
    """FTS5 ``snippet()`` extracts of ``docs`` for the FTS5 expression ``match``.

    The few documents shown are indexed in a private in-memory FTS5 table, and their
    extracts taken there.
    """
    db = sqlite3.connect(":memory:")
    try:
        db.execute(f"CREATE VIRTUAL TABLE page USING fts5({', '.join(COLUMNS)}, "
                   f"tokenize='{TOKENIZE}')")
        db.executemany(f"INSERT INTO page (rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                       [(version_id, *text.fields()) for version_id, text in docs])
        found = db.execute("SELECT rowid, snippet(page, -1, ?, ?, '…', ?) FROM page "
                           "WHERE page MATCH ?", (start, stop, tokens, match)).fetchall()
        return {int(row[0]): str(row[1]) for row in found}
    finally:
        db.close()
