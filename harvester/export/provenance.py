"""Where an export's records came from, for its search log: the registry and the servers they
were harvested from, and each saved query's parameters, its equivalent ClinicalTrials.gov
searches (website and API) and the last time it ran completely against the registry, with
the ``totalCount`` the registry reported then.

All of it is read from what the catalogue already records: each version's run (``run``:
kind, arguments — the base URL of a ``sync``, ``fetch`` or ``backfill``, the files of an
``import`` — and statistics — the API's ``totalCount`` as ``expected``, the studies
``received``, the pass's ``mode`` and the registry's data version as ``schema``) and each
saved query's sync state (its last pass that completed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue.selection import Selection, V, selected
from harvester.catalogue.store import R
from harvester.catalogue.syncstate import S, query_key

REGISTRY = "ClinicalTrials.gov"
WEBSITE = "https://clinicaltrials.gov"
#: What each source of a version is, in words.
SOURCE_NAMES = {"ctgov-json": "ClinicalTrials.gov API v2 study records (JSON)",
                "ctgov-xml": "ClinicalTrials.gov legacy XML study records",
                "veeva": "ClinicalTrials.Veeva mirror pages"}
#: Saved queries described in full when the export names none (those that brought its trials).
QUERIES_SHOWN = 10

# The API's search parameters → the website's (https://clinicaltrials.gov/search?…).
_WEBSITE_FIELDS = {"query.cond": "cond", "query.term": "term", "query.intr": "intr",
                   "query.titles": "titles", "query.outc": "outc", "query.spons": "spons",
                   "query.id": "id"}
# filter.overallStatus values → the website's status filter codes (aggFilters=status:…).
_STATUS_CODES = {"RECRUITING": "rec", "NOT_YET_RECRUITING": "not",
                 "ACTIVE_NOT_RECRUITING": "act", "COMPLETED": "com",
                 "ENROLLING_BY_INVITATION": "enr", "SUSPENDED": "sus", "TERMINATED": "ter",
                 "WITHDRAWN": "wit", "UNKNOWN": "unk", "AVAILABLE": "ava",
                 "NO_LONGER_AVAILABLE": "nla", "TEMPORARILY_NOT_AVAILABLE": "tna",
                 "APPROVED_FOR_MARKETING": "afm", "WITHHELD": "wh"}


def _url(base: str, params: Mapping[str, str]) -> str:
    # A colon or a comma in a value is left as is (valid in a query string, easier to read).
    return f"{base}?{urlencode(params, safe=':,', quote_via=quote)}" if params else base


def api_url(params: Mapping[str, str], base: str = WEBSITE) -> str:
    """The API request of a saved query (its first page, with the total count asked for)."""
    return _url(f"{base.rstrip('/')}/api/v2/studies", {**params, "countTotal": "true"})


def website_url(params: Mapping[str, str]) -> str | None:
    """The same search on the registry's website, or None when a parameter has no website
    equivalent.  The location search and an Essie filter go into the website's ``term``
    (``AREA[LocationSearch](…)``, ANDed), NCT ids into its ``id`` field (ORed)."""
    out: dict[str, str] = {}
    terms: list[str] = []
    for name, value in params.items():
        if name in _WEBSITE_FIELDS:
            if name == "query.term":
                terms.insert(0, value)
            else:
                out[_WEBSITE_FIELDS[name]] = value
        elif name == "query.locn":
            terms.append(f"AREA[LocationSearch]({value})")
        elif name == "filter.advanced":
            terms.append(value)
        elif name == "filter.ids":
            ids = " OR ".join(i for i in value.split(",") if i)
            out["id"] = f"({out['id']}) AND ({ids})" if "id" in out else ids
        elif name == "filter.overallStatus":
            codes = [_STATUS_CODES.get(s.strip().upper()) for s in value.split(",")]
            if None in codes:
                return None
            out["aggFilters"] = "status:" + " ".join(c for c in codes if c)
        else:
            return None
    if terms:
        out["term"] = " AND ".join(f"({t})" if len(terms) > 1 else t for t in terms)
    return _url(f"{WEBSITE}/search", dict(sorted(out.items())))


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _decode(text: str | None) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(text) if text else {}
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _run(row: Any) -> dict[str, Any]:
    """A sync run as the log shows it."""
    args, stats = _decode(row.arguments), _decode(row.stats)
    schema = stats.get("schema") or {}
    return {"run": row.id, "status": row.status, "started_at": _iso(row.started_at),
            "finished_at": _iso(row.finished_at), "mode": stats.get("mode"),
            "since": stats.get("since"), "total_count": stats.get("expected"),
            "received": stats.get("received"), "base_url": args.get("base_url"),
            "data_version": schema.get("data_timestamp")}


def query_history(conn: Connection, name: str, params: Mapping[str, str]) -> dict[str, Any]:
    """A saved query: its parameters, equivalent searches, its last pass that completed
    (``last_complete``, full or incremental) and its last full pass that completed
    (``last_full``: the registry's count of the whole search)."""
    columns = (R.c.id, R.c.status, R.c.started_at, R.c.finished_at, R.c.arguments,
               R.c.stats)
    success = conn.execute(sa.select(S.c.last_success_run_id).where(
        S.c.query_key == query_key(params))).scalar()
    last = conn.execute(sa.select(*columns).where(R.c.id == success)).first() \
        if success is not None else None
    last_full = None
    done = conn.execute(sa.select(*columns).where(
        R.c.kind == "sync", R.c.query_name == name, R.c.status.in_(("ok", "partial")))
        .order_by(R.c.id.desc()))
    for row in done:
        if _decode(row.stats).get("mode") == "full":
            last_full = _run(row)
            break
    base = (last_full or (_run(last) if last else {})).get("base_url") or WEBSITE
    return {"name": name, "parameters": dict(params), "website_url": website_url(params),
            "api_url": api_url(params), "harvested_url": api_url(params, base),
            "last_complete": _run(last) if last else None, "last_full": last_full}


def information_source(conn: Connection, selection: Selection,
                       skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Where the selected versions came from: the registry, by source kind, the servers
    they were harvested from (base URLs) and the files imported, and the saved queries whose
    syncs brought them (``skip``: trials left out of the export)."""
    picked = selected(selection).order_by(None).subquery("picked")
    stmt = (sa.select(V.c.run_id, V.c.source, V.c.nct_id)
            .join(picked, picked.c.version_id == V.c.id))
    by_run: dict[int | None, int] = {}
    sources: dict[str, int] = {}
    for row in conn.execute(stmt):
        if row.nct_id in skip:
            continue
        by_run[row.run_id] = by_run.get(row.run_id, 0) + 1
        sources[row.source] = sources.get(row.source, 0) + 1
    servers: dict[str, int] = {}
    files: dict[str, None] = {}
    queries: dict[str, None] = {}
    other = 0
    ids = [r for r in by_run if r is not None]
    for start in range(0, len(ids), 500):
        for row in conn.execute(sa.select(R.c.id, R.c.kind, R.c.arguments, R.c.query_name)
                                .where(R.c.id.in_(ids[start:start + 500]))):
            args = _decode(row.arguments)
            count = by_run[row.id]
            if row.kind in ("sync", "fetch", "backfill"):
                server = args.get("base_url") or "not recorded (a run older than this record)"
                servers[server] = servers.get(server, 0) + count
                if row.kind == "sync" and row.query_name:
                    queries[row.query_name] = None
            elif row.kind == "import":
                files.update(dict.fromkeys(str(p) for p in args.get("paths", ())))
            else:
                other += count
    return {"registry": REGISTRY,
            "sources": {SOURCE_NAMES.get(k, k): n for k, n in sorted(sources.items())},
            "harvested_from": [{"base_url": k, "versions": n}
                               for k, n in sorted(servers.items())],
            "imported_files": list(files), "other_versions": other + by_run.get(None, 0),
            "queries": sorted(queries)}
