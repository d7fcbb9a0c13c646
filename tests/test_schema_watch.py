"""`harvester.fetch.schema_watch`: snapshots of the registry's schema and the changes between them,
with a small fake API and a real catalogue."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue.syncstate import X, latest_snapshot
from harvester.errors import FetchError
from harvester.fetch.schema_watch import enum_values, field_paths, watch_schema
from tests.conftest import FIXTURES

ENUMS_FILE = FIXTURES / "spec/studies-enums.json"
METADATA_FILE = FIXTURES / "spec/studies-metadata__aact.json"
ENUMS = json.loads(ENUMS_FILE.read_bytes())
METADATA = json.loads(METADATA_FILE.read_bytes())
DAY1, DAY2 = "2026-08-14T09:00:05", "2026-08-15T09:00:07"


class FakeApi:
    """What watch_schema uses of CtgovApi: version() and document(path)."""

    def __init__(self, stamp: str, metadata: bytes | None = None,
                 enums: bytes | None = None) -> None:
        self.stamp = stamp
        self.documents = {"studies/metadata": metadata or METADATA_FILE.read_bytes(),
                          "studies/enums": enums or ENUMS_FILE.read_bytes()}
        self.calls: list[str] = []
        self.failing: set[str] = set()

    def version(self) -> dict[str, Any]:
        self.calls.append("version")
        return {"apiVersion": "2.0.5", "dataTimestamp": self.stamp}

    def document(self, path: str) -> bytes:
        self.calls.append(path)
        if path in self.failing:
            raise FetchError(f"HTTP 503 from /api/v2/{path} (gave up after 6 attempts)")
        return self.documents[path]


def watch(catalogue: Catalogue, api: FakeApi) -> Any:
    return watch_schema(catalogue, api)  # type: ignore[arg-type]


def snapshots(catalogue: Catalogue) -> list[tuple[str, str]]:
    with catalogue.engine.connect() as conn:
        rows = conn.execute(sa.select(X.c.kind, X.c.data_timestamp).order_by(X.c.id))
        return [(row.kind, row.data_timestamp) for row in rows]


@pytest.fixture
def catalogue(tmp_path: Path) -> Catalogue:
    return Catalogue.open(f"sqlite:///{tmp_path / 'catalogue.sqlite'}")


def changed_documents() -> tuple[bytes, bytes]:
    """The fixtures with one enum value added (Status.PAUSED) and one field removed
    (protocolSection.identificationModule.acronym)."""
    enums = copy.deepcopy(ENUMS)
    (status,) = [e for e in enums if e["type"] == "Status"]
    status["values"].append({"value": "PAUSED", "legacyValue": "Paused"})
    metadata = copy.deepcopy(METADATA)
    (protocol,) = [n for n in metadata if n["name"] == "protocolSection"]
    (ident,) = [n for n in protocol["children"] if n["name"] == "identificationModule"]
    ident["children"] = [n for n in ident["children"] if n["name"] != "acronym"]
    return msgspec.json.encode(metadata), msgspec.json.encode(enums)


def test_the_first_sync_saves_version_metadata_and_enums(db_url: str) -> None:
    catalogue = Catalogue.open(db_url)
    api = FakeApi(DAY1)
    report = watch(catalogue, api)
    assert api.calls == ["version", "studies/metadata", "studies/enums"]
    assert (report.api_version, report.data_timestamp, report.previous_timestamp) == (
        "2.0.5", DAY1, None)
    assert not report.changed
    assert sorted(snapshots(catalogue)) == [("enums", DAY1), ("metadata", DAY1),
                                           ("version", DAY1)]
    version = latest_snapshot(catalogue, "version")
    assert version is not None and json.loads(version[1]) == {"apiVersion": "2.0.5",
                                                              "dataTimestamp": DAY1}
    metadata = latest_snapshot(catalogue, "metadata")
    assert metadata == (DAY1, METADATA_FILE.read_text())
    catalogue.close()


def test_the_same_data_timestamp_asks_only_for_the_version(catalogue: Catalogue) -> None:
    watch(catalogue, FakeApi(DAY1))
    api = FakeApi(DAY1)
    report = watch(catalogue, api)
    assert api.calls == ["version"]
    assert report.previous_timestamp == DAY1 and not report.changed
    assert [kind for kind, _ in snapshots(catalogue)].count("metadata") == 1
    assert [kind for kind, _ in snapshots(catalogue)].count("version") == 2


def test_a_moved_timestamp_reports_exactly_what_changed(catalogue: Catalogue) -> None:
    watch(catalogue, FakeApi(DAY1))
    metadata, enums = changed_documents()
    api = FakeApi(DAY2, metadata, enums)
    report = watch(catalogue, api)
    assert api.calls == ["version", "studies/metadata", "studies/enums"]
    assert report.changed
    assert report.to_json() == {
        "api_version": "2.0.5", "data_timestamp": DAY2, "previous_timestamp": DAY1,
        "fields_added": [], "fields_removed": ["protocolSection.identificationModule.acronym"],
        "enum_values_added": ["Status.PAUSED"], "enum_values_removed": [],
    }
    assert latest_snapshot(catalogue, "enums") == (DAY2, enums.decode())
    # And back again: the inverse change, measured against the latest snapshot.
    back = watch(catalogue, FakeApi("2026-08-16T09:00:00"))
    assert back.fields_added == ["protocolSection.identificationModule.acronym"]
    assert back.enum_values_removed == ["Status.PAUSED"]
    assert back.fields_removed == back.enum_values_added == []


def test_a_moved_timestamp_with_the_same_documents_is_no_change(catalogue: Catalogue) -> None:
    watch(catalogue, FakeApi(DAY1))
    api = FakeApi(DAY2)
    report = watch(catalogue, api)
    assert api.calls == ["version", "studies/metadata", "studies/enums"]
    assert report.previous_timestamp == DAY1 and not report.changed


def test_a_failed_document_fetch_is_checked_again_next_time(catalogue: Catalogue) -> None:
    watch(catalogue, FakeApi(DAY1))
    metadata, enums = changed_documents()
    api = FakeApi(DAY2, metadata, enums)
    api.failing = {"studies/enums"}
    with pytest.raises(FetchError):
        watch(catalogue, api)
    # Nothing of DAY2 was kept, so a retry the same day still compares the documents.
    assert all(stamp == DAY1 for _, stamp in snapshots(catalogue))
    api.failing.clear()
    api.calls.clear()
    report = watch(catalogue, api)
    assert api.calls == ["version", "studies/metadata", "studies/enums"]
    assert report.previous_timestamp == DAY1
    assert report.fields_removed == ["protocolSection.identificationModule.acronym"]
    assert report.enum_values_added == ["Status.PAUSED"]


def test_an_undecodable_document_counts_as_empty(catalogue: Catalogue) -> None:
    watch(catalogue, FakeApi(DAY1))
    report = watch(catalogue, FakeApi(DAY2, enums=b"<html>maintenance</html>"))
    assert report.fields_added == report.fields_removed == []
    assert len(report.enum_values_removed) == len(enum_values(ENUMS)) == 210
    assert report.enum_values_added == []


def test_field_paths_of_the_real_metadata() -> None:
    paths = field_paths(METADATA)
    assert len(paths) == 454
    assert {"protocolSection", "protocolSection.identificationModule",
            "protocolSection.identificationModule.nctId",
            "protocolSection.statusModule.overallStatus",
            "protocolSection.identificationModule.orgStudyIdInfo.id",
            "hasResults"} <= paths
    assert "nctId" not in paths and "identificationModule" not in paths
    assert {p.split(".")[0] for p in paths} == {
        "protocolSection", "resultsSection", "annotationSection", "documentSection",
        "derivedSection", "hasResults"}


def test_field_paths_skips_what_is_not_a_named_node() -> None:
    tree = [{"name": "a", "children": [{"name": "b"}, {"title": "no name"}, "junk"]},
            {"piece": "NoName"}, {"name": "c", "children": None}]
    assert field_paths(tree) == {"a", "a.b", "c"}
    assert field_paths({"name": "a"}) == set() and field_paths(None) == set()


def test_enum_values_of_the_real_enums() -> None:
    values = enum_values(ENUMS)
    assert len(values) == 210
    assert {"Status.RECRUITING", "Status.WITHHELD", "Phase.EARLY_PHASE1",
            "OrgStudyIdType.NIH"} <= values
    assert enum_values({"type": "Status"}) == set() and enum_values(None) == set()
    assert enum_values([{"type": "T", "values": [{"value": "A"}, "junk"]}, "junk"]) == {"T.A"}
