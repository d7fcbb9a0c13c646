"""A stored record read as it is: attribute access over its JSON, without the record classes.

``trials show`` only reads a record to print it.  Building a
:class:`~harvester.records.TrialRecord` costs more than the rest of the command: importing
pydantic and creating the record classes is about half of the process's instructions, and
validating the JSON builds every class's schema on first use.  A :class:`RecordView` gives
the same values by the same attribute names — objects as views, lists as tuples, the
vocabulary's values as the strings they are stored as (an ``StrEnum`` member prints as its
value, so what is printed is the same) — straight from the stored JSON.

It knows one default, the one the stored JSON leaves out by design (a site's ``contacts``
while it has none, :func:`harvester.catalogue.canonical.serialise`); any other key the stored
JSON lacks (a record stored by an older parser) raises :class:`AttributeError`, and the
caller reads the record the usual way instead.
``tests/test_recordview.py`` renders every fixture record both ways and checks they print
the same, and that :data:`ALIASES` names every alias of the record classes.
"""

from __future__ import annotations

import json
from typing import Any

#: A field whose stored (JSON) name is not its attribute name: ``{stored: attribute}``.
ALIASES = {"class": "agency_class"}
_STORED = {attribute: stored for stored, attribute in ALIASES.items()}
#: Left out of the stored JSON while empty (a site's contacts): their value then.
LEFT_OUT_WHEN_EMPTY: dict[str, tuple[()]] = {"contacts": ()}


class RecordView:
    """One JSON object of a stored record, read by attribute."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @classmethod
    def of_json(cls, record_json: str | bytes) -> RecordView:
        data = json.loads(record_json)
        if not isinstance(data, dict):
            raise ValueError("a stored record is a JSON object")
        return cls(data)

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._data[_STORED.get(name, name)]
        except KeyError:
            if name in LEFT_OUT_WHEN_EMPTY:
                return LEFT_OUT_WHEN_EMPTY[name]
            raise AttributeError(name) from None
        return _view(value)

    def __repr__(self) -> str:
        return f"RecordView({self._data!r})"


def _view(value: Any) -> Any:
    if isinstance(value, dict):
        return RecordView(value)
    if isinstance(value, list):
        return tuple(_view(item) for item in value)
    return value
