"""The HTML pages: search, trial, history and diffs, similar, compare, export, changes, status.

Each page calls what the matching CLI command calls and renders the result on the server
(Jinja2, autoescaped); the pages read fine with JavaScript off, and ``static/app.js`` only
adds conveniences (a compare tray, keyboard-free form submission of selects).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from harvester.catalogue import summary
from harvester.catalogue import tables as t
from harvester.catalogue.changes import changes_since
from harvester.catalogue.health import catalogue_status
from harvester.catalogue.selection import Selection, count_selected, selected, with_query
from harvester.catalogue.sources import disagreements
from harvester.catalogue.syncstate import load_state, query_key, saved_queries
from harvester.errors import HarvesterError, NotFoundError, UsageError
from harvester.export import EXPORTERS
from harvester.export.log import SearchLog
from harvester.find.comparison import compare as compare_records
from harvester.find.search import iter_hits
from harvester.find.search import search as run_search
from harvester.find.search_query import parse
from harvester.find.similar.engine import SimilarityEngine
from harvester.serve.web import render
from harvester.serve.web.context import ServerContext
from harvester.serve.web.forms import Form, SearchForm

V = t.Version.__table__  # type: ignore[attr-defined]
T = t.Trial.__table__  # type: ignore[attr-defined]
PAGE_SIZE = 20
REGISTRY = "https://clinicaltrials.gov/study/"


def _form(request: Request) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        form.setdefault(key, []).append(value)
    return form


def _selection(ctx: ServerContext, search_form: SearchForm, form: Form) -> Selection:
    """The filters of the form, parsed as ``trials search`` parses its options."""
    selection = search_form.selection(form)
    saved = (form.get("saved") or [""])[0].strip()
    if saved:
        selection = with_query(ctx.catalogue, selection, saved)
    return selection


def _catalogue_line(ctx: ServerContext) -> dict[str, Any]:
    with ctx.catalogue.engine.connect() as conn:
        trials = conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one()
        seen = conn.execute(sa.select(sa.func.max(V.c.seen_at))).scalar()
        posted = conn.execute(sa.select(sa.func.max(V.c.last_update_posted))).scalar()
    return {"trials": trials, "seen": str(seen)[:16] if seen else None, "posted": posted}


def _rows(ctx: ServerContext, version_ids: list[int]) -> dict[int, dict[str, Any]]:
    """What a result line shows beyond a hit: acronym, enrollment, completion."""
    if not version_ids:
        return {}
    with ctx.catalogue.engine.connect() as conn:
        nct_ids: dict[int, str] = dict(conn.execute(sa.select(V.c.id, V.c.nct_id).where(
            V.c.id.in_(version_ids))).all())
        shown = summary.read(conn, nct_ids)  # a few fields, never the whole records
    out = {}
    for version_id, nct_id in nct_ids.items():
        line = shown[version_id]
        out[version_id] = {
            "nct_id": nct_id, "title": line.title, "acronym": line.acronym,
            "conditions": line.conditions, "status": line.overall_status,
            "phases": line.phases, "study_type": line.study_type,
            "start_date": line.start_date, "enrollment": line.enrollment_count,
            "completion": line.primary_completion_date or line.completion_date,
            "updated": line.last_update_posted}
    return out


def _search(ctx: ServerContext, search_form: SearchForm, form: dict[str, list[str]]
            ) -> dict[str, Any]:
    fields = search_form.fields
    words = (form.get("q") or [""])[0].strip()
    try:
        page = max(int((form.get("page") or ["1"])[0]), 1)
    except ValueError:
        page = 1
    out: dict[str, Any] = {"fields": fields, "form": form, "q": words, "page": page,
                           "results": None, "error": None, "total": 0,
                           "saved": saved_queries(ctx.catalogue),
                           "formats": sorted(EXPORTERS), "catalogue": _catalogue_line(ctx)}
    asked = words or any(v.strip() for k, vs in form.items() if k not in ("page",)
                         for v in vs)
    if not asked:
        return out
    try:
        selection = _selection(ctx, search_form, form)
        offset = (page - 1) * PAGE_SIZE
        if words:
            found = run_search(ctx.catalogue, parse(words), selection, limit=PAGE_SIZE,
                               offset=offset)
            details = _rows(ctx, [h.version_id for h in found.hits])
            results = [{**details.get(h.version_id, {}), "rank": h.rank,
                        "score": h.score, "version": h.version,
                        "snippet": render.segments(h.snippet)} for h in found.hits]
            total = found.total
        else:
            with ctx.catalogue.engine.connect() as conn:
                total = count_selected(conn, selection)
                picked = conn.execute(selected(selection).limit(PAGE_SIZE).offset(offset)).all()
            details = _rows(ctx, [row.version_id for row in picked])
            results = [{**details.get(row.version_id, {}), "rank": offset + i + 1,
                        "snippet": []} for i, row in enumerate(picked)]
    except (UsageError, NotFoundError) as exc:
        out["error"] = str(exc)
        return out
    query = [(k, v) for k, vs in form.items() if k != "page" for v in vs if v.strip()]
    out.update(results=results, total=total, selection=selection.describe(),
               query_string=urlencode(query),
               previous=urlencode([*query, ("page", str(page - 1))]) if page > 1 else None,
               next=urlencode([*query, ("page", str(page + 1))])
               if page * PAGE_SIZE < total else None)
    return out


def _day(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None


def _trial(ctx: ServerContext, nct: str, form: dict[str, list[str]]) -> dict[str, Any]:
    as_of = _day((form.get("as_of") or [""])[0], "as of")
    raw_version = (form.get("version") or [""])[0]
    version = int(raw_version) if raw_version.isdigit() else None
    shown = ctx.show(nct, as_of=as_of, version=version)
    record = shown.record
    others = []
    latest = ctx.catalogue.latest_by_source(nct)
    for source in latest:
        if source == shown.info.source:
            continue
        info = ctx.catalogue.current(nct, source=source, as_of=as_of)
        if info is not None:
            changes = disagreements(record, ctx.catalogue.record(info.id))
            others.append({"info": info, "changes": changes})
    dots = render.map_dots(record.locations)
    return {"record": record, "info": shown.info, "versions": shown.versions, "as_of": as_of,
            "others": others, "dots": dots, "view": render.map_view(dots),
            "registry_url": REGISTRY + nct}


def _history(ctx: ServerContext, nct: str, form: dict[str, list[str]]) -> dict[str, Any]:
    rows = ctx.history(nct)
    numbers = {}
    for name in ("from", "to"):
        raw = (form.get(name) or [""])[0]
        numbers[name] = int(raw) if raw.isdigit() else None
    diff = None
    if len(rows) > 1:
        try:
            older, newer, changes = ctx.diff(nct, numbers["from"], numbers["to"])
            diff = {"older": older, "newer": newer, "changes": changes}
        except UsageError as exc:
            diff = {"error": str(exc)}
    title = ctx.show(nct).record.brief_title
    return {"nct": nct, "title": title, "rows": rows, "diff": diff,
            "chart": render.timeline(rows), "numbers": numbers}


def _similar(ctx: ServerContext, nct: str) -> dict[str, Any]:
    record = ctx.show(nct).record
    result = SimilarityEngine(ctx.catalogue).similar_to_id(nct, top=20)
    best = max((m.score for m in result.matches), default=1.0) or 1.0
    return {"nct": nct, "record": record, "result": result, "best": best}


def _compare(ctx: ServerContext, form: dict[str, list[str]]) -> dict[str, Any]:
    ids: list[str] = []
    for value in form.get("ids", []):
        ids += [v.strip().upper() for v in value.replace(" ", ",").split(",") if v.strip()]
    ids = list(dict.fromkeys(ids))
    as_of = _day((form.get("as_of") or [""])[0], "as of")
    records = [ctx.show(nct, as_of=as_of).record for nct in ids]
    comparison = compare_records(records)
    only = (form.get("only") or [""])[0] == "differences"
    return {"comparison": comparison.only_differences() if only else comparison,
            "ids": ids, "only": only, "as_of": as_of}


def _status(ctx: ServerContext) -> dict[str, Any]:
    queries = []
    for name, params in sorted(saved_queries(ctx.catalogue).items()):
        state = load_state(ctx.catalogue, query_key(params))
        queries.append({"name": name, "params": params, "state": state})
    with ctx.catalogue.engine.connect() as conn:
        versions = conn.execute(sa.select(sa.func.count()).select_from(V)).scalar_one()
        sources = conn.execute(sa.select(V.c.source, sa.func.count()).group_by(V.c.source)
                               ).all()
    return {"catalogue": _catalogue_line(ctx), "versions": versions,
            "sources": [(s, n) for s, n in sources], "queries": queries,
            "runs": ctx.catalogue.runs(15), "health": catalogue_status(ctx.catalogue)}


def _changes(ctx: ServerContext, form: dict[str, list[str]]) -> dict[str, Any]:
    raw = (form.get("since") or [""])[0]
    day = _day(raw, "since") or (datetime.now(UTC) - timedelta(days=30)).date()
    since = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {"report": changes_since(ctx.catalogue, since), "since": day}


def export_zip(ctx: ServerContext, search_form: SearchForm, form: Form, fmt: str
               ) -> tuple[bytes, str]:
    """The current search exported as ``fmt`` with its search log (Markdown and JSON), in a
    zip; the file name to offer."""
    if fmt not in EXPORTERS:
        raise UsageError(f"format: {fmt!r} is not one of {', '.join(sorted(EXPORTERS))}")
    selection = _selection(ctx, search_form, form)
    words = (form.get("q") or [""])[0].strip()
    command = search_form.command_line(words, form)
    if words:
        ids = tuple(sorted({hit.nct_id for hit in iter_hits(ctx.catalogue, parse(words),
                                                               selection)}))
        if not ids:
            raise NotFoundError(f"no trial matches {words!r}: nothing to export")
        selection = Selection(ids=ids, as_of=selection.as_of)
    cls = EXPORTERS[fmt]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"trials-{stamp}"
    with tempfile.TemporaryDirectory(prefix="trials-export-") as folder:
        data = Path(folder) / f"{name}{cls.suffix}"
        log_md = Path(folder) / "search-log.md"
        log = SearchLog.for_selection(ctx.catalogue, selection, fmt=fmt, output=data.name,
                                      command=command + f" (exported as {fmt} from the web)")
        with log.writing(log_md), ctx.catalogue.engine.connect() as conn, \
                data.open("wb") as out:
            cls().write(log.items(conn), out, log)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in (data, log_md):
                archive.write(path, path.name)
    return buffer.getvalue(), f"{name}.zip"


def page_routes(ctx: ServerContext, search_form: SearchForm, templates: Any) -> list[Route]:
    def html(request: Request, name: str, data: dict[str, Any], status: int = 200
             ) -> HTMLResponse:
        response: HTMLResponse = templates.TemplateResponse(request, name, data,
                                                            status_code=status)
        return response

    def page(name: str, build: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            form = _form(request)
            try:
                data = await run_in_threadpool(build, request, form)
            except NotFoundError as exc:
                return html(request, "error.html", {"message": str(exc)}, 404)
            except (UsageError, HarvesterError) as exc:
                return html(request, "error.html", {"message": str(exc)}, 400)
            return html(request, name, data)

        return endpoint

    def nct_of(request: Request) -> str:
        return str(request.path_params["nct"]).strip().upper()

    async def export(request: Request) -> Response:
        form = _form(request)
        fmt = (form.get("format") or ["csv"])[0]
        try:
            body, name = await run_in_threadpool(export_zip, ctx, search_form, form, fmt)
        except NotFoundError as exc:
            return html(request, "error.html", {"message": str(exc)}, 404)
        except (UsageError, HarvesterError) as exc:
            return html(request, "error.html", {"message": str(exc)}, 400)
        return Response(body, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return [
        Route("/", page("search.html", lambda r, f: _search(ctx, search_form, f))),
        Route("/trial/{nct}", page("trial.html", lambda r, f: _trial(ctx, nct_of(r), f))),
        Route("/trial/{nct}/history",
              page("history.html", lambda r, f: _history(ctx, nct_of(r), f))),
        Route("/trial/{nct}/similar",
              page("similar.html", lambda r, f: _similar(ctx, nct_of(r)))),
        Route("/compare", page("compare.html", lambda r, f: _compare(ctx, f))),
        Route("/changes", page("changes.html", lambda r, f: _changes(ctx, f))),
        Route("/status", page("status.html", lambda r, f: _status(ctx))),
        Route("/export", export),
    ]
