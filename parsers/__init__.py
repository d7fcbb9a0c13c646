"""Parsers: pure functions ``bytes → TrialRecord``.  No network, no database, no clock.

``iter_records`` and ``parse_bytes`` recognise the source from the content; the per-source
modules (``ctgov_json``, ``ctgov_xml``, ``veeva``) each expose ``parse(data) -> TrialRecord``.
"""

from parsers.detect import (
    MAX_PAYLOAD_BYTES,
    detect_source,
    iter_records,
    iter_studies,
    parse_bytes,
)

#: Bumped whenever a parser change can alter the records it makes (stored with each version).
PARSER_VERSION = "1"

__all__ = ["MAX_PAYLOAD_BYTES", "PARSER_VERSION", "detect_source", "iter_records",
           "iter_studies", "parse_bytes"]
