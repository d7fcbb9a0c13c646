"""The registry website's filters as narrow tables: who may take part, who pays, where, when.

``version_facet`` holds one row per version with the values the website filters on that the
``version`` row does not have (ages in years, sex, healthy volunteers, the lead sponsor's
class, the documents the registry lists, completion dates); ``version_place`` one row per
site with its country, state and city (lower case) and the registry's coordinates.  Rows are
narrow, so a filter that has no index of its own still reads little.  Like the other child
tables they are written with the version (:func:`add`) and never updated; the schema step
(:func:`create`) fills them from the versions already held, in batches (flat memory).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import places, recordcodec

# The values are made where records are prepared (in workers, without SQLAlchemy).
from harvester.catalogue.facetvalues import (  # noqa: F401 (re-exported)
    FacetValues,
    PlaceValues,
    age_years,
    values,
    values_of,
)

FACET_TABLE = "version_facet"
PLACE_TABLE = "version_place"
BATCH = 1000

_metadata = sa.MetaData()
FACET = sa.Table(
    FACET_TABLE, _metadata,
    sa.Column("version_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("min_age", sa.Float),  # years; NULL: no lower limit
    sa.Column("max_age", sa.Float),  # years; NULL: no upper limit
    sa.Column("std_ages", sa.String(60)),  # "|CHILD|ADULT|", or NULL when not given
    sa.Column("sex", sa.String(20)),  # ALL, FEMALE, MALE
    sa.Column("healthy", sa.Boolean),
    sa.Column("funder", sa.String(20)),  # lead sponsor class: NIH, FED, INDUSTRY, OTHER…
    sa.Column("documents", sa.String(40)),  # "|protocol|sap|icf|", or NULL
    sa.Column("primary_completion", sa.String(10)),
    sa.Column("completion", sa.String(10)),
    sa.Column("first_posted", sa.String(10)),
)
PLACE = sa.Table(
    PLACE_TABLE, _metadata,
    sa.Column("version_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("country", sa.String(100)),
    sa.Column("state", sa.String(200)),
    sa.Column("city", sa.String(200)),
    sa.Column("lat", sa.Float),
    sa.Column("lon", sa.Float),
    # The site as a point on the unit sphere: distances in plain arithmetic (see
    # harvester.catalogue.places.chord), answerable on any database without trigonometry.
    sa.Column("x", sa.Float),
    sa.Column("y", sa.Float),
    sa.Column("z", sa.Float),
    # A rowid table on SQLite: as a WITHOUT ROWID table (a B-tree less to write) a --near
    # city's sites, found by the index on city, were read by their composite key, and
    # `--near` searches took ~1.5x the CPU (bench/search_latency.py, 5,000 trials).
)
INDEXES = (  # (country, state, city) too until schema step 14 dropped it: nothing read it
    sa.Index("ix_version_place_city", PLACE.c.city),
    sa.Index("ix_version_place_z", PLACE.c.z),  # until schema step 10 (NEAR_INDEX)
)
#: --country (schema step 15, when version_site went: its index on lower(country) answered).
COUNTRY_INDEX = sa.Index("ix_version_place_country", PLACE.c.country, PLACE.c.version_id)
#: A site's point first by z, for the range of a --near search, then all it needs: covering.
NEAR_INDEX = sa.Index("ix_version_place_near", PLACE.c.z, PLACE.c.x, PLACE.c.y,
                      PLACE.c.version_id)


def rows(version_id: int, record_json: str | bytes) -> tuple[dict[str, Any],
                                                             list[dict[str, Any]]]:
    """The facet row and place rows of one version, by column name."""
    facet, found = values(record_json)
    names = [c.name for c in FACET.columns]
    place_names = [c.name for c in PLACE.columns]
    return (dict(zip(names, (version_id, *facet), strict=True)),
            [dict(zip(place_names, (version_id, i, *place), strict=True))
             for i, place in enumerate(found)])


def locate(conn: Connection, where: str) -> tuple[float, float] | None:
    """``"Lyon, France"`` or ``"Boston"`` → the mean of the catalogue's site coordinates in
    that city (None when no site is there)."""
    city, _, country = where.rpartition(",") if "," in where else (where, "", "")
    test = [PLACE.c.city == places.city(city), PLACE.c.lat.is_not(None)]
    if country.strip():
        test.append(PLACE.c.country == places.country(country))
    found = conn.execute(sa.select(sa.func.avg(PLACE.c.lat), sa.func.avg(PLACE.c.lon),
                                   sa.func.count()).where(*test)).one()
    return (float(found[0]), float(found[1])) if found[2] else None


def add(conn: Connection, versions: Sequence[tuple[int, Any]]) -> None:
    """Write the facets of freshly inserted versions (``(id, Prepared)``, their values made
    where they were prepared), in the inserting transaction."""
    _insert(conn, [(version_id, item.facet, item.places) for version_id, item in versions])


def _insert(conn: Connection,
            versions: Sequence[tuple[int, FacetValues, list[PlaceValues]]]) -> None:
    from harvester.catalogue.bulk import insert_rows

    insert_rows(conn, FACET, [(version_id, *facet) for version_id, facet, _ in versions])
    insert_rows(conn, PLACE, [(version_id, i, *place) for version_id, _, found in versions
                              for i, place in enumerate(found)])


def create(conn: Connection, progress: Callable[[int], None] | None = None) -> None:
    """Schema step: create the tables and fill them from the versions already held (those
    without facets: the step may run again over a catalogue that has them)."""
    from harvester.catalogue import tables as t  # the table classes: not in parsing workers

    _metadata.create_all(conn, tables=[FACET, PLACE], checkfirst=True)
    version = t.Version.__table__  # type: ignore[attr-defined]
    last = conn.execute(sa.select(sa.func.coalesce(sa.func.max(FACET.c.version_id), 0))
                        ).scalar_one()
    while True:
        batch = conn.execute(sa.select(version.c.id, version.c.record)
                             .where(version.c.id > last).order_by(version.c.id)
                             .limit(BATCH)).all()
        if not batch:
            break
        _insert(conn, [(row.id, *values(recordcodec.unpack(row.record))) for row in batch])
        last = batch[-1].id
        if progress is not None:
            progress(len(batch))
    for index in INDEXES:
        index.create(conn, checkfirst=True)
