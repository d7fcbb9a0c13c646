"""``trials serve``: the registry's API over the catalogue, and the web pages.

The API is checked against the replica of ClinicalTrials.gov (harvester/serve, which answers
like the real API) serving the same studies: the same hits, the same pages, the same errors.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient

from harvester.catalogue import Catalogue
from harvester.commands._webform import search_form
from harvester.serve import ReplicaServer, StudyStore
from harvester.serve.web import CSP, make_app
from tests import corpusdb
from tests.conftest import FIXTURES, empty_catalogue, trials

corpus_url = corpusdb.corpus_url
STUDIES = FIXTURES / "ctgov-v2-json" / "studies"
HISTORY = "NCT06203210"  # three API versions in the corpus: 2026-01-20, -02-09, -03-02


@pytest.fixture(scope="module")
def client(corpus_url: str) -> Iterator[TestClient]:
    with TestClient(make_app(Catalogue.open(corpus_url), search_form())) as c:
        yield c


@pytest.fixture(scope="module")
def replica() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore.from_folder(STUDIES)) as server:
        yield server


def _ids(page: dict[str, Any]) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]


def _all_pages(get: Any, params: dict[str, str]) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        page = get({**params, **({"pageToken": token} if token else {})})
        ids += _ids(page)
        token = page.get("nextPageToken")
        if not token:
            return ids


# --- the API ------------------------------------------------------------------------------


def test_paging_returns_every_api_study_once(client: TestClient) -> None:
    first = client.get("/api/v2/studies", params={"pageSize": "7", "countTotal": "true"})
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    total = first.json()["totalCount"]
    ids = _all_pages(lambda p: client.get("/api/v2/studies", params=p).json(),
                     {"pageSize": "7"})
    assert len(ids) == total == len(set(ids))
    assert ids == sorted(ids)  # the registry's default order
    assert HISTORY in ids
    # Only trials with an API v2 record: the legacy-XML-only ones are not listed.
    assert "NCT02654730" not in ids


@pytest.mark.parametrize("params", [
    {"query.cond": "lung cancer"},
    {"query.term": "TIGIT"},
    {"filter.overallStatus": "RECRUITING,COMPLETED"},
    {"query.intr": "pembrolizumab", "filter.overallStatus": "RECRUITING"},
    {"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2025-01-01, MAX]"},
    {"filter.advanced": "AREA[Phase]PHASE3"},
    {"sort": "LastUpdatePostDate:desc"},
    {"sort": "EnrollmentCount", "query.term": "cancer"},
    {"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2025-01-01, MAX]",
     "sort": "LastUpdatePostDate:asc"},
    {"filter.advanced": "AREA[LastUpdatePostDate]RANGE[MIN, 2025-06-30]",
     "sort": "LastUpdatePostDate:desc", "filter.overallStatus": "COMPLETED"},
])
def test_same_hits_as_the_registry_replica(client: TestClient, replica: ReplicaServer,
                                           params: dict[str, str]) -> None:
    ours = _all_pages(lambda p: client.get("/api/v2/studies", params=p).json(),
                      {**params, "pageSize": "5"})
    theirs = _all_pages(lambda p: requests.get(f"{replica.base_url}/api/v2/studies",
                                               params=p, timeout=10).json(),
                        {**params, "pageSize": "5"})
    fixture_ids = {p.name.split("__")[0] for p in STUDIES.glob("*.json")}
    # The corpus catalogue holds more API studies than the fixture folder: compare on these.
    assert [i for i in ours if i in fixture_ids] == theirs
    assert theirs  # each case matches something


@pytest.mark.parametrize("statuses", ["COMPLETED", "RECRUITING,COMPLETED", "WITHDRAWN",
                                      "NO_LONGER_AVAILABLE"])
def test_a_status_page_is_the_same_walked_in_nct_order_or_from_the_set(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, statuses: str) -> None:
    """A common status's page is found by walking the trials in NCT order, a rare one's
    from the set of versions of that status: the same pages and total either way."""
    from harvester.serve.web.studies import CatalogueStudies

    walked = []
    pages = {}
    for walk in (True, False):
        monkeypatch.setattr(CatalogueStudies, "_walks", lambda *args, walk=walk: walk)
        params = {"filter.overallStatus": statuses, "pageSize": "3"}
        pages[walk] = _all_pages(lambda p: client.get("/api/v2/studies", params=p).json(),
                                 params)
        walked.append(client.get("/api/v2/studies", params={
            **params, "countTotal": "true"}).json().get("totalCount"))
    assert pages[True] == pages[False] and walked[0] == walked[1] == len(pages[True])
    assert pages[True] or statuses == "NO_LONGER_AVAILABLE"


def test_the_status_page_walks_only_for_a_common_status(corpus_url: str) -> None:
    from harvester.serve.web.studies import CatalogueStudies, _SqlPlan

    studies = CatalogueStudies(Catalogue.open(corpus_url))
    with studies.catalogue.engine.connect() as conn:
        revision = studies.revision(conn)
        common = _SqlPlan(statuses=[["COMPLETED", "RECRUITING", "ACTIVE_NOT_RECRUITING",
                                     "UNKNOWN", "TERMINATED"]])
        assert studies._walks(conn, revision, common, 2)
        assert not studies._walks(conn, revision, _SqlPlan(statuses=[["WITHDRAWN"]]), 11)
        assert not studies._walks(conn, revision, common, 10_000)  # a deep page
        assert not studies._walks(conn, revision, _SqlPlan(), 2)  # no status


def test_study_fields_and_as_of(client: TestClient) -> None:
    now = client.get(f"/api/v2/studies/{HISTORY}").json()
    status = now["protocolSection"]["statusModule"]
    assert status["lastUpdatePostDateStruct"]["date"] == "2026-03-02"
    then = client.get(f"/api/v2/studies/{HISTORY}", params={"asOf": "2026-02-01"}).json()
    assert then["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] \
        == "2026-01-20"
    small = client.get(f"/api/v2/studies/{HISTORY.lower()}",
                       params={"fields": "NCTId,OverallStatus"}).json()
    assert small == {"protocolSection": {
        "identificationModule": {"nctId": HISTORY},
        "statusModule": {"overallStatus": status["overallStatus"]}}}
    listed = client.get("/api/v2/studies", params={"filter.ids": HISTORY,
                                                   "asOf": "2026-02-01"}).json()
    assert _ids(listed) == [HISTORY]
    assert listed["studies"][0]["protocolSection"]["statusModule"][
        "lastUpdatePostDateStruct"]["date"] == "2026-01-20"


@pytest.mark.parametrize(("path", "params", "status", "message"), [
    ("/api/v2/studies", {"colour": "red"}, 400, "`colour` is unknown parameter"),
    ("/api/v2/studies", {"pageSize": "lots"}, 400,
     "Invalid value in parameter `pageSize`: `lots`"),
    ("/api/v2/studies", {"pageToken": "nonsense"}, 400,
     "Invalid value in parameter `pageToken`: `nonsense`"),
    ("/api/v2/studies", {"filter.overallStatus": "DONE"}, 400,
     "Invalid value in parameter `filter.overallStatus`: `DONE`"),
    ("/api/v2/studies", {"fields": "Colour"}, 400,
     "Parameter 'fields' contains invalid field name: 'Colour'"),
    ("/api/v2/studies", {"asOf": "yesterday"}, 400,
     "Invalid value in parameter `asOf`: `yesterday`"),
    ("/api/v2/studies/NCT0000", {}, 400, "Invalid value in parameter `nctId`: `NCT0000`"),
    ("/api/v2/studies/NCT99999998", {}, 404, "NCT number NCT99999998 not found"),
    (f"/api/v2/studies/{HISTORY}", {"asOf": "2001-01-01"}, 404,
     f"NCT number {HISTORY} not found on 2001-01-01"),
])
def test_errors_in_the_registry_wording(client: TestClient, path: str, params: dict[str, str],
                                        status: int, message: str) -> None:
    response = client.get(path, params=params)
    assert (response.status_code, response.text) == (status, message)
    assert response.headers["content-type"].startswith("text/plain")


def test_version_metadata_enums(client: TestClient) -> None:
    version = client.get("/api/v2/version").json()
    assert version["apiVersion"] == "2.0.5"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", version["dataTimestamp"])
    enums = client.get("/api/v2/studies/enums").json()
    assert any(e["type"] == "Status" for e in enums)
    assert client.get("/api/v2/studies/metadata").json()[0]["name"] == "protocolSection"


def test_history_diff_similar_extensions(client: TestClient) -> None:
    history = client.get(f"/api/v2/studies/{HISTORY}/history").json()
    assert [v["version"] for v in history["versions"]] == [1, 2, 3]
    assert history["versions"][0]["summary"] == "first version from ctgov-json"
    diff = client.get(f"/api/v2/studies/{HISTORY}/diff", params={"from": "1", "to": "3"}).json()
    assert diff["from"]["version"] == 1 and diff["to"]["version"] == 3
    assert any(c["field"] == "last_update_posted" for c in diff["changes"])
    similar = client.get(f"/api/v2/studies/{HISTORY}/similar", params={"top": "3"}).json()
    assert len(similar["similar"]) == 3
    assert all(s["reasons"] and s["score"] > 0 for s in similar["similar"])
    assert client.get(f"/api/v2/studies/{HISTORY}/diff", params={"from": "9"}).status_code \
        == 404


def test_read_only_and_headers(client: TestClient) -> None:
    for path in ("/", "/api/v2/studies", f"/trial/{HISTORY}"):
        assert client.post(path).status_code == 405
        assert client.delete(path).status_code == 405
    page = client.get("/")
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert page.headers["x-content-type-options"] == "nosniff"


# --- the pages ----------------------------------------------------------------------------


def test_every_asset_is_local(client: TestClient) -> None:
    html = client.get(f"/trial/{HISTORY}").text
    assets = re.findall(r'(?:src|href)="([^"#]+)"', html)
    local = [a for a in assets if a.startswith("/")]
    assert "/static/style.css" in local and "/static/app.js" in local
    assert "/static/world.svg" in local
    for asset in {a for a in local if a.startswith("/static/")}:
        assert client.get(asset).status_code == 200
    # The only outside links are plain links (registry, PubMed), never loaded resources.
    assert not re.findall(r'<(?:script|link|img|image)[^>]+(?:src|href)="https?:', html)


def test_search_form_offers_every_search_option(client: TestClient) -> None:
    html = client.get("/").text
    for field in search_form().fields:
        assert f'name="{field.name}"' in html, field.flag
    assert "Local catalogue of" in html and "registry data as of" in html


def test_search_page_with_words_and_filters(client: TestClient) -> None:
    html = client.get("/", params={"q": "tigit", "status": "RECRUITING"}).text
    found = re.findall(r'<a class="title" href="/trial/(NCT\d{8})">', html)
    assert found and "<mark>" in html
    assert html.count("status-recruiting") >= len(found)
    listed = client.get("/", params={"status": "COMPLETED", "phase": "PHASE3"}).text
    assert re.findall(r'href="/trial/(NCT\d{8})"', listed)
    bad = client.get("/", params={"start_after": "soon"}).text
    assert "--start-after: &#39;soon&#39; is not a date" in bad


def test_trial_history_similar_compare_pages(client: TestClient) -> None:
    trial = client.get(f"/trial/{HISTORY}").text
    for section in ("summary", "status", "design", "arms", "outcomes", "eligibility", "sites",
                    "people", "references", "documents"):
        assert f'id="{section}"' in trial
    assert "Version 3 of 3" in trial and "<circle" in trial
    then = client.get(f"/trial/{HISTORY}", params={"as_of": "2026-02-01"}).text
    assert "Version 1 of 3" in then and "as it stood on 2026-02-01" in then
    history = client.get(f"/trial/{HISTORY}/history", params={"from": "1", "to": "3"}).text
    assert "Version 1 → version 3" in history and "<polyline" in history
    similar = client.get(f"/trial/{HISTORY}/similar").text
    assert similar.count('class="reasons"') >= 3
    ids = re.findall(r'name="ids" value="(NCT\d{8})"', similar)[:3]
    compared = client.get("/compare", params=[("ids", i) for i in ids]).text
    assert all(f"/trial/{i}" in compared for i in ids) and 'class="differs"' in compared
    sources = client.get("/trial/NCT00557986").text
    assert 'id="sources"' in sources and "veeva" in sources
    assert client.get("/trial/NCT99999998").status_code == 404


def test_export_download_with_search_log(client: TestClient) -> None:
    response = client.get("/export", params={"q": "tigit", "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    data = archive.read(next(n for n in names if n.endswith(".csv"))).decode()
    log = archive.read("search-log.md").decode()
    search = client.get("/", params={"q": "tigit"}).text
    total = int(re.search(r"<strong>(\d+)</strong> trial", search).group(1))  # type: ignore[union-attr]
    assert len(list(csv.DictReader(io.StringIO(data.lstrip("\ufeff"))))) == total
    assert f"Exported: {total}" in log and "trials search tigit" in log


def test_status_and_changes_pages(client: TestClient) -> None:
    status = client.get("/status").text
    assert "Catalogue status" in status and "import" in status
    # the same health facts as `trials status` (harvester.catalogue.health)
    assert re.search(r"Writer lock</th><td>free<", status)
    assert re.search(r"Similar index</th><td>(not built yet|up to date|\d+ trials behind)", status)
    changes = client.get("/changes", params={"since": "2000-01-01"}).text
    assert "New trials" in changes and f"/trial/{HISTORY}" in changes


def test_registry_text_is_escaped(tmp_path: Path) -> None:
    study = json.loads((STUDIES / "NCT03418623__aact.json").read_text())
    ident = study["protocolSection"]["identificationModule"]
    ident["briefTitle"] = '<script>alert("title")</script><img src=x onerror=alert(1)>'
    study["protocolSection"].setdefault("conditionsModule", {})["conditions"] = [
        "</li><script>alert('condition')</script>"]
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(study))
    with empty_catalogue("sqlite", tmp_path) as url:
        assert trials(url, "import", hostile).exit_code == 0
        nct = ident["nctId"]
        with TestClient(make_app(Catalogue.open(url), search_form())) as c:
            pages = [c.get(f"/trial/{nct}").text, c.get("/", params={"q": "script"}).text,
                     c.get("/", params={"q": "alert"}).text]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert" in html


def test_a_superseded_version_is_never_served(db_url: str) -> None:
    """A version re-derived by a newer parser supersedes the old one (same payload): the
    API's study, its history and its list serve the new one only, on both databases."""
    from harvester.catalogue.store import supersede

    snapshots = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob(f"{HISTORY}__vh*"))
    assert trials(db_url, "import", *snapshots, "--quiet").exit_code == 0
    catalogue = Catalogue.open(db_url)
    with TestClient(make_app(catalogue, search_form())) as c:
        before = [c.get(f"/api/v2/studies/{HISTORY}{path}").json()
                  for path in ("", "/history", "?asOf=2026-02-01")]
        website = c.get(f"/api/int/studies/{HISTORY}/history").json()
        listed = c.get("/api/v2/studies").json()
        old = catalogue.current(HISTORY)
        assert old is not None
        record = catalogue.record(old.id).model_copy(update={"brief_title": "re-derived"})
        new_id = supersede(catalogue, old, record, run_id=None)
        assert new_id is not None
        after = [c.get(f"/api/v2/studies/{HISTORY}{path}").json()
                 for path in ("", "/history", "?asOf=2026-02-01")]
        assert after[0] == before[0] and after[2] == before[2]  # the same payload
        ids = [v["id"] for v in after[1]["versions"]]
        assert len(ids) == len(before[1]["versions"]) == len(snapshots)
        assert ids[-1] == new_id and old.id not in ids
        assert c.get(f"/api/int/studies/{HISTORY}/history").json() == website  # listed once
        assert c.get("/api/v2/studies").json() == listed
    catalogue.close()
