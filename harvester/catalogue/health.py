"""The catalogue's health on one screen, for a person or a monitoring check (``trials
status``; the web status page can show the same): where it is and how big, what it holds,
the registry data version, each saved query's last good sync and its age, who holds the
writer lock, and how far the similarity index lags."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from harvester.catalogue.batches import last_run
from harvester.catalogue.engine import SCHEMA_VERSION, describe, schema_version
from harvester.catalogue.lock import lock_holder
from harvester.catalogue.queries import query_infos
from harvester.catalogue.statusinfo import Status, describe_age, parse_age
from harvester.catalogue.store import Catalogue, T, V
from harvester.catalogue.syncstate import X

__all__ = ["Status", "catalogue_status", "describe_age", "parse_age"]

def catalogue_status(catalogue: Catalogue) -> Status:
    engine = catalogue.engine
    with engine.connect() as conn:
        trials = int(conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one())
        versions = int(conn.execute(sa.select(sa.func.count()).select_from(V)).scalar_one())
        registry = conn.execute(sa.select(X.c.data_timestamp, X.c.fetched_at)
                                .where(X.c.kind == "version")
                                .order_by(X.c.id.desc()).limit(1)).first()
        version = schema_version(conn)
        pending = _similarity_pending(conn)
        size = _size(catalogue, conn)
    return Status(
        now=catalogue.clock(), location=describe(engine.url),
        backend=engine.url.get_backend_name(), size_bytes=size,
        schema_version=version if version else SCHEMA_VERSION, trials=trials,
        versions=versions,
        registry_data_version=registry.data_timestamp if registry else None,
        registry_checked_at=registry.fetched_at if registry else None,
        queries=query_infos(catalogue), lock=lock_holder(engine),
        similarity_pending=pending, last_sync=last_run(catalogue, syncs_only=True))


def _similarity_pending(conn: sa.Connection) -> int | None:
    from harvester.find.similar import index as ix

    try:
        return ix.pending(conn)
    except sa.exc.SQLAlchemyError:
        conn.rollback()
        return None


def _size(catalogue: Catalogue, conn: sa.Connection) -> int | None:
    url = catalogue.engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        path = Path(url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    value = conn.execute(sa.text(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
    )).scalar()
    return int(value) if value is not None else None
