"""JSON Lines: one record per line, exactly as ``trials show --format json`` gives it
(compact), so that ``trials import`` reads the file back into the same records.

The lossless format: values are written as the record holds them (JSON escapes control
characters; nothing is cut or neutralised).  The version that pins each line is in the
search log (``--log``), not in the record.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from harvester.export.base import ExportItem, ItemByItem


def record_line(item: ExportItem) -> bytes:
    """The record's JSON, compact, newline-terminated."""
    return msgspec.json.encode(item.record.to_json_dict()) + b"\n"


class JsonlExporter(ItemByItem):
    name: ClassVar[str] = "jsonl"
    suffix: ClassVar[str] = ".jsonl"
    description: ClassVar[str] = "one record JSON per line (as `trials show --format json`)"

    def render(self, item: ExportItem) -> bytes:
        return record_line(item)
