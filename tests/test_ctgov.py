"""`harvester.fetch.ctgov`: search parameters, paging, single studies, record history and
retries of bodies cut short, against the loopback replica (127.0.0.1 only; no database)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from harvester.errors import FetchError, HttpStatusError, UsageError
from harvester.fetch.ctgov import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    CtgovApi,
    HistoryEntry,
    base_url,
    search_params,
    updated_since,
)
from harvester.fetch.http import HttpClient
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES
from tests.corpus import condition_hits, fixture_studies

STUDIES = FIXTURES / "ctgov-v2-json/studies"
SNAPSHOTS = FIXTURES / "ctgov-history/api-v2-snapshots"
TIMESTAMP = "2026-08-14T09:00:05"
STATUSES = ("ACTIVE_NOT_RECRUITING, COMPLETED, ENROLLING_BY_INVITATION, NOT_YET_RECRUITING, "
            "RECRUITING, SUSPENDED, TERMINATED, WITHDRAWN, AVAILABLE, NO_LONGER_AVAILABLE, "
            "TEMPORARILY_NOT_AVAILABLE, APPROVED_FOR_MARKETING, WITHHELD, UNKNOWN")


def last_update(study: dict[str, Any]) -> str:
    return str(study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"])


def nct_of(raw: bytes) -> str:
    return str(json.loads(raw)["protocolSection"]["identificationModule"]["nctId"])


def api_for(server: ReplicaServer, max_attempts: int = 6) -> CtgovApi:
    client = HttpClient(min_interval=0, max_attempts=max_attempts, sleep=lambda s: None)
    return CtgovApi(client, server.base_url)


def studies_queries(server: ReplicaServer) -> list[dict[str, str]]:
    """The query strings of every /api/v2/studies request the replica received, parsed."""
    return [dict(urllib.parse.parse_qsl(query)) for path, query in server.faults.log
            if path == "/api/v2/studies"]


@pytest.fixture(scope="module")
def _server() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)) as server:
        yield server


@pytest.fixture
def srv(_server: ReplicaServer) -> ReplicaServer:
    _server.faults.clear()
    _server.faults.reset_counts()
    return _server


# --- search parameters ------------------------------------------------------------------------


def test_search_params_maps_every_option_to_the_api_parameter() -> None:
    params = search_params(cond="asthma", term="inhaler", intr="budesonide", locn="Boston",
                           spons="NIH", titles="ICS", status=("recruiting", "COMPLETED"),
                           ids=("nct00189228", "NCT01741805"), advanced="AREA[Phase]PHASE2")
    assert params == {
        "query.cond": "asthma", "query.term": "inhaler", "query.intr": "budesonide",
        "query.locn": "Boston", "query.spons": "NIH", "query.titles": "ICS",
        "filter.overallStatus": "RECRUITING,COMPLETED",
        "filter.ids": "NCT00189228,NCT01741805",
        "filter.advanced": "AREA[Phase]PHASE2",
    }


def test_search_params_leaves_out_what_is_not_given() -> None:
    assert search_params() == {}
    assert search_params(cond="", term=None, status=(), ids=()) == {}


def test_search_params_refuses_a_bad_status_and_lists_the_good_ones() -> None:
    with pytest.raises(UsageError) as caught:
        search_params(status=("RECRUITING", "FOO", "bar"))
    assert str(caught.value) == f"--status FOO, bar: not a status; use {STATUSES}"


@pytest.mark.parametrize("bad", ["NCT123", "NCT001899228", "12345678", "NCT0018922X"])
def test_search_params_refuses_what_is_not_an_nct_id(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        search_params(ids=("NCT00189228", bad))
    assert str(caught.value) == f"--ids {bad}: not an NCT id (NCT and 8 digits)"


def test_updated_since_adds_a_last_update_window() -> None:
    params = {"query.cond": "asthma"}
    assert updated_since(params, "2026-02-24") == {
        "query.cond": "asthma",
        "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-02-24,MAX]",
    }
    assert params == {"query.cond": "asthma"}  # the caller's mapping is left alone


def test_updated_since_composes_with_an_existing_advanced_filter() -> None:
    params = search_params(advanced="AREA[Phase]PHASE2 OR AREA[Phase]PHASE3")
    narrowed = updated_since(params, "2025-01-01")
    assert narrowed["filter.advanced"] == (
        "(AREA[Phase]PHASE2 OR AREA[Phase]PHASE3) AND "
        "AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]")
    assert params["filter.advanced"] == "AREA[Phase]PHASE2 OR AREA[Phase]PHASE3"


def test_the_composed_window_narrows_the_replica_search(srv: ReplicaServer) -> None:
    allergy = condition_hits("allergy")
    since = "2013-01-01"
    expected = {n for n, s in fixture_studies().items()
                if n in allergy and last_update(s) >= since}
    assert expected == {"NCT01070368", "NCT05670756", "NCT06631677", "NCT06947252"}
    params = updated_since(search_params(cond="allergy",
                                         advanced="AREA[OverallStatus]COMPLETED"), since)
    studies = [nct_of(raw) for page in api_for(srv).pages(params) for raw in page.studies]
    completed = {n for n in expected
                 if fixture_studies()[n]["protocolSection"]["statusModule"]["overallStatus"]
                 == "COMPLETED"}
    assert set(studies) == completed == {"NCT01070368", "NCT05670756"}


def test_base_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    assert base_url() == DEFAULT_BASE_URL == "https://clinicaltrials.gov"
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:8099/")
    api = CtgovApi(HttpClient(min_interval=0))
    assert api.base == "http://127.0.0.1:8099"  # trailing slash dropped
    assert CtgovApi(HttpClient(), "http://127.0.0.1:1/x/").base == "http://127.0.0.1:1/x"


# --- pages ------------------------------------------------------------------------------------


def test_pages_follow_tokens_and_count_the_total_on_the_first_page_only(
        srv: ReplicaServer) -> None:
    expected = condition_hits("allergy")
    assert len(expected) == 7
    pages = list(api_for(srv).pages({"query.cond": "allergy"}, page_size=3))
    assert [len(p.studies) for p in pages] == [3, 3, 1]
    assert [p.total_count for p in pages] == [7, None, None]
    assert [p.next_token is None for p in pages] == [False, False, True]
    received = [nct_of(raw) for page in pages for raw in page.studies]
    assert len(received) == len(set(received)) and set(received) == expected
    dates = [last_update(fixture_studies()[n]) for n in received]
    assert dates == sorted(dates)  # LastUpdatePostDate ascending
    queries = studies_queries(srv)
    assert len(queries) == 3
    assert queries[0] == {"query.cond": "allergy", "pageSize": "3", "countTotal": "true",
                          "format": "json", "sort": "LastUpdatePostDate:asc"}
    for query, previous in zip(queries[1:], pages, strict=False):
        assert "countTotal" not in query
        assert query["pageToken"] == previous.next_token
        assert query["sort"] == "LastUpdatePostDate:asc" and query["pageSize"] == "3"


def test_page_studies_are_cut_out_verbatim(srv: ReplicaServer) -> None:
    (page,) = api_for(srv).pages({"filter.ids": "NCT00973089"})
    (raw,) = page.studies
    assert raw == srv.store.snapshot().encoded("NCT00973089")  # the bytes as served
    assert json.loads(raw) == fixture_studies()["NCT00973089"]
    assert page.total_count == 1 and page.next_token is None


def test_page_size_is_capped_at_1000_and_sort_can_be_dropped(srv: ReplicaServer) -> None:
    pages = list(api_for(srv).pages({"filter.overallStatus": "RECRUITING"}, page_size=5000,
                                    sort=None))
    assert [nct_of(r) for p in pages for r in p.studies] == ["NCT06454955", "NCT06692738"]
    (query,) = studies_queries(srv)
    assert query["pageSize"] == "1000" and "sort" not in query


def test_a_search_with_no_hits_is_one_empty_page(srv: ReplicaServer) -> None:
    pages = list(api_for(srv).pages({"filter.overallStatus": "WITHHELD"}))
    assert [(p.studies, p.total_count, p.next_token) for p in pages] == [([], 0, None)]


def test_a_refused_search_is_an_http_status_error(srv: ReplicaServer) -> None:
    with pytest.raises(HttpStatusError) as caught:
        list(api_for(srv).pages({"filter.overallStatus": "NOPE"}))
    assert caught.value.status == 400
    assert srv.faults.count("/api/v2/studies") == 1  # a 400 is final: not retried


# --- bodies cut short -------------------------------------------------------------------------


def test_a_truncated_page_is_retried_and_then_succeeds(srv: ReplicaServer) -> None:
    api = api_for(srv)
    srv.faults.truncate(1, path="/api/v2/studies")
    pages = list(api.pages({"query.cond": "allergy"}, page_size=3))
    assert {nct_of(r) for p in pages for r in p.studies} == condition_hits("allergy")
    assert [p.total_count for p in pages] == [7, None, None]
    assert api.client.stats.retries == 1 and api.client.stats.give_ups == 0
    queries = studies_queries(srv)
    assert len(queries) == 4 and queries[0] == queries[1]  # the cut page was asked again
    assert srv.faults.pending == 0


def test_a_page_truncated_on_every_attempt_gives_up(srv: ReplicaServer) -> None:
    api = api_for(srv, max_attempts=2)
    srv.faults.truncate(2, path="/api/v2/studies")
    with pytest.raises(FetchError) as caught:
        list(api.pages({"filter.overallStatus": "RECRUITING"}))
    message = str(caught.value)
    assert "not a page of studies (Input data was truncated)" in message
    assert message.endswith("(gave up after 2 attempts)")
    assert api.client.stats.give_ups == 1 and api.client.stats.requests == 2


def test_truncated_study_history_and_documents_are_retried(srv: ReplicaServer) -> None:
    api = api_for(srv)
    srv.faults.truncate(1, path="/api/v2/studies/NCT00973089")
    assert json.loads(api.study("NCT00973089") or b"") == fixture_studies()["NCT00973089"]
    srv.faults.truncate(1, path="/api/v2/studies/enums")
    assert api.document("studies/enums") == (FIXTURES / "spec/studies-enums.json").read_bytes()
    srv.faults.truncate(1, path="/api/int/")
    assert api.history("NCT00973089") == [HistoryEntry(0, "2015-08-19", "WITHDRAWN")]
    srv.faults.truncate(1, path="/api/int/")
    assert json.loads(api.history_version("NCT00973089", 0)) == fixture_studies()["NCT00973089"]
    assert api.client.stats.retries == 4 and api.client.stats.requests == 8


def test_a_dropped_connection_is_retried(srv: ReplicaServer) -> None:
    api = api_for(srv)
    srv.faults.drop_connection(1, path="/api/v2/studies")
    (page,) = api.pages({"filter.ids": "NCT00973089"})
    assert [nct_of(r) for r in page.studies] == ["NCT00973089"]
    assert api.client.stats.retries == 1


class _Canned(BaseAdapter):
    """Answers every request with one fixed 200 JSON body, without any network."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body
        self.sent = 0

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        self.sent += 1
        response = requests.Response()
        response.status_code = 200
        response._content = self.body
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json",
                                                "Content-Length": str(len(self.body))})
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_well_formed_json_of_the_wrong_shape_is_not_retried() -> None:
    session = requests.Session()
    adapter = _Canned(b'{"hits": []}')
    session.mount("http://127.0.0.1:9/", adapter)
    api = CtgovApi(HttpClient(min_interval=0, session=session, sleep=lambda s: None),
                   "http://127.0.0.1:9")
    with pytest.raises(FetchError) as caught:
        list(api.pages({}))
    assert "not a page of studies (Object missing required field `studies`)" in str(caught.value)
    with pytest.raises(FetchError, match="not a study version"):
        api.history_version("NCT00973089", 0)
    assert api.history("NCT00973089") == []  # a history with no changes is well-formed
    assert adapter.sent == 3 and api.client.stats.retries == 0


# --- single studies, version and record history -----------------------------------------------


def test_study_returns_the_json_or_none_on_404(srv: ReplicaServer) -> None:
    api = api_for(srv)
    raw = api.study("NCT06454955")
    assert raw is not None and json.loads(raw) == fixture_studies()["NCT06454955"]
    assert api.study("NCT09999999") is None
    assert api.client.stats.requests == 2 and api.client.stats.retries == 0


def test_version_and_documents(srv: ReplicaServer) -> None:
    api = api_for(srv)
    assert api.version() == {"apiVersion": "2.0.5", "dataTimestamp": TIMESTAMP}
    metadata = api.document("studies/metadata")
    assert metadata == (FIXTURES / "spec/studies-metadata__aact.json").read_bytes()
    assert [srv_path for srv_path, _ in srv.faults.log] == [
        "/api/v2/version", "/api/v2/studies/metadata"]


def test_record_history_and_past_versions() -> None:
    with ReplicaServer(StudyStore.from_folder(SNAPSHOTS)) as server:
        api = api_for(server)
        assert api.history("NCT06203210") == [
            HistoryEntry(0, "2026-01-20", "ACTIVE_NOT_RECRUITING"),
            HistoryEntry(1, "2026-02-09", "RECRUITING"),
            HistoryEntry(2, "2026-03-02", "RECRUITING"),
        ]
        first = msgspec.json.decode(api.history_version("NCT06203210", 0))
        status = first["protocolSection"]["statusModule"]
        assert status["overallStatus"] == "ACTIVE_NOT_RECRUITING"
        assert status["lastUpdatePostDateStruct"]["date"] == "2026-01-20"
        with pytest.raises(HttpStatusError) as missing:
            api.history_version("NCT06203210", 3)
        assert missing.value.status == 404
        with pytest.raises(HttpStatusError) as unknown:
            api.history("NCT09999999")
        assert unknown.value.status == 404
        assert api.client.stats.retries == 0
        assert [p for p, _ in server.faults.log] == [
            "/api/int/studies/NCT06203210/history", "/api/int/studies/NCT06203210/history/0",
            "/api/int/studies/NCT06203210/history/3", "/api/int/studies/NCT09999999/history"]
