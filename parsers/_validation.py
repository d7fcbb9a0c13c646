"""Translate pydantic's ValidationError into the project's ParseError (one boundary)."""

from __future__ import annotations

from pydantic import ValidationError

from harvester.errors import ParseError


def validation_error(exc: ValidationError, *, record: str | None = None) -> ParseError:
    """A :class:`ParseError` naming the first invalid field of a record."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    return ParseError(f"{first['msg']} (got {first.get('input')!r:.60})", record=record,
                      field=field)
