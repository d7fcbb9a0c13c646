"""Files of many studies are imported study by study, in batches
(harvester/ingest/jsonstream.py); memory figures are in bench/import_memory.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harvester.ingest.importer as importer_module
from harvester.catalogue import Catalogue
from harvester.ingest.importer import Importer
from harvester.ingest.jsonstream import pieces
from tests.conftest import FIXTURES

STUDIES = [json.loads(p.read_bytes())
           for p in sorted((FIXTURES / "ctgov-v2-json" / "studies").glob("NCT*.json"))[:3]]


def renumbered(count: int) -> list[dict[str, object]]:
    out = []
    for n in range(count):
        study = json.loads(json.dumps(STUDIES[n % len(STUDIES)]))
        study["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{n:07d}"
        out.append(study)
    return out


def test_pages_arrays_and_json_lines_are_cut_into_studies() -> None:
    a, b = (json.dumps(s).encode() for s in STUDIES[:2])
    page = pieces("p.json", b'{"studies": [' + a + b"," + b + b'], "nextPageToken": "x"}')
    assert page is not None
    assert [(p.locator, p.data) for p in page] == [("studies[0]", a), ("studies[1]", b)]
    array = pieces("a.json", b"[" + a + b",\n " + b + b"]")
    assert array is not None and [p.locator for p in array] == ["[0]", "[1]"]
    lines = pieces("l.jsonl", a + b"\n\n" + b + b"\n")
    assert lines is not None
    assert [(p.locator, p.data) for p in lines] == [("line 1", a), ("line 3", b)]


@pytest.mark.parametrize("data", [
    json.dumps(STUDIES[0]).encode(),  # one study: parsed whole, as before
    json.dumps(STUDIES[0], indent=2).encode()[:-40],  # a broken document, not JSON Lines
    b"<clinical_study/>",
    b"",
])
def test_anything_else_is_left_whole(data: bytes) -> None:
    assert pieces("x", data) is None


def test_a_big_page_is_imported_in_batches_with_bad_studies_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    studies = renumbered(120)
    studies[57] = {"protocolSection": {"identificationModule": {"nctId": 5}}}
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"studies": studies}))
    sizes: list[int] = []
    original = importer_module.prepare_payloads

    def recording(payloads: list[importer_module.Entry], *args: object) -> object:
        sizes.append(len(payloads))
        return original(payloads, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importer_module, "prepare_payloads", recording)
    problems: list[str] = []
    with Catalogue.open(f"sqlite:///{tmp_path / 'c.sqlite'}") as cat:
        summary = Importer(cat, batch_size=25, on_problem=problems.append).run([page])
        assert (summary.new, summary.failed) == (119, 1)
        assert max(sizes) <= 25 and sum(sizes) == 120  # never the whole page at once
        (problem,) = problems
        assert problem.startswith(f"{page}: studies[57]")
        again = Importer(cat, batch_size=25).run([page])
        assert (again.new, again.unchanged, again.failed) == (0, 119, 1)
        versions = cat.versions("NCT90000003")
        assert len(versions) == 1 and json.loads(cat.payload(versions[0].id)) == studies[3]
