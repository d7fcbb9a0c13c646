"""Where a trial's other sources disagree with the record the catalogue prefers."""

from __future__ import annotations

from typing import Any

from harvester.catalogue.diff import Change, diff_records
from harvester.records import TrialRecord

_EMPTY: tuple[Any, ...] = (None, "", [], {})


def _lookup(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def disagreements(preferred: TrialRecord, other: TrialRecord) -> list[Change]:
    """Differences on the fields ``other`` actually gives.

    A mirror shows less than the registry (no dates, no site list): a field it leaves empty is
    silence, not disagreement; a field it fills differently — or fills with less, like an
    enrollment without its type — is.
    """
    given = other.to_json_dict()
    return [c for c in diff_records(preferred, other)
            if _lookup(given, c.field) not in _EMPTY]
