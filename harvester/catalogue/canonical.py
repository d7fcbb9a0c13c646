"""The canonical form of a record: what its content hash is taken over.

The hash must change exactly when the trial's content changes.  So it is taken over the
record's JSON with sorted keys and every run of whitespace in text collapsed (re-wrapped or
re-indented text is the same content), without the fields that describe the *publication*
rather than the trial: the source (versions of different sources live side by side anyway) and
the registry's data-version date (``version_holder``), which moves daily for unchanged studies.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import orjson

from harvester.records import TrialRecord

NOT_CONTENT = frozenset({"source", "version_holder"})
_SPACES = re.compile(r"\s+")


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return _SPACES.sub(" ", value).strip()
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


def canonical_bytes(record: TrialRecord) -> bytes:
    data = {k: v for k, v in record.to_json_dict().items() if k not in NOT_CONTENT}
    return orjson.dumps(_normalise(data), option=orjson.OPT_SORT_KEYS)


def content_hash(record: TrialRecord) -> str:
    """sha256 of the canonical form, hex."""
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def record_json(record: TrialRecord) -> str:
    """The record as stored: its JSON (as ``trials parse`` prints it), compact."""
    return orjson.dumps(record.to_json_dict()).decode()


def registry_date(record: TrialRecord) -> str | None:
    """The registry's own date of this version: last update posted, else submitted, else the
    date of the registry's data version.  Partial dates count as their first day."""
    value = record.last_update_posted or record.last_update_submitted or record.version_holder
    return _full(value) if value else None


def effective_date(record: TrialRecord, seen_at: datetime) -> str:
    """The date a version counts from for ``--as-of``: the registry's, else when we saw it."""
    return registry_date(record) or seen_at.date().isoformat()


def _full(partial: str) -> str:
    parts = partial.split("-")
    return "-".join(parts + ["01"] * (3 - len(parts)))
