"""Parsers: pure functions ``bytes → TrialRecord``.  No network, no database, no clock.

``iter_records`` and ``parse_bytes`` recognise the source from the content; the per-source
modules (``ctgov_json``, ``ctgov_xml``, ``veeva``) each expose ``parse(data) -> TrialRecord``.

The names below are loaded on first use (PEP 562), so that reading ``PARSER_VERSION`` — as
the catalogue does on every command — does not import the HTML and XML stacks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parsers.detect import (
        MAX_PAYLOAD_BYTES,
        detect_source,
        iter_records,
        iter_studies,
        parse_bytes,
    )

#: Bumped whenever a parser change can alter the records it makes (stored with each version).
#: "2": MeSH headings (``condition_mesh`` and its kin).
#: "3": the whole protocol (outcomes, references, people, oversight, IPD sharing, expanded
#: access, documents) and a results overview; free text as plain text; age groups derived for
#: legacy XML; legacy design forms mapped to API v2's enums.
PARSER_VERSION = "3"

__all__ = ["MAX_PAYLOAD_BYTES", "PARSER_VERSION", "detect_source", "iter_records",
           "iter_studies", "parse_bytes"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("parsers.detect"), name)
    raise AttributeError(f"module 'parsers' has no attribute {name!r}")
