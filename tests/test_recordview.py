"""harvester.catalogue.recordview: a stored record read as it is gives what the record classes
give — field for field, and printed by `trials show` — for every record of the fixtures."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from rich.console import Console

from harvester import records
from harvester.catalogue.quick import QuickReader
from harvester.catalogue.recordcodec import pack
from harvester.catalogue.recordview import ALIASES, RecordView
from harvester.commands.views import record_view
from tests.conftest import FIXTURES, trials

SOURCES = (FIXTURES / "ctgov-v2-json" / "studies", FIXTURES / "ctgov-xml",
           FIXTURES / "mirror-veeva",
           *sorted((FIXTURES / "ctgov-history" / "api-v2-snapshots").glob("*__vh*.json")))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuickReader]:
    path = tmp_path_factory.mktemp("recordview") / "catalogue.sqlite"
    db = f"sqlite:///{path}"
    for source in SOURCES:
        result = trials(db, "import", source)
        assert result.exit_code == 0, result.output
    reader = QuickReader.open(db)
    assert reader is not None
    with reader:
        yield reader


def _ids(reader: QuickReader) -> list[int]:
    return [row[0] for row in reader.conn.execute("SELECT id FROM version ORDER BY id")]


def _same(model: Any, view: Any, where: str) -> None:
    """``view`` holds what ``model`` holds, by the model's field names, all the way down."""
    if isinstance(model, BaseModel):
        assert isinstance(view, RecordView), where
        for name in type(model).model_fields:
            _same(getattr(model, name), getattr(view, name), f"{where}.{name}")
    elif isinstance(model, tuple) or type(model).__name__ == "Measurements":
        assert isinstance(view, tuple), where
        assert len(view) == len(model), where
        for i, (m, v) in enumerate(zip(model, view, strict=True)):
            _same(m, v, f"{where}[{i}]")
    elif isinstance(model, Enum):  # the vocabulary: stored as its value, printed the same
        assert type(view) is str and view == model.value and str(view) == str(model), where
    else:
        assert type(view) is type(model) and view == model, where


def _printed(record: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(record_view(record))
    return out.getvalue()


def test_every_stored_record_reads_the_same_as_its_record_class(stored: QuickReader) -> None:
    ids = _ids(stored)
    kinds = {row[0] for row in stored.conn.execute("SELECT DISTINCT source FROM version")}
    assert len(ids) > 60 and kinds == {"ctgov-json", "ctgov-xml", "veeva"}
    printed: set[str] = set()
    with_results = 0
    for version_id in ids:
        model, view = stored.record(version_id), stored.record_view(version_id)
        _same(model, view, f"version {version_id}")
        # Printing is the slow part: each kind of source, and every results overview.
        if model.source not in printed or model.results is not None:
            assert _printed(view) == _printed(model), version_id
            printed.add(model.source)
            with_results += model.results is not None
    assert with_results >= 3  # the results overview is read the same too


def test_aliases_name_every_alias_of_the_record_classes() -> None:
    aliases = {}
    for model in vars(records).values():
        if isinstance(model, type) and issubclass(model, BaseModel):
            aliases |= {f.alias: name for name, f in model.model_fields.items()
                        if f.alias and f.alias != name}
    assert aliases == ALIASES


def test_a_key_the_stored_json_lacks_is_an_attribute_error(stored: QuickReader) -> None:
    """A record stored by an older parser may lack a newer field: `trials show` then reads it
    the usual way (with the record classes' defaults) rather than print a wrong value."""
    data = json.loads(stored._record_json(_ids(stored)[0]))
    del data["results"]
    view = RecordView(data)
    assert view.nct_id == data["nct_id"]
    with pytest.raises(AttributeError):
        _ = view.results
    with pytest.raises(ValueError, match="JSON object"):
        RecordView.of_json(b"[]")


def test_show_prints_an_older_record_through_the_record_classes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    assert trials(db, "import", FIXTURES / "ctgov-v2-json" / "studies").exit_code == 0
    before = trials(db, "show", "NCT00973089").output
    reader = QuickReader.open(db)
    assert reader is not None
    with reader:
        (version_id,) = reader.conn.execute(
            "SELECT id FROM version WHERE nct_id = 'NCT00973089'").fetchone()
        data = json.loads(reader._record_json(version_id))
    del data["outcomes"]  # as stored before parser version 3
    with sqlite3.connect(tmp_path / "catalogue.sqlite") as conn:
        conn.execute("UPDATE version SET record = ? WHERE id = ?",
                     (pack(json.dumps(data, sort_keys=True)), version_id))
    after = trials(db, "show", "NCT00973089")
    assert after.exit_code == 0, after.output
    assert "outcome measures" in before and "outcome measures" not in after.output
    assert after.output.replace(" ", "")[:300] == before.replace(" ", "")[:300]
