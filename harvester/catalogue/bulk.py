"""Many rows into one table inside the open transaction, at the driver's speed.

SQLAlchemy's per-row parameter processing (a dict per row, compiled parameters, bind
processors) costs more than the insert itself for the thousands of child rows of a page.
:func:`insert_rows` takes plain tuples in the table's column order and hands them to the
driver, with the column types' own conversions applied where a type has one (aware dates
and times in UTC, as text on SQLite), so what is stored is exactly what SQLAlchemy would
have stored:

* on PostgreSQL, ``COPY … FROM STDIN`` (a fraction of the round trips and parsing of an
  INSERT per row): versions, child rows, facets and payloads.  In COPY's binary format,
  each value sent as its column's type as the database has it (:func:`_column_types`, one
  catalog read a statement): psycopg then writes each row in C, where the text format
  adapted every value in Python — 0.21 s of the main process's CPU for the 72,000 sites
  of 5,000 studies, 0.03 s in binary.  Rows holding a number out of its column's range,
  or a naive time, go as text (:func:`_fits`: the binary form would store the number
  wrapped, and refuse the time).  A unique violation fails the whole COPY, as
  SQLAlchemy's IntegrityError (the batch is retried by ``writers.retrying``);
* ``copy=False`` on PostgreSQL: one ``INSERT … SELECT FROM unnest`` of an array a column
  (the new trials' rows), or an ``executemany`` when a column holds bytes;
* on SQLite, one ``executemany``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_MARKS = {"qmark": "?", "numeric": ":{}", "named": ":{}"}


def insert_sql(conn: Connection, table: sa.TableClause, columns: Sequence[str]) -> str:
    mark = _MARKS.get(conn.dialect.paramstyle, "%s")
    values = ", ".join(mark.format(i + 1) for i in range(len(columns)))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({values})"


def _converters(conn: Connection, table: sa.TableClause,
                columns: Sequence[str]) -> list[tuple[int, Callable[[Any], Any]]]:
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(columns):
        process = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if process is not None:
            found.append((i, process))
    return found


def insert_rows(conn: Connection, table: sa.TableClause, rows: Sequence[tuple[Any, ...]],
                columns: Sequence[str] | None = None, *, copy: bool = True) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``, by default all the table's);
    ``copy=False``: never with COPY."""
    if not rows:
        return
    names = list(columns) if columns is not None else [c.name for c in table.columns]
    converters = _converters(conn, table, names)
    if converters:  # as SQLAlchemy would bind them (aware times in UTC, booleans)
        converted = []
        for row in rows:
            values = list(row)
            for i, process in converters:
                if values[i] is not None:
                    values[i] = process(values[i])
            converted.append(tuple(values))
        rows = converted
    if copy and conn.dialect.name == "postgresql":
        # COPY adapts each value as the driver adapts a parameter (a time in UTC to
        # timestamptz, bytes to bytea, a bool to boolean): what is stored is the same.
        statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            types = _column_types(cursor, table.name, names)
            binary = _fits(rows, types)
            if binary:
                statement += " (FORMAT BINARY)"
            with cursor.copy(statement) as stream:
                if binary:
                    stream.set_types(types)
                for row in rows:
                    stream.write_row(row)
        except conn.dialect.loaded_dbapi.Error as exc:
            # As any statement's: wrapped by SQLAlchemy, through the engine's error hooks
            # (harvester.catalogue.storage), so a lost server reads as one.
            conn._handle_dbapi_exception(exc, statement, (), cursor, None)
        return
    if conn.dialect.name == "postgresql" and not any(
            isinstance(table.c[name].type, sa.LargeBinary) for name in names):
        # One statement over one array a column: a unique violation fails it as it fails
        # the executemany (the batch is retried), for a third of the time.  Not with bytes:
        # an array of them goes as hex text (three times slower than executemany's).
        arrays = tuple(list(values) for values in zip(*rows, strict=True))
        conn.exec_driver_sql(unnest_sql(conn, table, names), arrays)
        return
    conn.exec_driver_sql(insert_sql(conn, table, names), list(rows))


def _column_types(cursor: Any, table: str, names: Sequence[str]) -> list[int]:
    """The type oids of ``table``'s columns ``names`` as the database has them (the table
    the search path finds, as COPY does).  Binary COPY sends each value in its column's own
    binary form, so the types are read, not assumed from the table classes: a catalogue
    made by an older release keeps the column types its steps gave it."""
    cursor.execute("SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = "
                   "%s::regclass AND attnum > 0 AND NOT attisdropped", (table,))
    found = dict(cursor.fetchall())
    return [found[name] for name in names]


#: Type oids whose binary form psycopg writes without a range check (a number too large
#: is stored wrapped: 2**40 as 0), with their bounds: int2, int4, float4.
_BOUNDED = {21: (-2**15, 2**15 - 1), 23: (-2**31, 2**31 - 1),
            700: (-3.4028234663852886e38, 3.4028234663852886e38)}
_TIMESTAMPTZ = 1184


def _fits(rows: Sequence[tuple[Any, ...]], types: Sequence[int]) -> bool:
    """Whether the rows' values have a binary form that means what their text means: every
    value of a bounded type (:data:`_BOUNDED`) within it, every time of a ``timestamptz``
    column aware (as text, a naive time is read in the session's time zone; in binary it
    is refused).  Else the rows go as text, and the server takes or refuses them as it
    always did (a DataError for a number out of range) rather than storing a wrapped
    number."""
    for i, oid in enumerate(types):
        if oid not in _BOUNDED and oid != _TIMESTAMPTZ:
            continue
        values = list(map(itemgetter(i), rows))
        if None in values:
            values = [v for v in values if v is not None]
        if not values:
            continue
        if oid == _TIMESTAMPTZ:
            if any(getattr(v, "tzinfo", None) is None for v in values):
                return False
            continue
        low, high = _BOUNDED[oid]
        try:
            if not (low <= min(values) and max(values) <= high):
                return False
        except TypeError:  # not all numbers: the server says what it says of them as text
            return False
    return True


def unnest_sql(conn: Connection, table: sa.TableClause, columns: Sequence[str]) -> str:
    """PostgreSQL: an INSERT of rows given as one array per column (``%s``: a list)."""
    arrays = ", ".join(f"%s::{table.c[name].type.compile(dialect=conn.dialect)}[]"
                       for name in columns)
    return (f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"SELECT * FROM unnest({arrays})")
