"""Where a trial's other sources disagree with the record the catalogue prefers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harvester.catalogue.diff import Change, diff_records

if TYPE_CHECKING:
    from harvester.records import TrialRecord

_EMPTY: tuple[Any, ...] = (None, "", [], {})
# The record's only non-empty defaults: what a record says when its source does not show the
# field at all (a Veeva page has no results section, and may give no site count).
_DEFAULTS: dict[str, Any] = {"has_results": False, "location_count": 0}


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
    return [c for c in diff_records(preferred, other) if _gives(given, c.field)]


def _gives(data: dict[str, Any], dotted: str) -> bool:
    value = _lookup(data, dotted)
    return value not in _EMPTY and not (dotted in _DEFAULTS and value == _DEFAULTS[dotted])
