"""The kinds of source a record is parsed from (without the record classes, so that a
command's options can name them without importing pydantic)."""

from __future__ import annotations

from typing import Literal

SourceKind = Literal["ctgov-json", "ctgov-xml", "veeva"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("ctgov-json", "ctgov-xml", "veeva")
