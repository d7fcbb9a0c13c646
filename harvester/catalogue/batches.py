"""The last sync (or run) a digest covers: a ``sync --all`` batch is one unit — its own run
of kind ``batch`` and every query's sync run pointing to it — and a failed one is reported,
never skipped for an older success."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from harvester.catalogue.store import Catalogue, R


@dataclass
class LastRun:
    """What ``--since-last-sync``/``--since-last-run`` looks back to."""

    run_id: int
    kind: str  # batch, sync, import
    started_at: datetime
    status: str
    message: str | None
    queries: list[str] = field(default_factory=list)  # the queries it synced
    failed: list[dict[str, Any]] = field(default_factory=list)  # their runs not "ok"

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "kind": self.kind, "started_at": self.started_at,
                "status": self.status, "message": self.message, "queries": self.queries,
                "failed": self.failed}

    def describe(self) -> str:
        what = (f"sync batch {self.run_id} ({len(self.queries)} "
                f"quer{'y' if len(self.queries) == 1 else 'ies'}: {', '.join(self.queries)})"
                if self.kind == "batch" else
                f"{self.kind} run {self.run_id}"
                + (f" ({', '.join(self.queries)})" if self.queries else ""))
        return f"{what}, started {self.started_at:%Y-%m-%d %H:%M} UTC: {self.status}"


def last_run(catalogue: Catalogue, *, syncs_only: bool) -> LastRun | None:
    """The latest finished sync batch or lone sync (or, without ``syncs_only``, also
    import), whatever its outcome; None when there is none."""
    kinds = ["batch", "sync"] if syncs_only else ["batch", "sync", "import"]
    with catalogue.engine.connect() as conn:
        row = conn.execute(sa.select(R).where(
            R.c.kind.in_(kinds), R.c.batch_id.is_(None), R.c.status != "running")
            .order_by(R.c.id.desc()).limit(1)).mappings().first()
        if row is None:
            return None
        found = LastRun(row["id"], row["kind"], row["started_at"], row["status"],
                        row["message"])
        parts: list[_Part] = []
        if row["kind"] == "batch":
            parts = [_Part(*p) for p in conn.execute(
                sa.select(R.c.id, R.c.query_name, R.c.status, R.c.message)
                .where(R.c.batch_id == row["id"]).order_by(R.c.id))]
        elif row["kind"] == "sync":
            parts = [_Part(row["id"], row["query_name"], row["status"], row["message"])]
    for part in parts:
        if part.query_name:
            found.queries.append(part.query_name)
        if part.status != "ok":
            found.failed.append({"query": part.query_name, "run": part.id,
                                 "status": part.status, "message": part.message})
    if found.kind == "batch":  # a query that could not start has no run: the batch says so
        asked = _asked(catalogue, found.run_id)
        for name in asked:
            if name not in found.queries:
                found.queries.append(name)
                found.failed.append({"query": name, "run": None, "status": "failed",
                                     "message": "could not run"})
    return found


@dataclass
class _Part:
    id: int
    query_name: str | None
    status: str
    message: str | None


def _asked(catalogue: Catalogue, batch_id: int) -> list[str]:
    arguments = catalogue.run(batch_id)["arguments"]
    queries = msgspec.json.decode(arguments).get("queries") or []
    return [q for q in queries if q]
