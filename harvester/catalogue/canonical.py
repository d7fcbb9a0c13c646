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
the serialised bytes (C-speed passes) rather than collapsed string by string, which
cost more than parsing.  The price: an edit that only inserts or removes whitespace between
two characters ("non small" → "non-small" still counts; "nonsmall" → "non small" does not) is
not a new version.

The canonical form is encoded straight from the record's models by msgspec: each model is
handed over as its own field dict (its ``__dict__``, aliases applied), so the plain-data copy
that ``model_dump`` builds is never made; the bytes are those of ``record.to_json_dict()``'s
canonical form (tests/test_canonical.py checks them against the dump on every fixture).  The
JSON the catalogue stores is that same encoding with the left-out fields added
(:func:`serialise`): one encoding of a record serves its storage and its hash.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from pydantic import BaseModel

from harvester.records import Location, Measurements, TrialRecord

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


@dataclass(frozen=True, slots=True)
class Fingerprint:
    record_json: bytes  # the record as stored: compact JSON (see :func:`serialise`)
    content_hash: str  # sha256 of the canonical form, hex


#: Per model class, its fields serialised under another name (``Sponsor.agency_class`` as
#: ``class``), or None when there are none: what ``model_dump(by_alias=True)`` renames.
_ALIASES: dict[type, dict[str, str] | None] = {}


def _aliases(cls: type[BaseModel]) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for name, field in cls.model_fields.items():
        alias = field.serialization_alias or field.alias
        if alias is not None and alias != name:
            found[name] = alias
    _ALIASES[cls] = renamed = found or None
    return renamed


def _fields(obj: Any) -> Any:
    """msgspec's hook for a record's models: the model's fields as they are (``__dict__``:
    every field, in field order, as ``model_dump`` lists them), under their aliases; an
    outcome's values as their fields, from the rows they are kept as (no model built)."""
    cls = type(obj)
    if cls in _ALIASES:  # a model class seen before (no isinstance: ABCMeta's is slow)
        renamed = _ALIASES[cls]
    elif isinstance(obj, BaseModel):
        renamed = _aliases(cls)
    elif isinstance(obj, Measurements):
        return obj.dicts()
    else:
        raise TypeError(f"cannot encode {cls.__name__}")
    if renamed is None:
        return obj.__dict__
    return {renamed.get(name, name): value for name, value in obj.__dict__.items()}


def _content(obj: Any) -> Any:
    """The hook of the canonical form: as :func:`_fields`, the record without what is not
    content (:data:`NOT_CONTENT`, :data:`OMIT_WHEN_EMPTY` while empty) and a site without
    its contacts while it has none (they were added later too).  Fields are removed from a
    copy of the model's own dict (a C-level copy, then a few deletions): msgspec sorts the
    keys, so their order does not matter."""
    cls = type(obj)
    if cls is Location:
        if obj.contacts:
            return _fields(obj)
        fields = obj.__dict__.copy()
        fields.pop("contacts", None)
        return fields
    if cls is TrialRecord:
        fields = obj.__dict__.copy()
        for name in _NOT_CONTENT:
            fields.pop(name, None)
        for name in _OMITTABLE:
            if not fields.get(name, True):
                del fields[name]
        return fields
    return _fields(obj)


_NOT_CONTENT = tuple(NOT_CONTENT)
_OMITTABLE = tuple(OMIT_WHEN_EMPTY)


#: The canonical form (keys sorted) straight from the models; the fields it leaves out.
_CANONICAL = msgspec.json.Encoder(enc_hook=_content, order="sorted")
_FIELDS = msgspec.json.Encoder(enc_hook=_fields, order="sorted")
_LEFT_OUT = tuple(sorted(NOT_CONTENT | OMIT_WHEN_EMPTY))


def serialise(record: TrialRecord) -> Fingerprint:
    """The JSON the catalogue stores of ``record`` and its content hash, from one encoding.

    The stored JSON *is* the canonical form before whitespace is squeezed out — keys sorted,
    sites without contacts while they have none — with the record's fields that the form
    leaves out (the source, the data version, the later fields while empty) after it, as
    more members of the same object.  Decoded, it is the record, as ``to_json_dict()``'s
    JSON is (key order and absent empty contacts mean nothing to a reader)."""
    content = _CANONICAL.encode(record)
    fields = record.__dict__
    rest = _FIELDS.encode({name: fields[name] for name in _LEFT_OUT
                           if name in NOT_CONTENT or not fields[name]})
    stored = b"".join((content[:-1], b",", rest[1:])) if len(content) > 2 else rest
    return Fingerprint(stored, hashlib.sha256(_squeeze_encoded(content)).hexdigest())


def fingerprint(record: TrialRecord) -> Fingerprint:
    return serialise(record)


def squeeze(canonical: bytes) -> bytes:
    """JSON writes newlines and tabs in strings as escapes: drop those, then raw whitespace."""
    for escape in _ESCAPES:
        canonical = escape.sub(b"", canonical)
    return canonical.translate(None, _WHITESPACE)


def _squeeze_encoded(canonical: bytes) -> bytes:
    """:func:`squeeze` of msgspec's compact JSON, in fewer passes where it can.

    That JSON holds no raw whitespace but spaces (control characters in strings are escaped,
    and nothing is put between tokens), so deleting spaces is the whole ``translate``; and
    without an escaped backslash (``\\\\``, a backslash in the text) every backslash opens
    one escape, so removing an escape never brings a backslash next to a letter, and one
    pass removes what the three passes of :func:`squeeze` do.  That pass goes from backslash
    to backslash (a few dozen in a record, found at ``memchr`` speed) and drops each that
    escapes ``n``, ``r`` or ``t``: a regular expression looking at every byte for them cost
    more than deleting the spaces, and looking for an escaped backslash first as much
    again.  At an escaped backslash: the three passes."""
    at = canonical.find(b"\\")
    if at < 0:
        return canonical.replace(b" ", b"")
    kept = []
    start = 0
    while at >= 0:
        escaped = canonical[at + 1:at + 2]
        if escaped in _DROPPED:
            kept.append(canonical[start:at])
            start = at + 2
        elif escaped == b"\\" or not escaped:  # a backslash in the text (or a cut one)
            return squeeze(canonical)
        at = canonical.find(b"\\", at + 2)
    kept.append(canonical[start:])
    return b"".join(kept).replace(b" ", b"")


#: What follows a backslash in the escapes :func:`_squeeze_encoded` drops.
_DROPPED = frozenset((b"n", b"r", b"t"))


def content_hash(record: TrialRecord) -> str:
    """sha256 of the record's canonical form."""
    return hashlib.sha256(_squeeze_encoded(_CANONICAL.encode(record))).hexdigest()


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
