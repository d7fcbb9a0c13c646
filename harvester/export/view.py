"""A stored record read for the tabular exports at the speed of ``msgspec``: a *record view*.

The tabular exporters (CSV, Excel, Parquet) read a record only through the getters of
:mod:`harvester.export.rows` — attribute access such as ``r.enrollment.count`` or
``r.lead_sponsor.name``.  Validating the stored JSON into a frozen pydantic
:class:`~harvester.records.TrialRecord` costs about as much as all the rest of an Excel row,
and the JSON was written from a validated record in the first place.  So these exporters
decode it with ``msgspec`` into *structs generated from the record model*: one struct per
pydantic model, with the same field names (JSON names by alias, ``class`` → ``agency_class``)
and defaults, nested models as nested structs, tuples as tuples, every other value (text,
numbers, vocabulary, partial dates) as the JSON gave it — which is what the record holds:
vocabulary enums are ``str`` enums, equal to and formatting as their text.

A view holds only what those getters read: the parts of a record they never read
(:data:`UNREAD`: the results' measurements — most of a record with results — references,
MeSH terms, contacts …) are skipped by the decoder without making an object.

A view reads like a record for those getters, and gives the same rows: a test compares every
row of every fixture record both ways.  Anything else (citations, ``show``) uses the record.
"""

from __future__ import annotations

import types
from functools import cache
from typing import Annotated, Any, Union, cast, get_args, get_origin

import msgspec
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from harvester.errors import ExportError
from harvester.records import TrialRecord

#: What the row getters of :mod:`harvester.export.rows` never read, by model: the fields left
#: out of its view (None: every field — only the number of items is read).  A getter that
#: reads one of them fails the test that compares rows both ways.
UNREAD: dict[str, frozenset[str] | None] = {
    "TrialRecord": frozenset((
        "nct_id_aliases", "version_holder", "condition_mesh", "condition_ancestors",
        "intervention_mesh", "intervention_ancestors", "detailed_description", "references",
        "see_also", "officials", "central_contacts", "oversight", "ipd_sharing",
        "expanded_access", "documents")),
    "Eligibility": frozenset(("criteria",)),  # read as its inclusion and exclusion lists
    "Location": frozenset(("contacts",)),
    "Results": frozenset(("adverse_events_time_frame",)),
    "OutcomeResult": None,
    "FlowGroup": frozenset(("id", "title", "description")),
    "EventGroup": frozenset(("id", "title", "description", "deaths_at_risk",
                             "serious_at_risk", "other_affected", "other_at_risk")),
}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


#: Views of other readers, by name: what each leaves out, by model, as :data:`UNREAD` does
#: for the exports' (registered by the reader, e.g. the similarity index's features).
PROFILES: dict[str, dict[str, frozenset[str] | None]] = {"": UNREAD}


def _type(annotation: Any, profile: str = "") -> Any:
    """The struct field type of a pydantic field annotation."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if (model := _model_in(annotation)) is not None:
        return _struct(model, profile)
    if origin is Annotated:
        return _type(args[0], profile)
    if origin is tuple:
        return tuple[_type(args[0], profile), ...]  # type: ignore[misc]
    if origin in (Union, types.UnionType):
        models = [m for a in args if (m := _model_in(a)) is not None]
        if models:
            return _struct(models[0], profile) | None
    return Any


@cache
def _struct(model: type[BaseModel], profile: str = "") -> type[msgspec.Struct]:
    fields: list[tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    unread = PROFILES[profile].get(model.__name__, frozenset())
    for name, info in model.model_fields.items():
        if unread is None or name in unread:
            continue
        kind = _type(info.annotation, profile)
        if info.alias:
            rename[name] = info.alias
        if info.default is not PydanticUndefined or info.default_factory is not None:
            default = info.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                nested = _struct(type(default), profile)
                fields.append((name, kind, msgspec.field(default_factory=nested)))
            else:
                fields.append((name, kind, default))
        else:
            fields.append((name, kind, msgspec.NODEFAULT))
    return msgspec.defstruct(f"{model.__name__}{profile}View", fields, kw_only=True,
                             frozen=True, gc=False, rename=rename)


@cache
def _decoder(profile: str = "") -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(_struct(TrialRecord, profile))


def record_view(record_json: str | bytes, profile: str = "") -> TrialRecord:
    """The stored record as a view that reads like a :class:`TrialRecord` for the row
    getters of :mod:`harvester.export.rows` (typed as one for them; it is not one), or for
    the reader that registered ``profile`` in :data:`PROFILES`."""
    try:
        return cast(TrialRecord, _decoder(profile).decode(record_json))
    except msgspec.DecodeError as exc:
        raise ExportError(f"cannot read a stored record: {exc}") from None
