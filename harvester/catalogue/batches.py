"""The last sync (or run) a digest covers: a ``sync --all`` batch is one unit — its own run
of kind ``batch`` and every query's sync run pointing to it — and a failed one is reported,
never skipped for an older success."""

from __future__ import annotations

import sqlalchemy as sa

from harvester.catalogue.statusinfo import LastRun, asked_queries
from harvester.catalogue.store import Catalogue, R

__all__ = ["LastRun", "last_run"]


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
        parts: list[tuple[int, str | None, str, str | None]] = []
        if row["kind"] == "batch":
            parts = [(p.id, p.query_name, p.status, p.message) for p in conn.execute(
                sa.select(R.c.id, R.c.query_name, R.c.status, R.c.message)
                .where(R.c.batch_id == row["id"]).order_by(R.c.id))]
        elif row["kind"] == "sync":
            parts = [(row["id"], row["query_name"], row["status"], row["message"])]
    found.add_parts(parts, _asked(catalogue, found.run_id) if found.kind == "batch" else [])
    return found


def _asked(catalogue: Catalogue, batch_id: int) -> list[str]:
    return asked_queries(catalogue.run(batch_id)["arguments"])

