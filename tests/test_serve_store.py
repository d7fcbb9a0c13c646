"""The replica's study store: loading, ids and aliases, versions, the data timestamp."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

from harvester.serve.store import StudyStore, canonical_nct, renumbered, synthetic
from tests.conftest import FIXTURES

STUDIES = FIXTURES / "ctgov-v2-json/studies"
SNAPSHOTS = FIXTURES / "ctgov-history/api-v2-snapshots"


def study(nct: str, status: str = "RECRUITING", updated: str = "2026-01-02") -> dict[str, Any]:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": f"Study {nct}"},
            "statusModule": {
                "overallStatus": status,
                "lastUpdatePostDateStruct": {"date": updated, "type": "ACTUAL"},
            },
        },
        "hasResults": False,
    }


def test_canonical_nct_is_flexible_about_case_and_leading_zeros() -> None:
    assert canonical_nct("nct123") == "NCT00000123"
    assert canonical_nct("NCT0000000123") == "NCT00000123"
    assert canonical_nct("NCT06203210") == "NCT06203210"
    for bad in ("NCT0", "NCT123456789", "12345678", "NCTabc", ""):
        assert canonical_nct(bad) is None


def test_from_folder_loads_every_study_in_order() -> None:
    store = StudyStore.from_folder(STUDIES)
    files = sorted(p.name.split("__")[0] for p in STUDIES.glob("*.json"))
    assert store.ids() == files
    assert len(store) == 28
    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in store] == files
    assert "NCT06203210" not in store and "nct6692738" in store


def test_from_folder_reads_pages_and_exports_and_skips_non_studies() -> None:
    # Single studies, list pages ({"studies": […]}, with partial fields= records), the
    # website's JSON-array export, field-projected records; the CSVs and biomcp's
    # capture-receipts.json are not studies and are skipped.
    store = StudyStore.from_folder(FIXTURES / "ctgov-v2-json")
    assert len(store) == 60
    assert "NCT06388018" in store  # the AACT {"studies": [...]} wrapper
    assert "NCT02663973" in store  # the one-study website export
    assert "NCT02576665" in store  # a field-projected record


def test_from_folder_turns_snapshots_into_versions() -> None:
    store = StudyStore.from_folder(SNAPSHOTS)  # the watcher's diff log is not a study
    assert store.ids() == ["NCT02552212", "NCT06203210"]
    versions = store.history("NCT06203210")
    assert [v.date for v in versions] == ["2026-01-20", "2026-02-09", "2026-03-02"]
    statuses = [v.study["protocolSection"]["statusModule"]["overallStatus"] for v in versions]
    assert statuses == ["ACTIVE_NOT_RECRUITING", "RECRUITING", "RECRUITING"]
    assert store.get("NCT06203210") == versions[-1].study
    # Two daily copies of one record version (only versionHolder moved): one version, the
    # newer copy.
    (only,) = store.history("NCT02552212")
    assert only.study["derivedSection"]["miscInfoModule"]["versionHolder"] == "2024-01-03"


def test_from_folder_ignores_broken_files(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_bytes(b'{"protocolSection": ')
    (tmp_path / "other.json").write_bytes(b'{"hello": "world"}')
    (tmp_path / "no-id.json").write_bytes(b'{"protocolSection": {"identificationModule": {}}}')
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested/one.json").write_bytes(msgspec.json.encode(study("NCT01234567")))
    assert StudyStore.from_folder(tmp_path).ids() == ["NCT01234567"]


def test_add_get_remove_and_aliases() -> None:
    store = StudyStore()
    aliased = study("NCT00189228")
    aliased["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT00201097"]
    assert store.add(aliased) == "NCT00189228"
    assert store.get("nct189228") == aliased
    assert store.get("NCT00201097") is None  # get() is by canonical id only
    assert store.resolve("NCT00201097") == "NCT00189228"
    assert store.snapshot().resolve("nct201097") == ("NCT00189228", True)
    assert store.snapshot().resolve("NCT00189228") == ("NCT00189228", False)
    assert store.remove("NCT00189228") is True
    assert store.remove("NCT00189228") is False
    assert store.resolve("NCT00201097") is None and len(store) == 0


def test_add_keeps_its_own_copy() -> None:
    store = StudyStore()
    doc = study("NCT01234567")
    store.add(doc)
    doc["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    assert store.get("NCT01234567")["protocolSection"]["statusModule"]["overallStatus"] == (  # type: ignore[index]
        "RECRUITING"
    )


def test_add_rejects_what_is_not_a_study() -> None:
    with pytest.raises(ValueError, match="not an API v2 study"):
        StudyStore().add({"protocolSection": {"identificationModule": {"nctId": "X1"}}})


def test_add_version_appends_and_add_restarts_the_history() -> None:
    store = StudyStore()
    store.add(study("NCT01234567", "NOT_YET_RECRUITING", "2025-01-01"))
    assert store.add_version(study("NCT01234567", "RECRUITING", "2025-06-01")) == 1
    assert store.add_version(study("NCT01234567", "COMPLETED", "2026-01-01")) == 2
    assert [v.date for v in store.history("nct1234567")] == [
        "2025-01-01",
        "2025-06-01",
        "2026-01-01",
    ]
    current = store.get("NCT01234567")
    assert current is not None
    assert current["protocolSection"]["statusModule"]["overallStatus"] == "COMPLETED"
    store.add(study("NCT01234567", "WITHDRAWN", "2026-02-01"))
    assert [v.date for v in store.history("NCT01234567")] == ["2026-02-01"]
    assert store.history("NCT09999999") == []


def test_data_timestamp_and_bump() -> None:
    store = StudyStore(data_timestamp="2026-08-14T09:00:05")
    revision = store.revision
    assert store.bump() == "2026-08-15T09:00:05" == store.data_timestamp
    assert store.bump("2026-09-01T00:00:00") == store.data_timestamp
    assert store.revision == revision + 2
    with pytest.raises(ValueError):
        store.bump("yesterday")
    assert len(StudyStore().data_timestamp) == len("2026-08-14T09:00:05")


def test_snapshots_are_stable_while_the_store_changes() -> None:
    store = StudyStore([study("NCT00000001"), study("NCT00000002")])
    before = store.snapshot()
    assert store.snapshot() is before  # cached until something changes
    store.add(study("NCT00000003"))
    store.remove("NCT00000001")
    assert before.ids == ("NCT00000001", "NCT00000002")
    assert store.snapshot().ids == ("NCT00000002", "NCT00000003")
    assert store.snapshot().revision > before.revision


def test_encoded_is_compact_json_in_the_study_key_order() -> None:
    doc = study("NCT00000001")
    snap = StudyStore([doc]).snapshot()
    assert snap.encoded("NCT00000001") == msgspec.json.encode(doc)
    assert snap.encoded("NCT00000001").startswith(b'{"protocolSection":{"identificationModule"')


def test_synthetic_copies_get_fresh_ids_and_no_aliases() -> None:
    template = StudyStore.from_folder(STUDIES).get("NCT00189228")
    assert template is not None
    copies = list(synthetic([template], 3))
    ids = [c["protocolSection"]["identificationModule"]["nctId"] for c in copies]
    assert ids == ["NCT90000000", "NCT90000001", "NCT90000002"]
    assert all("nctIdAliases" not in c["protocolSection"]["identificationModule"] for c in copies)
    assert template["protocolSection"]["identificationModule"]["nctId"] == "NCT00189228"
    with pytest.raises(ValueError):
        renumbered(template, "bogus")


def test_concurrent_writers_and_readers() -> None:
    store = StudyStore()
    errors: list[BaseException] = []

    def write(base: int) -> None:
        try:
            for i in range(200):
                store.add(study(f"NCT{base + i:08d}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(200):
                snap = store.snapshot()
                assert all(nct in snap.studies for nct in snap.ids)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(b,)) for b in (1_000, 2_000, 3_000)]
    threads += [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store) == 600 and store.ids() == sorted(store.ids())
