"""The replica over HTTP (127.0.0.1 only): paging, byte shapes, errors, endpoints and faults."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import requests

from harvester.serve import Faults, ReplicaServer, StudyStore
from harvester.serve.store import synthetic
from tests.conftest import FIXTURES

STUDIES = FIXTURES / "ctgov-v2-json/studies"
SPEC = FIXTURES / "spec"
TIMESTAMP = "2026-08-14T09:00:05"
GENERATED = 1200


@pytest.fixture(scope="module")
def big() -> Iterator[ReplicaServer]:
    """The 28 fixture studies plus 1,200 copies of the small ones under NCT9xxxxxxx ids."""
    store = StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)
    snap = store.snapshot()
    small = [snap.studies[n] for n in snap.ids if len(snap.encoded(n)) < 10_000]
    for study in synthetic(small, GENERATED):
        store.add(study)
    with ReplicaServer(store) as server:
        yield server


@pytest.fixture(scope="module")
def _fixture_server() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)) as server:
        yield server


@pytest.fixture
def srv(_fixture_server: ReplicaServer) -> ReplicaServer:
    """The 28 fixture studies, with no fault armed and zeroed counters."""
    _fixture_server.faults.clear()
    _fixture_server.faults.reset_counts()
    return _fixture_server


def get(server: ReplicaServer, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{server.base_url}{path}", params=params, timeout=10)


def ids(page: dict[str, Any]) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]


def search(server: ReplicaServer, **params: Any) -> list[str]:
    """Every hit of a search, following page tokens."""
    found: list[str] = []
    token = None
    while True:
        extra: dict[str, str] = {"pageToken": token} if token else {}
        page = get(server, "/api/v2/studies", pageSize=1000, **params, **extra).json()
        found += ids(page)
        token = page.get("nextPageToken")
        if not token:
            return found


# --- paging ---------------------------------------------------------------------------------


def test_pages_of_1000_full_studies(big: ReplicaServer) -> None:
    url = f"{big.base_url}/api/v2/studies"
    params: dict[str, str | int] = {"pageSize": 1000, "countTotal": "true"}
    first = requests.get(url, params=params, timeout=10)
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/json"
    page1 = first.json()
    assert list(page1) == ["totalCount", "studies", "nextPageToken"]
    assert page1["totalCount"] == 28 + GENERATED
    params["pageToken"] = page1["nextPageToken"]
    page2 = requests.get(url, params=params, timeout=10).json()
    assert list(page2) == ["studies"]  # no totalCount after page 1, no token on the last page
    got = ids(page1) + ids(page2)
    assert len(ids(page1)) == 1000 and len(got) == 28 + GENERATED
    assert got == big.store.ids()
    assert page1["studies"][0] == big.store.get(got[0])


def test_pages_of_7_visit_every_study_exactly_once(big: ReplicaServer) -> None:
    before = big.faults.count("/api/v2/studies")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"pageSize": 7, "fields": "NCTId", "countTotal": "true"}
        if token:
            params["pageToken"] = token
        page = get(big, "/api/v2/studies", **params).json()
        pages += 1
        assert ("totalCount" in page) == (pages == 1)
        assert 0 < len(page["studies"]) <= 7
        seen += ids(page)
        token = page.get("nextPageToken")
        if token is None:
            break
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert seen == big.store.ids() and len(set(seen)) == 28 + GENERATED
    assert pages == math.ceil((28 + GENERATED) / 7)
    assert big.faults.count("/api/v2/studies") - before == pages


def test_page_size_defaults_and_caps(big: ReplicaServer) -> None:
    assert len(get(big, "/api/v2/studies", fields="NCTId").json()["studies"]) == 10
    assert len(get(big, "/api/v2/studies", fields="NCTId", pageSize=0).json()["studies"]) == 10
    capped = get(big, "/api/v2/studies", fields="NCTId", pageSize=5000)
    assert capped.status_code == 200 and len(capped.json()["studies"]) == 1000
    bad = get(big, "/api/v2/studies", pageSize=-1)
    assert bad.status_code == 400 and bad.text == "Invalid value in parameter `pageSize`: `-1`"


def test_page_tokens_are_offsets_and_junk_is_refused(srv: ReplicaServer) -> None:
    page = get(srv, "/api/v2/studies", pageSize=5, fields="NCTId").json()
    # Reusing a token with other parameters silently continues at its offset, as live.
    other = get(srv, "/api/v2/studies", pageToken=page["nextPageToken"], fields="NCTId").json()
    assert ids(other) == srv.store.ids()[5:15]
    bad = get(srv, "/api/v2/studies", pageToken="not-a-token")
    assert bad.status_code == 400 and "pageToken" in bad.text


# --- byte shapes ----------------------------------------------------------------------------


def test_page_bytes_have_the_real_shape() -> None:
    raw = (SPEC / "studies-page-raw.json").read_bytes()
    real_token = json.loads(raw)["nextPageToken"]
    store = StudyStore(
        [
            {"protocolSection": {"identificationModule": {"nctId": "NCT00762892"}}},
            {"protocolSection": {"identificationModule": {"nctId": "NCT00762893"}}},
        ]
    )
    with ReplicaServer(store) as server:
        body = get(server, "/api/v2/studies", countTotal="true", pageSize=1, fields="NCTId").content
    token = json.loads(body)["nextPageToken"]
    assert body == raw.replace(b"4591", b"2").replace(real_token.encode(), token.encode())


def test_a_page_of_several_studies_has_one_study_per_line(srv: ReplicaServer) -> None:
    body = get(srv, "/api/v2/studies", pageSize=3, fields="NCTId|OverallStatus").content
    lines = body.split(b"\n")
    assert lines[0] == b'{"studies":['
    assert [line.endswith(b"},") for line in lines[1:3]] == [True, True]
    assert lines[3].startswith(b'{"protocolSection":') and lines[3].endswith(b"}}")
    assert re.fullmatch(rb'\],"nextPageToken":"[A-Za-z0-9_-]+"\}', lines[4])
    assert not body.endswith(b"\n")


def test_a_zero_hit_page_is_byte_for_byte_the_real_one(srv: ReplicaServer) -> None:
    body = get(srv, "/api/v2/studies", countTotal="true", **{"query.term": "zzqxv"}).content
    assert body == (SPEC / "studies-page-empty-raw.json").read_bytes()
    assert body == b'{"totalCount":0,"studies":[\n\n]}'


def test_version_is_jackson_pretty_printed(srv: ReplicaServer) -> None:
    response = get(srv, "/api/v2/version")
    expected = (SPEC / "version-raw.json").read_bytes()  # same timestamp as the fixture
    assert response.content == expected
    assert response.json() == {"apiVersion": "2.0.5", "dataTimestamp": TIMESTAMP}


def test_enums_and_metadata_are_the_registry_responses(srv: ReplicaServer) -> None:
    enums = get(srv, "/api/v2/studies/enums")
    assert enums.content == (SPEC / "studies-enums.json").read_bytes()
    metadata = get(srv, "/api/v2/studies/metadata", includeIndexedOnly="true")
    assert metadata.content == (SPEC / "studies-metadata__aact.json").read_bytes()
    areas = get(srv, "/api/v2/studies/search-areas").json()
    names = {area["name"] for area in areas[0]["areas"]}
    assert {"ConditionSearch", "BasicSearch", "LocationSearch", "IdSearch"} <= names


# --- single studies -------------------------------------------------------------------------


def test_single_study_200_404_and_alias_301(srv: ReplicaServer) -> None:
    ok = get(srv, "/api/v2/studies/nct189228")  # case and leading zeros are flexible
    assert ok.status_code == 200 and ok.headers["Content-Type"] == "application/json"
    assert ok.content == msgspec.json.encode(srv.store.get("NCT00189228"))
    missing = get(srv, "/api/v2/studies/NCT99999999")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("text/plain")
    assert missing.text == "NCT number NCT99999999 not found"
    moved = requests.get(
        f"{srv.base_url}/api/v2/studies/NCT00201097", allow_redirects=False, timeout=10
    )
    assert moved.status_code == 301
    assert moved.headers["Location"] == "/api/v2/studies/NCT00189228"
    followed = get(srv, "/api/v2/studies/NCT00201097", fields="NCTId")
    assert followed.url.endswith("/api/v2/studies/NCT00189228?fields=NCTId")
    only_id = {"protocolSection": {"identificationModule": {"nctId": "NCT00189228"}}}
    assert followed.json() == only_id
    assert get(srv, "/api/v2/studies/NCT1X").status_code == 400


def test_fields_projection(srv: ReplicaServer) -> None:
    one = get(srv, "/api/v2/studies/NCT00189228", fields="HasResults,OverallStatus|NCTId")
    assert one.content == (
        b'{"protocolSection":{"identificationModule":{"nctId":"NCT00189228"},'
        b'"statusModule":{"overallStatus":"COMPLETED"}},"hasResults":true}'
    )
    # A dotted path, a branch piece and an area name all work; a missing piece gives nothing.
    path = get(srv, "/api/v2/studies/NCT00189228", fields="protocolSection.conditionsModule")
    assert path.json() == {"protocolSection": {"conditionsModule": {"conditions": ["Asthma"]}}}
    branch = get(srv, "/api/v2/studies/NCT00189228", fields="ConditionsModule").json()
    assert branch == path.json()
    area = get(srv, "/api/v2/studies/NCT00189228", fields="TitleSearch").json()
    assert set(area["protocolSection"]["identificationModule"]) == {"briefTitle", "officialTitle"}
    gone = get(srv, "/api/v2/studies/NCT00276445", fields="ResultsSection")
    assert gone.status_code == 200 and gone.json() == {}
    bad = get(srv, "/api/v2/studies", fields="NCTId,Bogus")
    assert bad.status_code == 400
    assert bad.text == "Parameter 'fields' contains invalid field name: 'Bogus'"
    queried = get(srv, "/api/v2/studies", fields="@query", **{"query.lead": "Regeneron"}).json()
    lead = {"leadSponsor": {"name": "Regeneron Pharmaceuticals"}}
    assert queried["studies"][0] == {"protocolSection": {"sponsorCollaboratorsModule": lead}}


# --- errors ---------------------------------------------------------------------------------


def test_unknown_parameters_are_400_text(srv: ReplicaServer) -> None:
    for path in ("/api/v2/studies", "/api/v2/studies/NCT00189228", "/api/v2/version"):
        response = get(srv, path, bogusParam="1")
        assert response.status_code == 400
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.text == "`bogusParam` is unknown parameter"
    assert get(srv, "/api/v2/studies", **{"query.bogus": "x"}).text == (
        "`query.bogus` is unknown parameter"
    )
    assert get(srv, "/api/v2/nowhere").status_code == 404
    assert requests.post(f"{srv.base_url}/api/v2/studies", timeout=10).status_code == 405


def test_bad_expressions_are_400_naming_the_parameter(srv: ReplicaServer) -> None:
    area = get(srv, "/api/v2/studies", **{"filter.advanced": "AREA[X]y"})
    assert area.status_code == 400
    assert area.text == "Error parsing query in advanced filter: Unknown area name: 'X'"
    syntax = get(srv, "/api/v2/studies", **{"postFilter.advanced": "foo[bar"})
    assert syntax.text.startswith(
        "Error parsing query in advanced filter: mismatched input '[' expecting {<EOF>, '(', ','"
    )
    cover = get(srv, "/api/v2/studies", **{"filter.advanced": "COVERAGE[FullMatc]x"})
    assert cover.text == "Error parsing query in advanced filter: Invalid coverage: FullMatc"
    cond = get(srv, "/api/v2/studies", **{"query.cond": "(asthma"})
    assert cond.text == "Error parsing query in query.cond: mismatched input '<EOF>' expecting ')'"


def test_overall_status_filter_is_validated_and_applied(srv: ReplicaServer) -> None:
    assert search(srv, **{"filter.overallStatus": "RECRUITING"}) == ["NCT06454955", "NCT06692738"]
    both = search(srv, **{"filter.overallStatus": "RECRUITING|SUSPENDED"})
    assert both == ["NCT06454955", "NCT06692738", "NCT07011550"]
    assert search(srv, **{"postFilter.overallStatus": "RECRUITING,SUSPENDED"}) == both
    bad = get(srv, "/api/v2/studies", **{"filter.overallStatus": "RECRUITING,Recruiting"})
    assert bad.status_code == 400
    assert bad.text == "Invalid value in parameter `filter.overallStatus`: `Recruiting`"


def test_queries_filters_and_ids(srv: ReplicaServer) -> None:
    both = "AREA[Phase]PHASE2 AND AREA[OverallStatus]WITHDRAWN"
    assert search(srv, **{"filter.advanced": both}) == ["NCT03661047"]
    assert search(srv, **{"query.cond": "asthma", "filter.overallStatus": "WITHDRAWN"}) == [
        "NCT01741805"
    ]
    assert search(srv, **{"filter.ids": "NCT00201097|nct276445"}) == ["NCT00189228", "NCT00276445"]
    # A query of NCT ids only selects them and switches the filters off (spec).
    only_ids = {"query.term": "NCT00189228, NCT00276445", "filter.overallStatus": "RECRUITING"}
    assert search(srv, **only_ids) == ["NCT00189228", "NCT00276445"]
    recent = "AREA[LastUpdatePostDate]RANGE[2026-01-01,MAX]"
    assert search(srv, **{"filter.advanced": recent}) == [
        "NCT04585815",
        "NCT06692738",
        "NCT07011550",
    ]
    assert search(srv, **{"filter.geo": "distance(42.3601,-71.0589,10mi)"}) == [
        "NCT00554515",
        "NCT02210780",
        "NCT02552212",
        "NCT03661047",
    ]
    assert get(srv, "/api/v2/studies", **{"filter.geo": "near(1,2)"}).status_code == 400
    assert get(srv, "/api/v2/studies", **{"filter.ids": "X1"}).status_code == 400
    assert get(srv, "/api/v2/studies", format="csv").status_code == 400


def test_sort(srv: ReplicaServer) -> None:
    newest = search(srv, sort="LastUpdatePostDate", fields="NCTId")  # dates default to desc
    assert newest[:3] == ["NCT07011550", "NCT06692738", "NCT04585815"]
    oldest = search(srv, sort="LastUpdatePostDate:asc")
    assert oldest[0] == "NCT00276445" and oldest == newest[::-1]
    by_size = search(srv, sort="EnrollmentCount:desc", **{"filter.overallStatus": "RECRUITING"})
    assert by_size == ["NCT06692738", "NCT06454955"]
    missing_last = search(srv, sort="EnrollmentCount")
    assert set(missing_last[-2:]) == {"NCT05064306", "NCT06631677"}  # no enrollment count
    assert search(srv, sort="@relevance") == srv.store.ids()
    text = get(srv, "/api/v2/studies", sort="BriefTitle")
    assert text.status_code == 400 and text.text == "Unsupported sort field type: text"
    assert get(srv, "/api/v2/studies", sort="a,b,c").status_code == 400


# --- data version and caching ---------------------------------------------------------------


def test_etag_304_and_bump() -> None:
    store = StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)
    with ReplicaServer(store) as server:
        first = get(server, "/api/v2/studies", pageSize=1)
        etag = first.headers["ETag"]
        again = requests.get(
            f"{server.base_url}/api/v2/studies?pageSize=1",
            headers={"If-None-Match": etag},
            timeout=10,
        )
        assert again.status_code == 304 and again.content == b""
        store.bump()
        version = get(server, "/api/v2/version")
        assert version.json()["dataTimestamp"] == "2026-08-15T09:00:05"
        assert version.headers["ETag"] != etag
        stale = requests.get(
            f"{server.base_url}/api/v2/studies?pageSize=1",
            headers={"If-None-Match": etag},
            timeout=10,
        )
        assert stale.status_code == 200


def test_store_changes_show_up_on_the_next_request() -> None:
    store = StudyStore.from_folder(STUDIES)
    with ReplicaServer(store) as server:
        assert len(search(server)) == 28
        store.remove("NCT00189228")
        assert len(search(server)) == 27
        assert get(server, "/api/v2/studies/NCT00189228").status_code == 404


# --- history --------------------------------------------------------------------------------


def test_history_endpoints() -> None:
    store = StudyStore.from_folder(FIXTURES / "ctgov-history/api-v2-snapshots")
    with ReplicaServer(store) as server:
        changes = get(server, "/api/int/studies/NCT06203210/history").json()["changes"]
        assert [(c["version"], c["date"], c["status"]) for c in changes] == [
            (0, "2026-01-20", "ACTIVE_NOT_RECRUITING"),
            (1, "2026-02-09", "RECRUITING"),
            (2, "2026-03-02", "RECRUITING"),
        ]
        assert changes[0]["moduleLabels"] == []
        assert {"Study Status", "Eligibility"} <= set(changes[1]["moduleLabels"])
        one = get(server, "/api/int/studies/nct6203210/history/1")
        assert list(one.json()) == ["studyVersion", "study"]
        assert one.json()["studyVersion"] == 1
        assert one.json()["study"] == store.history("NCT06203210")[1].study
        assert get(server, "/api/int/studies/NCT06203210/history/3").status_code == 404
        assert get(server, "/api/int/studies/NCT06203210/history/x").status_code == 400
        unknown = get(server, "/api/int/studies/NCT09999999/history")
        assert unknown.status_code == 404 and unknown.text == "NCT number NCT09999999 not found"


# --- faults ---------------------------------------------------------------------------------


def test_rate_limit_with_and_without_retry_after(srv: ReplicaServer) -> None:
    srv.faults.rate_limit(1, retry_after=2)
    srv.faults.rate_limit(1, retry_after=0.25)
    srv.faults.rate_limit(1)
    first, second, third = (get(srv, "/api/v2/version") for _ in range(3))
    assert first.status_code == 429 and first.headers["Retry-After"] == "2"
    assert second.status_code == 429 and second.headers["Retry-After"] == "0.25"
    assert third.status_code == 429 and "Retry-After" not in third.headers
    assert third.headers["Content-Type"].startswith("text/plain")
    assert get(srv, "/api/v2/version").status_code == 200
    assert srv.faults.requests["/api/v2/version"] == 4 and srv.faults.pending == 0


def test_unavailable_and_path_prefixes(srv: ReplicaServer) -> None:
    srv.faults.unavailable(2, path="/api/v2/studies")
    assert get(srv, "/api/v2/version").status_code == 200  # not under the prefix
    assert get(srv, "/api/v2/studies/NCT00189228").status_code == 503
    assert get(srv, "/api/v2/studies").status_code == 503
    assert get(srv, "/api/v2/studies").status_code == 200
    assert srv.faults.count("/api/v2/studies") == 3 and srv.faults.count() == 4
    paths = [path for path, _ in srv.faults.log]
    assert paths[:2] == ["/api/v2/version", "/api/v2/studies/NCT00189228"]


def test_dropped_connection_breaks_the_body(srv: ReplicaServer) -> None:
    srv.faults.drop_connection()
    broken = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
    with pytest.raises(broken):
        get(srv, "/api/v2/studies", pageSize=20)
    assert get(srv, "/api/v2/studies", pageSize=20).status_code == 200


def test_truncated_page_is_invalid_json(srv: ReplicaServer) -> None:
    srv.faults.truncate()
    response = get(srv, "/api/v2/studies", pageSize=20)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    assert get(srv, "/api/v2/studies", pageSize=20).json()["studies"]


def test_slow_responses_and_client_timeouts(srv: ReplicaServer) -> None:
    srv.faults.slow(0.3)
    started = time.monotonic()
    assert get(srv, "/api/v2/version").status_code == 200
    assert time.monotonic() - started >= 0.3
    srv.faults.slow(0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{srv.base_url}/api/v2/version", timeout=0.1)


def test_faults_apply_in_arming_order_and_validate(srv: ReplicaServer) -> None:
    srv.faults.rate_limit(2)
    srv.faults.unavailable(1)
    codes = [get(srv, "/api/v2/version").status_code for _ in range(4)]
    assert codes == [429, 429, 503, 200]
    with pytest.raises(ValueError):
        srv.faults.truncate(-1)
    srv.faults.truncate(3)
    srv.faults.clear()
    assert srv.faults.pending == 0


def test_unexpected_errors_are_plain_500s(
    srv: ReplicaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> bytes:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(srv.app._studies, "page", boom)
    response = get(srv, "/api/v2/studies")
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Internal Server Error"


def test_binds_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ReplicaServer(StudyStore(), host="0.0.0.0")
    server = ReplicaServer(StudyStore(), Faults())
    try:
        assert server.host == "127.0.0.1" and server.base_url == f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
