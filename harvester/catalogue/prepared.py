"""A record made ready for the catalogue: every row value computed, no database needed.

Preparing (the content hash, the stored JSON, the filter columns and child rows, the
compressed payload) is pure CPU work; storing is database work.  Keeping them apart lets an
import prepare in worker processes while the main process writes, and keeps the values
picklable: plain strings, numbers and tuples.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from harvester.catalogue import canonical, recordcodec
from harvester.catalogue.facetvalues import FacetValues, PlaceValues, values_of_record
from harvester.catalogue.summaryvalues import row_of_record as summary_row
from harvester.records import TrialRecord


@dataclass(frozen=True)
class Incoming:
    """A parsed record on its way in, with the raw payload it came from."""

    record: TrialRecord
    payload: bytes
    payload_sha256: str
    name: str | None = None
    # The registry's version number (record history), else its data version (versionHolder).
    registry_version: str | None = None
    quick: str | None = None  # the zip entry's quick identity, when it came from one
    deflated: bytes | None = None  # ``payload`` as a raw deflate stream, when at hand


@dataclass(frozen=True, slots=True)
class Prepared:
    nct_id: str
    source: str
    content_hash: str
    record_stored: bytes  # version.record: the record's JSON compressed (recordcodec.pack)
    registry_date: str | None
    registry_version: str | None
    columns: dict[str, Any]  # the version table's filter columns
    conditions: list[tuple[str, str]]  # (term, term_norm)
    interventions: list[tuple[str | None, str, str]]  # (type, name, name_norm)
    payload_sha256: str
    payload_size: int
    payload_name: str | None
    payload_quick: str | None
    payload_codec: str  # "deflate": the zip entry's own stream; "zlib": compressed here
    payload_stored: bytes
    facet: FacetValues  # the version_facet row, without the version id
    places: list[PlaceValues]  # version_place rows, without version id and position
    summary: str  # version_summary.summary (harvester.catalogue.summary)


def prepare(item: Incoming) -> Prepared:
    rec = item.record

    # One encoding of the record, straight from its models, is stored and hashed; the facet,
    # place and summary values are read from the models: no plain-data dump.
    encoded = canonical.serialise(rec)
    facet, places = values_of_record(rec)
    columns = _filter_columns(rec)
    summary = summary_row(rec, columns)
    return Prepared(
        nct_id=rec.nct_id, source=rec.source, content_hash=encoded.content_hash,
        record_stored=recordcodec.pack(encoded.record_json),
        registry_date=canonical.registry_date(rec),
        registry_version=item.registry_version or rec.version_holder,
        columns=columns,
        conditions=[(c, c.lower()[:400]) for c in rec.conditions],
        interventions=[(str(x.type) if x.type else None, x.name, x.name.lower()[:400])
                       for x in rec.interventions if x.name],
        payload_sha256=item.payload_sha256, payload_size=len(item.payload),
        payload_name=item.name, payload_quick=item.quick, **_stored(item),
        facet=facet, places=places, summary=summary,
    )


def _stored(item: Incoming) -> dict[str, Any]:
    if item.deflated is not None:  # a zip entry's stream: kept as is, no second compression
        return {"payload_codec": "deflate", "payload_stored": item.deflated}
    return {"payload_codec": "zlib", "payload_stored": _compress(item.payload, 1)}


try:  # A zlib stream (read back by the standard zlib) made by ISA-L: a quarter of zlib's
    # level-1 time, a little smaller.  An environment made before it was a dependency
    # compresses with zlib, into the same format.
    from isal.isal_zlib import compress as _compress
except ImportError:  # pragma: no cover
    _compress = zlib.compress


def unpack(codec: str, stored: bytes) -> bytes:
    """The raw payload from what the catalogue stored."""
    return zlib.decompress(stored, -15 if codec == "deflate" else 15)


def _filter_columns(rec: TrialRecord) -> dict[str, Any]:
    return {
        "overall_status": str(rec.overall_status) if rec.overall_status else None,
        "study_type": str(rec.study_type) if rec.study_type else None,
        "phases": "|".join(str(p) for p in rec.phases) or None,
        "start_date": rec.start_date,
        "last_update_posted": rec.last_update_posted,
        "has_results": rec.has_results,
        "enrollment_count": rec.enrollment.count if rec.enrollment else None,
        "lead_sponsor": rec.lead_sponsor.name if rec.lead_sponsor else None,
    }
