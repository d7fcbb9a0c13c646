"""The record view (``harvester/export/view.py``): every row the tabular exports make from a
stored record is the same read through the view as through the validated record."""

from __future__ import annotations

import json

import pytest

from harvester.errors import ExportError
from harvester.export.rows import CHILD_TABLES, trial_row
from harvester.export.view import record_view
from harvester.records import TrialRecord
from tests.exportdata import selected_items, shared


def _typed(rows: list[tuple[object, ...]]) -> list[list[tuple[type, object]]]:
    return [[(type(v), v) for v in row] for row in rows]


def test_every_row_of_every_source_is_the_records(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    items = selected_items(shared(tmp_path_factory))
    sources = set()
    for item in items:
        record, view = item.record, record_view(item.version.record_json)
        assert _typed([trial_row(view)]) == _typed([trial_row(record)]), item.nct_id
        for table in CHILD_TABLES:
            assert _typed(list(table.rows(view))) == _typed(list(table.rows(record))), (
                item.nct_id, table.name)
        sources.add(record.source)
    assert len(items) > 50 and {"ctgov-json", "ctgov-xml"} <= {str(s) for s in sources}
    # Some rows exercise every part: results, outcomes, sites, arms.
    views = [record_view(i.version.record_json) for i in items]
    assert any(v.results is not None for v in views)
    assert any(v.outcomes for v in views) and any(v.locations for v in views)


def test_a_stored_record_missing_newer_fields_reads_with_their_defaults() -> None:
    stored = {"nct_id": "NCT00000102", "source": "ctgov-json", "brief_title": "Old",
              "lead_sponsor": {"name": "A", "class": "NIH"}}
    record = TrialRecord.model_validate(stored)
    view = record_view(json.dumps(stored))
    assert trial_row(view) == trial_row(record)
    assert view.eligibility.inclusion == () and view.outcomes == ()
    assert view.lead_sponsor is not None and view.lead_sponsor.agency_class == "NIH"


def test_a_broken_stored_record_is_an_export_error() -> None:
    with pytest.raises(ExportError, match="cannot read a stored record"):
        record_view('{"nct_id": "NCT00000102", "source": ')
