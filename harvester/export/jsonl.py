"""JSON Lines: one record per line, exactly as ``trials show --format json`` gives it
(compact), so that ``trials import`` reads the file back into the same records.

The lossless format: values are written as the record holds them (JSON escapes control
characters; nothing is cut or neutralised).  The version that pins each line is in the
search log (``--log``), not in the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, ClassVar

import msgspec

from harvester.export.base import ExportItem
from harvester.export.log import SearchLog


def record_line(item: ExportItem) -> bytes:
    """The record's JSON, compact, newline-terminated."""
    return msgspec.json.encode(item.record.to_json_dict()) + b"\n"


class JsonlExporter:
    name: ClassVar[str] = "jsonl"
    suffix: ClassVar[str] = ".jsonl"
    description: ClassVar[str] = "one record JSON per line (as `trials show --format json`)"
    binary: ClassVar[bool] = False

    def write(self, items: Iterable[ExportItem], out: IO[bytes], log: SearchLog) -> int:
        count = 0
        for item in items:
            out.write(record_line(item))
            log.add(item)
            count += 1
        return count
