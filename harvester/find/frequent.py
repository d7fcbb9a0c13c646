"""The frequent words of the area index: those a champion list is kept for.

``(area, word, docs)`` for each word matching at least ``min_docs`` versions: in the words'
box (``term``: versions holding the word in any column), and in each field-scoped area of
:data:`AREAS` (its most in any one of the area's columns).

SQLite reads FTS5's own vocabulary (``fts5vocab``: exact counts, kept by the index).
PostgreSQL keeps none: its words are counted in a sample of :data:`SAMPLE` versions (the
whole index when it is no larger), drawn row by row (``TABLESAMPLE BERNOULLI``, seeded),
and scaled to the index's size — counting every lexeme of every ``tsvector`` would read
the whole index (4.6 GB at the registry's size).  Not by blocks: the documents are stored
out of line (schema 19), a block holds ~180 versions' rows, and a sample of blocks would
be a few clusters of neighbouring versions; the row scan reads the small rows (229 MB at
600,000 trials) and decompresses the sampled documents only.  A word near the threshold
may fall either side of it; the lists stay exact either way (a word without one ranks
every match).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import areas

#: The field-scoped areas with lists of their frequent words (``--cond melanoma``).
AREAS = ("cond", "intr", "titles", "outc", "spons", "locn")
#: Versions of a PostgreSQL index whose words are counted (see the module's docstring).
SAMPLE = 10_000
#: A sampled word is kept when its scaled count reaches this share of ``min_docs``.
SLACK = 0.8


def words(conn: Connection, min_docs: int) -> list[tuple[str, str, int]]:
    """``(area, word, docs)`` of the frequent words, the words' box first, each area's
    most matched first."""
    if conn.dialect.name == "sqlite":
        every, columns = _sqlite(conn, min_docs)
    else:
        every, columns = _postgresql(conn, min_docs)
    found = [("term", word, docs) for word, docs in sorted(every, key=lambda x: -x[1])]
    for area in AREAS:
        most: dict[str, int] = {}
        for column in areas.AREAS[area]:
            for term, docs in columns.get(column, ()):
                most[term] = max(most.get(term, 0), docs)
        found += sorted(((area, term, docs) for term, docs in most.items()),
                        key=lambda x: -x[2])
    return found


Counts = tuple[list[tuple[str, int]], dict[str, list[tuple[str, int]]]]


def _sqlite(conn: Connection, min_docs: int) -> Counts:
    conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{areas.FTS_TABLE}_vocab "
                         f"USING fts5vocab(main, {areas.FTS_TABLE}, row)")
    conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{areas.FTS_TABLE}_vocol "
                         f"USING fts5vocab(main, {areas.FTS_TABLE}, col)")
    # Not the filter tokens (harvester.catalogue.filtertokens: `_st_recruiting`…), which
    # no query holds: a word starts with a letter or a digit.
    words = "doc >= ? AND substr(term, 1, 1) != '_'"
    every = [(str(term), int(docs)) for term, docs in conn.exec_driver_sql(
        f"SELECT term, doc FROM temp.{areas.FTS_TABLE}_vocab WHERE {words}", (min_docs,))]
    columns: dict[str, list[tuple[str, int]]] = {}
    for term, column, docs in conn.exec_driver_sql(
            f"SELECT term, col, doc FROM temp.{areas.FTS_TABLE}_vocol WHERE {words}",
            (min_docs,)):
        columns.setdefault(str(column), []).append((str(term), int(docs)))
    return every, columns


def _postgresql(conn: Connection, min_docs: int) -> Counts:
    total = areas.count(conn)
    if total == 0:
        return [], {}
    sampled = "" if total <= SAMPLE else (
        f" TABLESAMPLE BERNOULLI ({100.0 * SAMPLE / total:.6f}) REPEATABLE (1)")
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS frequent_sample (version_id INTEGER, tag TEXT, "
        "word TEXT) ON COMMIT DROP")
    conn.exec_driver_sql("TRUNCATE frequent_sample")
    conn.exec_driver_sql(
        f"INSERT INTO frequent_sample SELECT d.version_id, split_part(x.lexeme, ':', 1), "
        f"split_part(x.lexeme, ':', 2) FROM {areas.PG_TABLE} AS d{sampled}, "
        f"unnest(tsvector_to_array(d.document)) AS x(lexeme) "
        f"WHERE left(x.lexeme, 1) <> '_'")  # not the filter tokens, which no query holds
    seen = int(conn.exec_driver_sql(
        "SELECT count(DISTINCT version_id) FROM frequent_sample").scalar_one()) or 1
    scale = total / seen
    least = max(1, int(min_docs * (SLACK if seen < total else 1.0) / scale))
    every = [(str(word), round(int(n) * scale)) for word, n in conn.execute(sa.text(
        "SELECT word, count(DISTINCT version_id) FROM frequent_sample GROUP BY word "
        "HAVING count(DISTINCT version_id) >= :least"), {"least": least})]
    named = {tag: name for name, tag in areas.TAG.items()}
    columns: dict[str, list[tuple[str, int]]] = {}
    for tag, word, n in conn.execute(sa.text(
            "SELECT tag, word, count(*) FROM frequent_sample GROUP BY tag, word "
            "HAVING count(*) >= :least"), {"least": least}):
        if str(tag) in named:
            columns.setdefault(named[str(tag)], []).append((str(word), round(int(n) * scale)))
    return every, columns
