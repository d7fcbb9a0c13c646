"""``trials mcp``: the catalogue as a Model Context Protocol server for assistants.

Tools (all read-only on the catalogue; ``export`` writes the file it is asked for):
``search`` (full-text words and the filters of ``trials search``), ``get_study`` (a trial's
record, optionally as of a date), ``history``, ``diff``, ``similar`` (with reasons),
``compare``, ``export`` (a selection to a file, with its search log) and ``status``.

Every input is a typed parameter validated by the SDK and then by the same parsing the CLI
does (filters go through ``trials search``'s own option parser): there is no raw SQL.
Search results are paged with an opaque cursor, given both in the JSON and in the text.
Problems are MCP tool errors (``isError``) with the CLI's message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from harvester import __version__
from harvester.catalogue import Catalogue
from harvester.catalogue.selection import Selection, count_selected, selected
from harvester.errors import HarvesterError
from harvester.export import EXPORTERS
from harvester.export.base import atomic_output
from harvester.export.log import SearchLog
from harvester.find.comparison import compare as compare_records
from harvester.find.search import search as run_search
from harvester.find.search_query import parse
from harvester.find.similar.engine import SimilarityEngine
from harvester.serve.responses import ApiError
from harvester.serve.studies import decode_token, encode_token
from harvester.serve.web.context import ServerContext
from harvester.serve.web.forms import SearchForm
from harvester.serve.web.pages import _day, _rows, _status

T = TypeVar("T")
MAX_PAGE = 50


def _text(value: Any, lead: str = "") -> str:
    body = msgspec.json.format(msgspec.json.encode(value), indent=1).decode()
    return f"{lead}\n{body}" if lead else body


def _guard(func: Callable[[], T]) -> T:
    try:
        return func()
    except ApiError as exc:
        raise ToolError(exc.message) from None
    except HarvesterError as exc:
        raise ToolError(str(exc)) from None


def _nct(value: str) -> str:
    nct = value.strip().upper()
    if not (nct.startswith("NCT") and len(nct) == 11 and nct[3:].isdigit()):
        raise ToolError(f"{value!r} is not an NCT id (NCT and 8 digits)")
    return nct


def make_server(catalogue: Catalogue, search_form: SearchForm) -> MCPServer:
    """The MCP server on ``catalogue``; ``search_form`` gives the filters of ``trials search``
    (``harvester.commands._webform.search_form()``)."""
    ctx = ServerContext(catalogue)
    fields = search_form.fields
    names = ", ".join(f.flag.lstrip("-") for f in fields)
    server = MCPServer("trial-harvester", version=__version__, instructions=(
        "A local, versioned catalogue of clinical-trial registry records "
        "(ClinicalTrials.gov and mirrors). Search it, read a trial as it stands or stood on "
        "a date, see its version history and diffs, find similar trials with reasons, "
        "compare trials side by side and export selections."))

    def selection_of(filters: dict[str, list[str]] | None) -> Selection:
        by_flag = {f.flag.lstrip("-"): f.name for f in fields}
        form: dict[str, list[str]] = {}
        for key, values in (filters or {}).items():
            name = by_flag.get(key.lstrip("-"), key)
            if name not in {f.name for f in fields}:
                raise ToolError(f"unknown filter {key!r}; filters: {names}")
            kind = next(f.kind for f in fields if f.name == name)
            if kind == "tristate":  # true/false, yes/no
                values = ["yes" if str(v).lower() in ("yes", "true", "1") else "no"
                          for v in values[:1]]
            form[name] = [str(v) for v in values]
        return search_form.selection(form)

    @server.tool(description=(
        "Search the catalogue. `query`: words (all must match; \"quoted phrase\", OR, -word, "
        "prefix*). `filters`: the options of `trials search`, each a list of values, e.g. "
        "{\"status\": [\"RECRUITING\"], \"phase\": [\"3\"], \"has-results\": [\"yes\"]}; "
        "names: " + names + ". Without a query, the filtered trials in NCT order. "
        "Paged: pass back `next_cursor` for more."))
    def search(query: str = "", filters: dict[str, list[str]] | None = None,
               cursor: str | None = None, limit: int = 10) -> str:
        def run() -> str:
            if not 1 <= limit <= MAX_PAGE:
                raise ToolError(f"limit must be between 1 and {MAX_PAGE}")
            offset = decode_token(cursor) if cursor else 0
            selection = selection_of(filters)
            if query.strip():
                found = run_search(catalogue, parse(query), selection, limit=limit,
                                   offset=offset)
                total, ids = found.total, [h.version_id for h in found.hits]
                snippets = {h.version_id: h.plain_snippet for h in found.hits}
            else:
                with catalogue.engine.connect() as conn:
                    total = count_selected(conn, selection)
                    rows = conn.execute(selected(selection).limit(limit).offset(offset)).all()
                ids, snippets = [r.version_id for r in rows], {}
            details = _rows(ctx, ids)
            results = [{**details[i], "snippet": snippets.get(i)} for i in ids if i in details]
            nxt = encode_token(offset + limit) if offset + limit < total else None
            lead = (f"{total} trials match; showing {offset + 1}–{offset + len(results)}"
                    + (f"; next cursor: {nxt}" if nxt else "; no more pages")
                    if results else f"{total} trials match; no results on this page")
            return _text({"total": total, "offset": offset, "results": results,
                          "next_cursor": nxt}, lead)

        return _guard(run)

    @server.tool(description="A trial's record (every section), as it stands now or as the "
                             "registry had published it on `as_of` (YYYY-MM-DD).")
    def get_study(nct_id: str, as_of: str | None = None) -> str:
        def run() -> str:
            shown = ctx.show(_nct(nct_id), as_of=_day(as_of, "as_of"))
            info = shown.info
            return _text({"version": info.to_json(), "versions": len(shown.versions),
                          "record": shown.record.to_json_dict()},
                         f"{info.nct_id}: version {info.number} of {len(shown.versions)}"
                         f" ({info.source}, registry date {info.registry_date})")

        return _guard(run)

    @server.tool(description="A trial's versions in the catalogue with what changed in each.")
    def history(nct_id: str) -> str:
        return _guard(lambda: _text(ctx.history(_nct(nct_id))))

    @server.tool(description="Field-level differences between two versions of a trial "
                             "(numbers from `history`; default: the current one against "
                             "the one before it).")
    def diff(nct_id: str, from_version: int | None = None,
             to_version: int | None = None) -> str:
        def run() -> str:
            older, newer, changes = ctx.diff(_nct(nct_id), from_version, to_version)
            return _text({"from": older.to_json(), "to": newer.to_json(),
                          "changes": [c.to_json() for c in changes]},
                         "; ".join(c.describe() for c in changes[:20]) or "no differences")

        return _guard(run)

    @server.tool(description="Trials similar to one trial, best first, with a score and the "
                             "reasons; the same trial registered elsewhere is listed apart.")
    def similar(nct_id: str, top: int = 10) -> str:
        def run() -> str:
            if not 1 <= top <= 100:
                raise ToolError("top must be between 1 and 100")
            result = SimilarityEngine(catalogue).similar_to_id(_nct(nct_id), top=top)
            return _text({
                "similar": [{"nct_id": m.nct_id, "score": round(m.score, 4), "title": m.title,
                             "reasons": list(m.reasons)} for m in result.matches],
                "same_trial": [{"nct_id": d.nct_id, "reasons": list(d.reasons)}
                               for d in result.duplicates], "notes": list(result.notes)})

        return _guard(run)

    @server.tool(description="Two or more trials side by side, field by field, with the rows "
                             "that differ marked.")
    def compare(nct_ids: list[str], only_differences: bool = False,
                as_of: str | None = None) -> str:
        def run() -> str:
            day = _day(as_of, "as_of")
            records = [ctx.show(_nct(n), as_of=day).record for n in nct_ids]
            comparison = compare_records(records)
            if only_differences:
                comparison = comparison.only_differences()
            return _text({"trials": [t.nct_id for t in comparison.trials],
                          "rows": [row.to_json() for row in comparison.rows]})

        return _guard(run)

    @server.tool(description="Export the trials a search selects (`filters` as in `search`) to "
                             "a new file at `path` (format: " + ", ".join(sorted(EXPORTERS))
                             + "), with a Markdown search log beside it (PATH.log.md).")
    def export(path: str, format: str, filters: dict[str, list[str]] | None = None) -> str:
        def run() -> str:
            if format not in EXPORTERS:
                raise ToolError(f"format must be one of {', '.join(sorted(EXPORTERS))}")
            target = Path(path).expanduser()
            log_path = target.with_name(target.name + ".log.md")
            if target.exists() or log_path.exists():
                raise ToolError(f"{target} or its log exists already: name a new file")
            selection = selection_of(filters)
            log = SearchLog.for_selection(catalogue, selection, fmt=format,
                                          output=str(target), command="trials mcp export")
            with log.writing(log_path), catalogue.engine.connect() as conn, \
                    atomic_output(target) as out:
                EXPORTERS[format]().write(log.items(conn), out, log)
            return _text({"path": str(target), "log": str(log_path),
                          "exported": log.exported, "selected": log.selected},
                         f"exported {log.exported} trials to {target}")

        return _guard(run)

    @server.tool(description="The catalogue: trials, versions by source, saved queries and "
                             "their last syncs, recent runs.")
    def status() -> str:
        def run() -> str:
            data = _status(ctx)
            return _text({
                "trials": data["catalogue"]["trials"], "versions": data["versions"],
                "sources": dict(data["sources"]),
                "registry_data_as_of": data["catalogue"]["seen"],
                "saved_queries": [{"name": q["name"], "parameters": q["params"],
                                   "last_success_at": q["state"].last_success_at
                                   if q["state"] else None} for q in data["queries"]],
                "runs": [{k: r[k] for k in ("id", "kind", "status", "started_at", "new",
                                             "changed", "failed")} for r in data["runs"]]})

        return _guard(run)

    return server
