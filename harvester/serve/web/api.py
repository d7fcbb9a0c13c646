"""``/api/v2/…``: the registry's API over the catalogue, plus its versioned extensions.

Registry paths (answered like ClinicalTrials.gov, byte for byte where the replica knows how):
``/api/v2/studies``, ``/api/v2/studies/{nctId}``, ``/api/v2/version``,
``/api/v2/studies/metadata``, ``/api/v2/studies/enums``, ``/api/v2/studies/search-areas``.

The website's record history, ``/api/int/studies/{nctId}/history`` and ``…/history/{v}``,
from the catalogue's ClinicalTrials.gov versions (what ``trials sync --with-history`` reads).

Extensions: ``asOf=DATE`` on both study endpoints (the study as the registry had published
it on that date), ``/api/v2/studies/{nctId}/history`` (the catalogue's versions with what
changed), ``/api/v2/studies/{nctId}/diff?from=V&to=V`` (field-level changes) and
``/api/v2/studies/{nctId}/similar?top=N`` (similar trials with scores and reasons).
"""

from __future__ import annotations

import urllib.parse
from datetime import date
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harvester.catalogue.diff import diff_records, summarise
from harvester.errors import HarvesterError, NotFoundError, UsageError
from harvester.find.similar.engine import SimilarityEngine
from harvester.serve import history as registry_history
from harvester.serve.app import API_VERSION
from harvester.serve.fields import catalogue as field_catalogue
from harvester.serve.fields import search_areas
from harvester.serve.responses import JSON, TEXT, ApiError, invalid_value, unknown_parameter
from harvester.serve.store import StudyVersion, canonical_nct
from harvester.serve.studies import STUDIES_PARAMS
from harvester.serve.web.context import ServerContext

_STUDY_PARAMS = frozenset({"format", "markupFormat", "fields", "asOf"})
_LIST_PARAMS = STUDIES_PARAMS | {"asOf"}


def _json(value: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status, media_type=JSON)


def _error(exc: ApiError) -> Response:
    return Response(exc.message.encode(), exc.status, headers={"Content-Type": TEXT})


def _params(request: Request, allowed: frozenset[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(request.url.query, keep_blank_values=True):
        if key not in allowed:
            raise unknown_parameter(key)
        params.setdefault(key, value)  # the first of repeated parameters wins, as the API
    return params


def _as_of(params: dict[str, str]) -> date | None:
    value = params.get("asOf")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid_value("asOf", value) from None


def _nct(raw: str) -> str:
    nct = canonical_nct(urllib.parse.unquote(raw))
    if nct is None:
        raise invalid_value("nctId", raw)
    return nct


def api_routes(ctx: ServerContext) -> list[Route]:
    async def guarded(func: Any, *args: Any) -> Response:
        try:
            response: Response = await run_in_threadpool(func, *args)
            return response
        except ApiError as exc:
            return _error(exc)
        except NotFoundError as exc:
            return _error(ApiError(404, str(exc)))
        except (UsageError, HarvesterError) as exc:
            return _error(ApiError(400, str(exc)))

    def studies(request: Request) -> Response:
        params = _params(request, _LIST_PARAMS)
        body = ctx.studies.page(params, _as_of(params))
        return Response(body, media_type=JSON)

    def study(request: Request) -> Response:
        params = _params(request, _STUDY_PARAMS)
        nct = _nct(request.path_params["nct"])
        fmt = params.get("format", "json")
        if fmt != "json":
            if fmt in ("csv", "json.zip", "fhir.json", "ris"):
                raise ApiError(400, f"Format `{fmt}` is not supported by this server")
            raise invalid_value("format", fmt)
        as_of = _as_of(params)
        body = ctx.studies.study(nct, as_of, params.get("fields"))
        if body is None:
            when = f" on {as_of}" if as_of else ""
            raise ApiError(404, f"NCT number {nct} not found{when}")
        return Response(body, media_type=JSON)

    def version(request: Request) -> Response:
        _params(request, frozenset())
        body = (f'{{\n  "apiVersion" : "{API_VERSION}",\n  "dataTimestamp" : '
                f'"{ctx.studies.data_timestamp()}"\n}}')
        return Response(body.encode(), media_type=JSON)

    def metadata(request: Request) -> Response:
        params = _params(request, frozenset({"includeIndexedOnly", "includeHistoricOnly"}))
        for name, value in params.items():
            if value.lower() not in ("true", "false"):
                raise invalid_value(name, value)
        return Response(field_catalogue().metadata_bytes, media_type=JSON)

    def enums(request: Request) -> Response:
        _params(request, frozenset())
        return Response(field_catalogue().enums_bytes, media_type=JSON)

    def areas(request: Request) -> Response:
        _params(request, frozenset())
        return _json(search_areas())

    def history(request: Request) -> Response:
        _params(request, frozenset())
        nct = _nct(request.path_params["nct"])
        return _json({"nctId": nct, "versions": ctx.history(nct)})

    def diff(request: Request) -> Response:
        params = _params(request, frozenset({"from", "to"}))
        nct = _nct(request.path_params["nct"])
        numbers = {}
        for name in ("from", "to"):
            if params.get(name):
                if not params[name].isdigit():
                    raise invalid_value(name, params[name])
                numbers[name] = int(params[name])
        older, newer, changes = ctx.diff(nct, numbers.get("from"), numbers.get("to"))
        return _json({"nctId": nct, "from": older.to_json(), "to": newer.to_json(),
                      "summary": summarise(changes),
                      "changes": [c.to_json() for c in changes]})

    def similar(request: Request) -> Response:
        params = _params(request, frozenset({"top"}))
        nct = _nct(request.path_params["nct"])
        raw = params.get("top", "10")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise invalid_value("top", raw)
        result = SimilarityEngine(ctx.catalogue).similar_to_id(nct, top=int(raw))
        return _json({
            "nctId": nct,
            "similar": [{"nctId": m.nct_id, "score": round(m.score, 4), "title": m.title,
                         "parts": {k: round(v, 4) for k, v in m.parts.items()},
                         "reasons": list(m.reasons)} for m in result.matches],
            "sameTrial": [{"nctId": d.nct_id, "title": d.title, "reasons": list(d.reasons)}
                          for d in result.duplicates],
            "notes": list(result.notes)})

    def versions(request: Request) -> list[StudyVersion]:
        _params(request, frozenset())
        nct = _nct(request.path_params["nct"])
        found = [StudyVersion(day, study) for day, study in ctx.studies.registry_history(nct)]
        if not found:
            raise ApiError(404, f"NCT number {nct} not found")
        return found

    def int_history(request: Request) -> Response:
        return _json(registry_history.changes(versions(request)))

    def int_version(request: Request) -> Response:
        found = versions(request)
        raw = request.path_params["version"]
        if not raw.isdigit():
            raise invalid_value("version", raw)
        if int(raw) >= len(found):
            raise ApiError(404, f"Version {raw} of {request.path_params['nct']} not found")
        return _json({"studyVersion": int(raw), "study": found[int(raw)].study})

    def route(path: str, func: Any) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(func, request)

        return Route(path, endpoint, methods=["GET", "HEAD"])

    return [
        route("/api/v2/studies", studies),
        route("/api/v2/studies/metadata", metadata),
        route("/api/v2/studies/enums", enums),
        route("/api/v2/studies/search-areas", areas),
        route("/api/v2/version", version),
        route("/api/v2/studies/{nct}/history", history),
        route("/api/v2/studies/{nct}/diff", diff),
        route("/api/v2/studies/{nct}/similar", similar),
        route("/api/v2/studies/{nct}", study),
        # The website's record history, as the registry serves it (trials sync --with-history).
        route("/api/int/studies/{nct}/history", int_history),
        route("/api/int/studies/{nct}/history/{version}", int_version),
    ]


__all__ = ["api_routes", "diff_records"]
