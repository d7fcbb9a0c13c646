"""The canonical form of a record: what its content hash is taken over.

The hash must change exactly when the trial's content changes.  So it is taken over the
record's JSON with sorted keys and without whitespace in text (re-wrapped or re-indented text
is the same content), and without the fields that describe the *publication* rather than the
trial: the source (versions of different sources live side by side anyway) and the registry's
data-version date (``version_holder``), which moves daily for unchanged studies.

Fields added to the record later (:data:`OMIT_WHEN_EMPTY`) are left out of the canonical form
while they are empty, so a record that has nothing in them hashes exactly as it did before
they existed, and the catalogue's stored hashes stay valid; a record that has something in
them hashes anew (it holds more content).  ``trials reparse`` re-derives stored versions.

The canonical form only needs to be stable, never read back, so whitespace is *deleted* from
the serialised bytes (a C-speed ``translate``) rather than collapsed string by string, which
cost more than parsing.  The price: an edit that only inserts or removes whitespace between
two characters ("non small" → "non-small" still counts; "nonsmall" → "non small" does not) is
not a new version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import msgspec

from harvester.records import TrialRecord

NOT_CONTENT = frozenset({"source", "version_holder"})
# Left out of the canonical form when empty (fields added after hashes were stored).
OMIT_WHEN_EMPTY = frozenset({"condition_mesh", "condition_ancestors", "intervention_mesh",
                             "intervention_ancestors", "outcomes", "references", "see_also",
                             "officials", "central_contacts", "oversight", "ipd_sharing",
                             "expanded_access", "documents", "results"})
_WHITESPACE = b" \t\n\r\x0b\x0c"
#: The escapes of newline, return and tab, removed one after the other (as three
#: ``bytes.replace`` passes would, but a literal regex substitution is ~3× faster on the
#: backslash-dense JSON; the result is byte for byte the same).
_ESCAPES = tuple(re.compile(re.escape(e)) for e in (b"\\n", b"\\r", b"\\t"))


@dataclass(frozen=True)
class Fingerprint:
    record_json: str  # the record as stored: its JSON, as `trials parse` prints it, compact
    content_hash: str  # sha256 of the canonical form, hex


#: One encoder for the stored JSON and one for the canonical form (keys sorted).
_ENCODER = msgspec.json.Encoder()
_SORTED = msgspec.json.Encoder(order="sorted")


def dump(record: TrialRecord) -> tuple[dict[str, Any], bytes]:
    """The record as plain data and as the JSON the catalogue stores (compact, UTF-8): one
    dump serves the stored JSON, the content hash (:func:`hash_dump`) and the facet rows."""
    data = record.to_json_dict()
    return data, _ENCODER.encode(data)


def hash_dump(data: dict[str, Any]) -> str:
    """The content hash of a record from its :func:`dump` — which is trimmed to the
    canonical form in place (take anything else from it first)."""
    for key in NOT_CONTENT:
        data.pop(key, None)
    for key in OMIT_WHEN_EMPTY:
        if key in data and not data[key]:
            del data[key]
    locations = cast(list[dict[str, Any]], data.get("locations") or [])
    for loc in locations:  # a site's contacts: also added later
        if not loc.get("contacts"):
            loc.pop("contacts", None)
    return hashlib.sha256(squeeze(_SORTED.encode(data))).hexdigest()


def fingerprint(record: TrialRecord) -> Fingerprint:
    data, record_json = dump(record)
    return Fingerprint(record_json.decode(), hash_dump(data))


def squeeze(canonical: bytes) -> bytes:
    """JSON writes newlines and tabs in strings as escapes: drop those, then raw whitespace."""
    for escape in _ESCAPES:
        canonical = escape.sub(b"", canonical)
    return canonical.translate(None, _WHITESPACE)


def content_hash(record: TrialRecord) -> str:
    return fingerprint(record).content_hash


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
