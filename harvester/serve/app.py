"""The replica's WSGI application: ClinicalTrials.gov API v2 paths, errors and faults.

Served paths (all ``GET``/``HEAD``): ``/api/v2/studies``, ``/api/v2/studies/{nctId}``,
``/api/v2/studies/enums``, ``/api/v2/studies/metadata``, ``/api/v2/studies/search-areas``,
``/api/v2/version``, ``/api/int/studies/{nctId}/history`` and ``…/history/{version}``.
"""

from __future__ import annotations

import hashlib
import re
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from wsgiref.types import StartResponse, WSGIEnvironment

import msgspec

from . import history
from .faults import Fault, Faults
from .fields import catalogue, project, search_areas
from .responses import (
    ApiError,
    Response,
    invalid_value,
    json_response,
    unknown_parameter,
    version_body,
)
from .store import Snapshot, StudyStore, StudyVersion, canonical_nct
from .studies import STUDIES_PARAMS, StudiesEndpoint, resolve_fields

API_VERSION = "2.0.5"
_STATUS_TEXT = {
    200: "OK", 301: "Moved Permanently", 304: "Not Modified", 400: "Bad Request",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 429: "Too Many Requests",
    500: "Internal Server Error", 503: "Service Unavailable",
}
_STUDY_PARAMS = frozenset({"format", "markupFormat", "fields"})
_METADATA_PARAMS = frozenset({"includeIndexedOnly", "includeHistoricOnly"})

Handler = Callable[["ReplicaApp", Snapshot, dict[str, str], re.Match[str]], Response]


class ReplicaApp:
    """A WSGI callable serving ``store``, misbehaving as ``faults`` says."""

    def __init__(self, store: StudyStore, faults: Faults | None = None) -> None:
        self.store = store
        self.faults = faults if faults is not None else Faults()
        self._studies = StudiesEndpoint()
        self._routes: list[tuple[re.Pattern[str], frozenset[str], Handler]] = [
            (re.compile(r"^/api/v2/studies/?$"), STUDIES_PARAMS, ReplicaApp._list),
            (re.compile(r"^/api/v2/studies/enums$"), frozenset(), ReplicaApp._enums),
            (re.compile(r"^/api/v2/studies/metadata$"), _METADATA_PARAMS, ReplicaApp._metadata),
            (re.compile(r"^/api/v2/studies/search-areas$"), frozenset(), ReplicaApp._areas),
            (re.compile(r"^/api/v2/studies/([^/]+)$"), _STUDY_PARAMS, ReplicaApp._study),
            (re.compile(r"^/api/v2/version$"), frozenset(), ReplicaApp._version),
            (re.compile(r"^/api/int/studies/([^/]+)/history$"), frozenset(), ReplicaApp._history),
            (re.compile(r"^/api/int/studies/([^/]+)/history/([^/]+)$"), frozenset(),
             ReplicaApp._version_of),
        ]

    # --- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING", "")
        self.faults.record(path, query)
        fault = self.faults.take(path)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "stall":
            self.faults.wait(fault.seconds)
            environ[RESET_KEY] = True  # hang up without a word
            return []
        if fault is not None and fault.kind in ("rate_limit", "unavailable", "forbidden"):
            response = _refusal(fault)
        else:
            try:
                response = self._handle(environ, path, query)
            except ApiError as exc:
                response = exc.response()
            except Exception:
                # Never a traceback page: the client gets a plain 500, the log gets the trace.
                environ["wsgi.errors"].write(traceback.format_exc())
                response = Response(500, b"Internal Server Error")
        return self._send(environ, start_response, response, fault)

    def _send(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        response: Response,
        fault: Fault | None,
    ) -> Iterable[bytes]:
        body = response.body
        headers = [("Content-Type", response.content_type), *response.headers]
        if response.etag is not None:
            headers.append(("ETag", response.etag))
            if _etag_matches(environ.get("HTTP_IF_NONE_MATCH", ""), response.etag):
                start_response("304 Not Modified", [("ETag", response.etag)])
                return []
        if fault is not None and fault.kind == "truncate":
            body = body[: len(body) // 2]
        declared = len(body)
        if fault is not None and fault.kind == "wrong_length":
            declared = max(0, declared + fault.length_delta)
            environ[RESET_KEY] = fault.length_delta > 0  # else the client could wait for ever
        headers.append(("Content-Length", str(declared)))
        start_response(f"{response.status} {_STATUS_TEXT.get(response.status, '')}", headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return []
        if fault is not None and fault.kind == "drop_connection":
            # The full Content-Length is promised, half is sent, and the server (HTTP/1.0,
            # one request per connection) then closes: the client sees a broken body.
            return _partial(body[: len(body) // 2])
        if fault is not None and fault.kind == "reset":
            environ[RESET_KEY] = True  # the server resets the connection after the half
            return _partial(body[: len(body) // 2])
        if fault is not None and fault.kind == "trickle":
            return self._trickle(body, fault.seconds)
        return [body]

    def _trickle(self, body: bytes, interval: float) -> Iterator[bytes]:
        for at in range(len(body)):
            yield body[at:at + 1]
            if self.faults.wait(interval):
                return

    # --- routing ------------------------------------------------------------------------------

    def _handle(self, environ: WSGIEnvironment, path: str, query: str) -> Response:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return Response(405, b"Method Not Allowed", headers=[("Allow", "GET, HEAD")])
        params: dict[str, str] = {}
        for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            params.setdefault(key, value)  # the first of repeated parameters wins
        for pattern, allowed, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            for name in params:
                if name not in allowed:
                    raise unknown_parameter(name)
            return handler(self, self.store.snapshot(), params, match)
        return Response(404, b"Not Found")

    # --- endpoints ----------------------------------------------------------------------------

    def _list(self, snap: Snapshot, params: dict[str, str], _: re.Match[str]) -> Response:
        return json_response(self._studies.page(snap, params), _etag(snap))

    def _study(self, snap: Snapshot, params: dict[str, str], match: re.Match[str]) -> Response:
        raw = urllib.parse.unquote(match.group(1))
        if canonical_nct(raw) is None:
            raise invalid_value("nctId", raw)
        fmt = params.get("format", "json")
        if fmt != "json":
            if fmt in ("csv", "json.zip", "fhir.json", "ris"):
                raise ApiError(400, f"Format `{fmt}` is not supported by this replica")
            raise invalid_value("format", fmt)
        found = snap.resolve(raw)
        if found is None:
            raise ApiError(404, f"NCT number {canonical_nct(raw)} not found")
        nct, via_alias = found
        if via_alias:
            location = f"/api/v2/studies/{nct}"
            if query := urllib.parse.urlencode(params):
                location += f"?{query}"
            return Response(301, headers=[("Location", location)])
        if params.get("fields"):
            body = msgspec.json.encode(project(snap.studies[nct], resolve_fields(params["fields"])))
        else:
            body = snap.encoded(nct)
        return json_response(body, _etag(snap))

    def _version(self, snap: Snapshot, params: dict[str, str], _: re.Match[str]) -> Response:
        return json_response(version_body(API_VERSION, snap.data_timestamp), _etag(snap))

    def _enums(self, snap: Snapshot, params: dict[str, str], _: re.Match[str]) -> Response:
        return json_response(catalogue().enums_bytes, _etag(snap))

    def _metadata(self, snap: Snapshot, params: dict[str, str], _: re.Match[str]) -> Response:
        for name, value in params.items():
            if value.lower() not in ("true", "false"):
                raise invalid_value(name, value)
        return json_response(catalogue().metadata_bytes, _etag(snap))

    def _areas(self, snap: Snapshot, params: dict[str, str], _: re.Match[str]) -> Response:
        return json_response(msgspec.json.encode(search_areas()), _etag(snap))

    def _versions(self, snap: Snapshot, raw: str) -> tuple[str, list[StudyVersion]]:
        found = snap.resolve(urllib.parse.unquote(raw))
        if found is None:
            raise ApiError(404, f"NCT number {canonical_nct(raw) or raw} not found")
        return found[0], self.store.history(found[0])

    def _history(self, snap: Snapshot, params: dict[str, str], match: re.Match[str]) -> Response:
        _, versions = self._versions(snap, match.group(1))
        return json_response(msgspec.json.encode(history.changes(versions)), _etag(snap))

    def _version_of(self, snap: Snapshot, params: dict[str, str], match: re.Match[str]) -> Response:
        nct, versions = self._versions(snap, match.group(1))
        raw = match.group(2)
        if not raw.isdigit():
            raise invalid_value("version", raw)
        number = int(raw)
        if number >= len(versions):
            raise ApiError(404, f"Version {number} of {nct} not found")
        body = {"studyVersion": number, "study": versions[number].study}
        return json_response(msgspec.json.encode(body), _etag(snap))


def make_app(store: StudyStore, faults: Faults | None = None) -> ReplicaApp:
    """The replica as a WSGI application (``faults`` defaults to a fresh, disarmed set)."""
    return ReplicaApp(store, faults)


def _etag(snap: Snapshot) -> str:
    # Dataset-scoped like the real one: it changes with dataTimestamp, and also with any
    # store change, so a test that edits the store without bump() never gets a stale 304.
    digest = hashlib.sha1(f"{snap.data_timestamp}/{snap.revision}".encode()).hexdigest()
    return f'"{digest[:8]}/{API_VERSION}/{snap.revision}"'


def _etag_matches(header: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def _refusal(fault: Fault) -> Response:
    if fault.kind == "forbidden":
        return Response(403, _FORBIDDEN_PAGE, content_type="text/html")
    status = 429 if fault.kind == "rate_limit" else 503
    headers = []
    if fault.retry_after is not None:
        value = fault.retry_after
        headers.append(("Retry-After", str(int(value)) if value == int(value) else str(value)))
    return Response(status, _STATUS_TEXT[status].encode(), headers=headers)


#: What a CDN says to a client it blocks (after the real ClinicalTrials.gov one, shortened).
_FORBIDDEN_PAGE = (b"<html><head><title>403 Forbidden</title></head><body><h1>Access Denied"
                   b"</h1><p>You don't have permission to access this resource.</p></body>"
                   b"</html>")
#: Set in the WSGI environ by a fault: the server resets the connection once the app is done.
RESET_KEY = "replica.reset"


def _partial(chunk: bytes) -> Iterator[bytes]:
    yield chunk


__all__ = ["API_VERSION", "ReplicaApp", "make_app"]
