"""The values of a version's summary (:mod:`harvester.catalogue.summary`), made from its
record — where records are prepared, in the parsing workers, which import neither SQLAlchemy
nor the tables: standard library and msgspec only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from harvester.records import TrialRecord


class _FromRecord(msgspec.Struct, omit_defaults=True):
    """The summary's fields that only the record holds (unknown fields ignored when decoding
    a record)."""

    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    conditions: list[str] = []
    primary_completion_date: str | None = None
    completion_date: str | None = None


class Summary(_FromRecord, omit_defaults=True):
    """What a result line shows of a version: the record's fields above, then the version's
    filter columns."""

    overall_status: str | None = None
    phases: list[str] = []
    study_type: str | None = None
    start_date: str | None = None
    enrollment_count: int | None = None
    last_update_posted: str | None = None
    lead_sponsor: str | None = None

    @property
    def title(self) -> str | None:
        return self.brief_title or self.official_title


_FROM_RECORD = msgspec.json.Decoder(_FromRecord)
_DECODE = msgspec.json.Decoder(Summary)
_ENCODE = msgspec.json.Encoder()


def make(record: str | bytes | Mapping[str, Any], columns: Mapping[str, Any]) -> Summary:
    """The summary of a record — its JSON, or the plain data it is encoded from
    (``TrialRecord.to_json_dict()``) — with the version's filter columns."""
    r = (msgspec.convert(record, _FromRecord) if isinstance(record, Mapping)
         else _FROM_RECORD.decode(record))
    return _with_columns(r, columns)


def _with_columns(r: _FromRecord, columns: Mapping[str, Any]) -> Summary:
    phases = columns.get("phases")
    return Summary(
        brief_title=r.brief_title, official_title=r.official_title, acronym=r.acronym,
        conditions=r.conditions, primary_completion_date=r.primary_completion_date,
        completion_date=r.completion_date, overall_status=columns.get("overall_status"),
        phases=phases.split("|") if phases else [], study_type=columns.get("study_type"),
        start_date=columns.get("start_date"), enrollment_count=columns.get("enrollment_count"),
        last_update_posted=columns.get("last_update_posted"),
        lead_sponsor=columns.get("lead_sponsor"))


def encode(summary: Summary) -> str:
    return _ENCODE.encode(summary).decode()


def row(record: str | bytes | Mapping[str, Any], columns: Mapping[str, Any]) -> str:
    """What ``version_summary.summary`` stores for a version."""
    return encode(make(record, columns))


def row_of_record(record: TrialRecord, columns: Mapping[str, Any]) -> str:
    """:func:`row` read from the record's models (where a record is prepared)."""
    return encode(_with_columns(_FromRecord(
        brief_title=record.brief_title, official_title=record.official_title,
        acronym=record.acronym, conditions=list(record.conditions),
        primary_completion_date=record.primary_completion_date,
        completion_date=record.completion_date), columns))
