"""``trials sync`` and ``trials fetch`` end to end: the CLI against the loopback replica (and a
tiny mirror site), on 127.0.0.1 only."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from harvester.catalogue import Catalogue
from harvester.catalogue.lock import writer_lock
from harvester.serve import Faults, ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials
from tests.corpus import condition_hits, fixture_studies

STUDIES = FIXTURES / "ctgov-v2-json/studies"
TIMESTAMP = "2026-08-14T09:00:05"
SUMMARY_KEYS = {"status", "mode", "pages", "received", "expected", "new", "changed",
                "unchanged", "failed", "requests", "retries"}


# --- what the search should return, read straight from the fixture files ----------------------


def with_status(status: str) -> set[str]:
    return {n for n, s in fixture_studies().items()
            if s["protocolSection"]["statusModule"]["overallStatus"] == status}


# --- helpers ----------------------------------------------------------------------------------


def sync(db: str, server: ReplicaServer | str, *args: str) -> Result:
    base = server if isinstance(server, str) else server.base_url
    return trials(db, "sync", "--base-url", base, "--min-interval", "0", *args)


def fetch(db: str, server: ReplicaServer | str, *args: str) -> Result:
    base = server if isinstance(server, str) else server.base_url
    return trials(db, "fetch", "--base-url", base, "--min-interval", "0", *args)


def stored(db: str) -> set[str]:
    with Catalogue.open(db) as catalogue:
        return set(catalogue.trial_ids())


def runs(db: str) -> list[dict[str, Any]]:
    """``trials runs --format json``, newest first, with the stats column decoded."""
    result = trials(db, "runs", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def page_queries(server: ReplicaServer) -> list[dict[str, str]]:
    return [dict(urllib.parse.parse_qsl(query)) for path, query in server.faults.log
            if path == "/api/v2/studies"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def _server() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)) as server:
        yield server


@pytest.fixture
def srv(_server: ReplicaServer) -> ReplicaServer:
    """The 28 fixture studies (never changed by a test), no fault armed, counters zeroed."""
    _server.faults.clear()
    _server.faults.reset_counts()
    return _server


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalogue.sqlite'}"


# --- first and incremental syncs --------------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (("--status", "RECRUITING"), with_status("RECRUITING")),
    (("--cond", "allergy", "--page-size", "3"), condition_hits("allergy")),
    (("--ids", "NCT00973089", "--ids", "nct01070368", "--ids", "NCT09999999"),
     {"NCT00973089", "NCT01070368"}),
    (("--status", "WITHDRAWN", "--cond", "asthma"),
     with_status("WITHDRAWN") & condition_hits("asthma")),
], ids=["status", "cond", "ids", "status-and-cond"])
def test_a_first_sync_is_a_full_pass_storing_exactly_the_results(
        srv: ReplicaServer, db: str, args: tuple[str, ...], expected: set[str]) -> None:
    assert expected  # the fixtures do hold such studies
    result = sync(db, srv, *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "ok" and summary["mode"] == "full"
    assert summary["received"] == summary["expected"] == summary["new"] == len(expected)
    assert stored(db) == expected


def test_sizes_of_the_expected_sets_are_what_the_fixtures_hold() -> None:
    # Guards the parametrized cases above against an empty or accidental expectation.
    assert with_status("RECRUITING") == {"NCT06454955", "NCT06692738"}
    assert condition_hits("asthma") == {"NCT00189228", "NCT01741805"}
    assert len(condition_hits("allergy")) == 7
    assert with_status("WITHDRAWN") & condition_hits("asthma") == {"NCT01741805"}


def test_a_saved_query_syncs_incrementally(srv: ReplicaServer, db_url: str) -> None:
    first = sync(db_url, srv, "--status", "RECRUITING", "--save", "rec")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith(
        "run 1 (rec): full: 1 pages, 2 of 2 studies: 2 new, 0 changed, 0 unchanged, 0 failed; "
        "5 requests, 0 retries, ")
    assert stored(db_url) == {"NCT06454955", "NCT06692738"}
    srv.faults.reset_counts()
    again = sync(db_url, srv, "rec")
    assert again.exit_code == 0, again.stderr
    # The high-water mark is NCT06692738's last update, 2026-02-25, less a day of overlap.
    assert again.stdout.startswith(
        "run 2 (rec): incremental since 2026-02-24: 1 pages, 1 of 1 studies: 0 new, "
        "0 changed, 1 unchanged, 0 failed; 3 requests, 0 retries, ")
    (query,) = page_queries(srv)
    assert query["filter.overallStatus"] == "RECRUITING"
    assert query["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-02-24,MAX]"
    # The schema documents are not asked for again while the data version stands still.
    assert [p for p, _ in srv.faults.log] == ["/robots.txt", "/api/v2/version",
                                              "/api/v2/studies"]
    full = sync(db_url, srv, "rec", "--full", "--format", "json")
    assert json.loads(full.stdout)["mode"] == "full"
    assert [(r["id"], r["kind"], r["status"]) for r in runs(db_url)] == [
        (3, "sync", "ok"), (2, "sync", "ok"), (1, "sync", "ok")]


def test_sync_all_runs_every_saved_query(srv: ReplicaServer, db: str) -> None:
    assert sync(db, srv, "--status", "RECRUITING", "--save", "rec").exit_code == 0
    assert sync(db, srv, "--cond", "asthma", "--save", "asthma", "--quiet").exit_code == 0
    result = sync(db, srv, "--all", "--format", "json")
    assert result.exit_code == 0, result.stderr
    summaries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(s["name"], s["mode"], s["status"], s["unchanged"]) for s in summaries] == [
        ("asthma", "incremental", "ok", 1), ("rec", "incremental", "ok", 1)]
    assert summaries[0]["query"] == {"query.cond": "asthma"}
    assert summaries[1]["query"] == {"filter.overallStatus": "RECRUITING"}
    assert stored(db) == with_status("RECRUITING") | condition_hits("asthma")


def test_the_json_summary(srv: ReplicaServer, db: str) -> None:
    result = sync(db, srv, "--cond", "asthma", "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) >= SUMMARY_KEYS
    assert {k: summary[k] for k in SUMMARY_KEYS} == {
        "status": "ok", "mode": "full", "pages": 1, "received": 2, "expected": 2, "new": 2,
        "changed": 0, "unchanged": 0, "failed": 0,
        "requests": 5,  # robots.txt, version, metadata, enums, one page
        "retries": 0}
    assert summary["name"] is None and summary["query"] == {"query.cond": "asthma"}
    assert summary["schema"]["data_timestamp"] == TIMESTAMP
    assert summary["schema"]["previous_timestamp"] is None
    assert srv.faults.count() == 5


def test_quiet_prints_nothing_on_success(srv: ReplicaServer, db: str) -> None:
    result = sync(db, srv, "--status", "RECRUITING", "--quiet")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert stored(db) == with_status("RECRUITING")


# --- usage errors -----------------------------------------------------------------------------


def test_an_unknown_saved_query_is_exit_4(db: str) -> None:
    result = sync(db, "http://127.0.0.1:9", "nope")
    assert result.exit_code == 4
    assert result.stderr == ("trials: error: no saved query named 'nope': the catalogue has "
                             "no saved query yet (save one with trials sync … --save nope)\n")


@pytest.mark.parametrize(("args", "message"), [
    (("--all", "--status", "RECRUITING"),
     "--all syncs the saved queries; give no NAME and no search option"),
    (("--all", "rec"), "--all syncs the saved queries; give no NAME and no search option"),
    (("rec", "--cond", "asthma"), "give a saved query NAME or search options, not both"),
    (("--save", "rec"), "--save needs search options to save"),
    (("--all",), "there are no saved queries yet (save one with --save NAME)"),
    (("--ids", "NCT123"), "--ids NCT123: not an NCT id (NCT and 8 digits)"),
])
def test_usage_errors_are_exit_2(db: str, args: tuple[str, ...], message: str) -> None:
    result = sync(db, "http://127.0.0.1:9", *args)
    assert result.exit_code == 2
    assert f"Error: {message}" in result.stderr


def test_a_bad_status_is_exit_2_with_the_list_of_statuses(db: str) -> None:
    result = sync(db, "http://127.0.0.1:9", "--status", "FOO")
    assert result.exit_code == 2 and result.stdout == ""
    assert ("Error: --status: 'FOO' is not one of ACTIVE_NOT_RECRUITING, COMPLETED, "
            "ENROLLING_BY_INVITATION, NOT_YET_RECRUITING, RECRUITING, SUSPENDED, TERMINATED, "
            "WITHDRAWN, AVAILABLE, NO_LONGER_AVAILABLE, TEMPORARILY_NOT_AVAILABLE, "
            "APPROVED_FOR_MARKETING, WITHHELD, UNKNOWN\n") in result.stderr
    assert not Path(db.removeprefix("sqlite:///")).exists()  # refused before anything is made


# --- a misbehaving or missing server ----------------------------------------------------------


def test_a_429_and_503_storm_is_ridden_out_and_counted(srv: ReplicaServer, db: str) -> None:
    assert sync(db, srv, "--status", "RECRUITING", "--quiet").exit_code == 0
    srv.faults.reset_counts()
    srv.faults.rate_limit(3, retry_after=0, path="/api/v2/studies")
    srv.faults.unavailable(2, retry_after=0, path="/api/v2/studies")
    result = sync(db, srv, "--status", "RECRUITING", "--retries", "5", "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["received"], summary["unchanged"]) == ("ok", 1, 1)
    assert (summary["retries"], summary["requests"], summary["give_ups"]) == (5, 8, 0)
    assert srv.faults.count("/api/v2/studies") == 6 and srv.faults.pending == 0
    latest = runs(db)[0]
    assert latest["status"] == "ok"
    assert (latest["stats"]["retries"], latest["stats"]["requests"]) == (5, 8)


def test_a_storm_longer_than_the_retries_fails_the_run(srv: ReplicaServer, db: str) -> None:
    # The first two 429s end the schema check (/api/v2/studies/metadata): a warning only;
    # the next two the search itself.
    srv.faults.rate_limit(4, retry_after=0, path="/api/v2/studies")
    result = sync(db, srv, "--status", "RECRUITING", "--retries", "1")
    assert result.exit_code == 3 and result.stdout == ""
    (warning, line) = result.stderr.splitlines()
    assert warning.startswith("trials: warning: registry schema not checked (HTTP 429 ")
    assert line.startswith("trials: error: HTTP 429 from ")
    assert line.endswith("(gave up after 2 attempts)")
    (run,) = runs(db)
    assert run["status"] == "failed" and "gave up after 2 attempts" in run["message"]
    assert (run["stats"]["retries"], run["stats"]["give_ups"]) == (2, 2)
    assert stored(db) == set()


def test_an_unreachable_server_is_exit_3_and_one_line(db: str) -> None:
    port = closed_port()
    result = sync(db, f"http://127.0.0.1:{port}", "--status", "RECRUITING", "--retries", "0")
    assert result.exit_code == 3 and result.stdout == ""
    lines = result.stderr.splitlines()
    (line,) = [line for line in lines if line.startswith("trials: error: ")]
    assert all(other.startswith("trials: warning: ") for other in lines if other != line)
    assert line.startswith(f"trials: error: ConnectionError fetching http://127.0.0.1:{port}/")
    assert "Connection refused" in line and line.endswith("(gave up after 1 attempts)")
    assert [r["status"] for r in runs(db)] == ["failed"]


class _DropOnSecondPage(Faults):
    """Withdraws one study from the store when the second page is asked for, before it is
    served: every later study moves up one place and the page skips one of them."""

    def __init__(self, store: StudyStore, nct: str) -> None:
        super().__init__()
        self.store, self.nct, self.dropped = store, nct, False

    def record(self, path: str, query: str) -> None:
        super().record(path, query)
        if path == "/api/v2/studies" and "pageToken=" in query and not self.dropped:
            self.dropped = True
            self.store.remove(self.nct)


def test_a_study_vanishing_between_pages_makes_the_run_incomplete(db_url: str) -> None:
    store = StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)
    faults = _DropOnSecondPage(store, "NCT00276445")  # the oldest update: on page 1
    with ReplicaServer(store, faults) as server:
        result = sync(db_url, server, "--cond", "allergy", "--page-size", "3")
        assert result.exit_code == 1
        assert result.stdout.startswith(
            "run 1: full: 2 pages, 6 of 7 studies: 6 new, 0 changed, 0 unchanged, 0 failed;")
        assert result.stderr == (
            "trials: error: sync run 1: incomplete: received 6 studies but the API counted 7; "
            "the catalogue may miss some — run again\n")
        assert faults.dropped
        # Sorted by last update: page 1 was NCT00276445, NCT01045486, NCT01133288; with the
        # first gone, NCT01070368 moved onto page 1 and was never served.
        assert stored(db_url) == condition_hits("allergy") - {"NCT01070368"}
        (run,) = runs(db_url)
        assert run["status"] == "incomplete"
        assert run["message"].startswith("received 6 studies but the API counted 7")
        # An incomplete pass leaves no high-water mark: the next run starts over, in full.
        again = sync(db_url, server, "--cond", "allergy", "--page-size", "3", "--format",
                     "json")
        summary = json.loads(again.stdout)
        assert again.exit_code == 0
        assert (summary["mode"], summary["received"], summary["expected"], summary["new"],
                summary["unchanged"]) == ("full", 6, 6, 1, 5)
        assert stored(db_url) == condition_hits("allergy")


def test_a_held_writer_lock_refuses_the_sync(srv: ReplicaServer, db_url: str) -> None:
    with Catalogue.open(db_url) as catalogue, writer_lock(catalogue.engine):
        result = sync(db_url, srv, "--status", "RECRUITING")
        assert result.exit_code == 3 and result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("trials: error: another import or sync is writing to this "
                               "catalogue")
        busy = fetch(db_url, srv, "NCT00973089")
        assert busy.exit_code == 3 and "another import or sync" in busy.stderr
    assert srv.faults.log == [] and runs(db_url) == []
    assert sync(db_url, srv, "--status", "RECRUITING", "--quiet").exit_code == 0


# --- trials fetch -----------------------------------------------------------------------------


def test_fetch_stores_single_studies_and_counts_the_unknown_as_failed(
        srv: ReplicaServer, db: str) -> None:
    result = fetch(db, srv, "NCT00973089", "NCT09999999", "nct01070368")
    assert result.exit_code == 1
    assert result.stdout == "run 1: 2 new, 0 changed, 0 unchanged, 1 failed\n"
    assert result.stderr == "trials: error: NCT09999999: NCT number NCT09999999 not found\n"
    assert stored(db) == {"NCT00973089", "NCT01070368"}
    with Catalogue.open(db) as catalogue:
        (info,) = catalogue.versions("NCT00973089")
        assert (info.source, info.registry_date) == ("ctgov-json", "2015-08-19")
        assert catalogue.record(info.id).overall_status == "WITHDRAWN"
    (run,) = runs(db)
    assert (run["kind"], run["status"], run["new"], run["failed"]) == ("fetch", "partial", 2, 1)
    assert [p for p, _ in srv.faults.log] == [
        "/api/v2/studies/NCT00973089", "/api/v2/studies/NCT09999999",
        "/api/v2/studies/NCT01070368"]
    nothing = fetch(db, srv, "NCT09999999", "NCT09999998")
    assert nothing.exit_code == 4 and nothing.stderr.count("not found") == 2
    again = fetch(db, srv, "NCT00973089", "NCT01070368", "--format", "json")
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {"run": 3, "new": 0, "changed": 0, "unchanged": 2,
                                        "failed": 0, "missing": 0, "history_versions": 0}


def test_fetch_refuses_what_is_neither_an_id_nor_a_url(srv: ReplicaServer, db: str) -> None:
    result = fetch(db, srv, "NCT00973089", "foo")
    assert result.exit_code == 2
    assert "Error: not an NCT id or a URL: foo" in result.stderr
    assert srv.faults.log == [] and stored(db) == set()
    (run,) = runs(db)  # the run is closed, not left "running"
    assert run["status"] == "failed"
    assert run["message"] == "UsageError: not an NCT id or a URL: foo"


class _MirrorSite:
    """A tiny mirror site on 127.0.0.1: the Veeva study page and a robots.txt."""

    PAGE = "/study/local-surgery-for-metastatic-breast-cancer"

    def __init__(self, robots: bytes) -> None:
        self.files = {self.PAGE: (FIXTURES / "mirror-veeva/NCT00557986.html").read_bytes(),
                      "/robots.txt": robots}
        self.requested: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requested.append(self.path)
                body = site.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8"
                                 if self.path != "/robots.txt" else "text/plain")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.PAGE}"

    def __enter__(self) -> _MirrorSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_fetch_of_a_mirror_page_allowed_by_robots_txt(db: str) -> None:
    with _MirrorSite(b"User-agent: *\nDisallow: /private/\n") as site:
        result = fetch(db, "http://127.0.0.1:9", site.url, "--retries", "0")
        assert result.exit_code == 0, result.stderr
        assert result.stdout == "run 1: 1 new, 0 changed, 0 unchanged, 0 failed\n"
        assert site.requested == ["/robots.txt", _MirrorSite.PAGE]
    with Catalogue.open(db) as catalogue:
        (info,) = catalogue.versions("NCT00557986")
        assert info.source == "veeva"
        record = catalogue.record(info.id)
    assert record.brief_title == "Local Surgery for Metastatic Breast Cancer"
    assert record.enrollment is not None and record.enrollment.count == 281


def test_fetch_of_a_mirror_page_refused_by_robots_txt(db: str) -> None:
    with _MirrorSite(b"User-agent: *\nDisallow: /\n") as site:
        result = fetch(db, "http://127.0.0.1:9", site.url, "--retries", "0")
        assert result.exit_code == 1
        assert result.stdout == "run 1: 0 new, 0 changed, 0 unchanged, 1 failed\n"
        assert result.stderr == (f"trials: error: {site.url}: the site's robots.txt does not "
                                 "allow fetching this page\n")
        assert site.requested == ["/robots.txt"]  # the page itself was never asked for
    assert stored(db) == set()
    assert [r["status"] for r in runs(db)] == ["partial"]


# --- many NCT ids: --ids-file, several requests ----------------------------------------------


@pytest.fixture
def five_ids_a_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split NCT ids into requests of 5 (100 in real use), so the 28 fixtures need several."""
    monkeypatch.setattr("harvester.fetch.params.MAX_IDS_PER_REQUEST", 5)


def ids_file(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "nct_ids.txt"
    path.write_text("# the fixture studies, and one the registry does not have\n\n"
                    + "".join(f"{i}\n" for i in ids))
    return path


def asked_ids(server: ReplicaServer) -> list[list[str]]:
    return [q["filter.ids"].split(",") for q in page_queries(server)]


def test_ids_file_syncs_many_ids_in_several_requests(
        srv: ReplicaServer, db_url: str, tmp_path: Path, five_ids_a_request: None) -> None:
    fixtures = sorted(fixture_studies())
    assert len(fixtures) == 28
    lines = [fixtures[0].lower(), f"{fixtures[1]}   # a comment", *fixtures[1:],
             "NCT09999999"]  # a duplicate, a lower-case id and an unknown one
    result = sync(db_url, srv, "--ids-file", str(ids_file(tmp_path, lines)), "--save", "set",
                  "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["received"], summary["expected"], summary["new"],
            summary["pages"]) == ("ok", 28, 28, 28, 6)
    assert stored(db_url) == set(fixtures)
    asked = asked_ids(srv)
    assert [len(a) for a in asked] == [5, 5, 5, 5, 5, 4]  # 29 distinct ids, in file order
    assert [i for a in asked for i in a] == [*fixtures, "NCT09999999"]
    assert result.stderr == ("trials: warning: sync set: 1 of the 29 NCT ids asked for are not "
                             "in the catalogue (no such study at the registry, or an alias of "
                             "another): NCT09999999\n")
    # The saved query keeps every id; the next sync asks each part for what changed since.
    srv.faults.reset_counts()
    again = sync(db_url, srv, "set", "--format", "json")
    assert again.exit_code == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["status"], summary["mode"], summary["new"]) == ("ok", "incremental", 0)
    assert summary["received"] == summary["expected"] == summary["unchanged"] >= 1
    queries = page_queries(srv)
    assert len(queries) == 6 and all(
        q["filter.advanced"] == f"AREA[LastUpdatePostDate]RANGE[{summary['since']},MAX]"
        for q in queries)


class _FailThirdStudiesRequest(Faults):
    """Answers the first sync's third page request with a 503 (it gives up: --retries 0)."""

    armed = False

    def record(self, path: str, query: str) -> None:
        super().record(path, query)
        if path == "/api/v2/studies" and self.requests[path] == 3 and not self.armed:
            self.armed = True
            self.unavailable(1, path=path)


def test_a_stopped_sync_of_many_ids_resumes_at_the_part_under_way(
        db: str, tmp_path: Path, five_ids_a_request: None) -> None:
    fixtures = sorted(fixture_studies())
    path = ids_file(tmp_path, fixtures)
    faults = _FailThirdStudiesRequest()
    store = StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)
    with ReplicaServer(store, faults) as server:
        first = sync(db, server, "--ids-file", str(path), "--retries", "0")
        assert first.exit_code == 1
        assert first.stdout.startswith("run 1: full: 2 pages, 10 of 10 studies: 10 new")
        assert "incomplete" in first.stderr and "HTTP 503" in first.stderr
        assert stored(db) == set(fixtures[:10])
        faults.reset_counts()
        again = sync(db, server, "--ids-file", str(path), "--format", "json")
        assert again.exit_code == 0, again.stderr
        summary = json.loads(again.stdout)
        asked, queries = asked_ids(server), page_queries(server)
    assert summary["resumed"] and summary["status"] == "ok"
    # Part 0 is done; part 1 is read again from its last date reached, then parts 2 to 5
    # from the start of the (full) pass.
    assert asked[0] == fixtures[5:10] and [i for a in asked[1:] for i in a] == fixtures[10:]
    assert queries[0]["filter.advanced"].startswith("AREA[LastUpdatePostDate]RANGE[")
    assert all("filter.advanced" not in q for q in queries[1:])
    assert summary["new"] == 18 and summary["received"] == summary["expected"]
    assert stored(db) == set(fixtures)


@pytest.mark.parametrize(("text", "message"), [
    ("NCT00973089\nNCT123\n", "--ids-file {path}, line 2: 'NCT123' is not an NCT id"),
    ("# only a comment\n\n", "--ids-file {path}: no NCT ids in it"),
])
def test_a_bad_ids_file_is_exit_2(db: str, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ids.txt"
    path.write_text(text)
    result = sync(db, "http://127.0.0.1:9", "--ids-file", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert f"Error: {message.format(path=path)}" in result.stderr
    missing = sync(db, "http://127.0.0.1:9", "--ids-file", str(tmp_path / "none.txt"))
    assert missing.exit_code == 2 and "No such file or directory" in missing.stderr
