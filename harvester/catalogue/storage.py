"""Storage failures as one clear line: the boundary where database errors become
:class:`~harvester.errors.StorageError`.

A full disk, a read-only file system, a locked or damaged SQLite file, or a PostgreSQL server
that went away would otherwise surface as a SQLAlchemy exception whose text carries the SQL
statement and its parameters (kilobytes of record data).  :func:`install` hooks the engine's
``handle_error`` event, so every statement, commit and connection attempt of every module is
covered at this one place; other database errors (a syntax error, a constraint) pass through
unchanged for the code that expects them.  The transaction under way is rolled back by
SQLAlchemy as usual, so what was committed before stays.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, ExceptionContext

from harvester.errors import StorageError

# SQLite result codes (sqlite3's ``sqlite_errorname``, extended codes included by prefix).
_SQLITE_CAUSES = (
    ("SQLITE_FULL", "disk full (or the database's size limit reached)"),
    ("SQLITE_READONLY", "cannot write: the database or its file system is read-only"),
    ("SQLITE_IOERR", "disk I/O error"),
    ("SQLITE_CANTOPEN", "cannot open the catalogue's database file"),
    ("SQLITE_CORRUPT", "the database file is damaged"),
    ("SQLITE_NOTADB", "the file is not a database"),
    ("SQLITE_BUSY", "the database is locked by another process"),
    ("SQLITE_LOCKED", "the database is locked by another process"),
    ("SQLITE_PERM", "permission denied"),
)

# PostgreSQL SQLSTATE classes and codes that mean the server, not the statement, failed.
_PG_CAUSES = (
    ("53100", "the database server's disk is full"),
    ("53", "the database server ran out of resources"),
    ("57P", "the database server ended the connection (shut down or terminated)"),
    ("57", "the database server stopped the statement"),
    ("08", "lost the connection to the database server"),
    ("58", "the database server had a system error"),
    ("25006", "cannot write: the database is read-only"),
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(text[0].split())[:200] if text else type(exc).__name__


def cause(exc: BaseException, *, is_disconnect: bool = False) -> str | None:
    """What went wrong with the storage, in words, or None if ``exc`` is not about storage."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        for prefix, words in _SQLITE_CAUSES:
            if name.startswith(prefix):
                return words
        return None
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str):
        for prefix, words in _PG_CAUSES:
            if state.startswith(prefix):
                return words
    if is_disconnect:
        return "lost the connection to the database server"
    return None


def describe(engine: Engine) -> str:
    """The catalogue's URL as shown to users (password hidden)."""
    return engine.url.render_as_string(hide_password=True)


def install(engine: Engine) -> None:
    """Translate ``engine``'s storage failures into :class:`StorageError` (see above)."""
    where = describe(engine)

    def translate(context: ExceptionContext) -> None:
        if context.is_pre_ping:  # a stale pooled connection: SQLAlchemy reconnects itself
            return
        original: Any = context.original_exception
        words = cause(original, is_disconnect=context.is_disconnect)
        if words is None:
            return
        raise StorageError(f"catalogue {where}: {words} ({_first_line(original)})")

    sa.event.listen(engine, "handle_error", translate)
