"""Saved queries as managed objects: what each holds, when it last synced well and how its
last sync ended; renaming and deleting them (their trials stay in the catalogue)."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa

from harvester.catalogue.statusinfo import QueryInfo
from harvester.catalogue.store import Catalogue, R
from harvester.catalogue.syncstate import (
    M,
    Q,
    S,
    no_such_query,
    query_key,
    saved_queries,
    saved_query,
)
from harvester.errors import UsageError


def query_infos(catalogue: Catalogue) -> list[QueryInfo]:
    """Every saved query, by name."""
    with catalogue.engine.connect() as conn:
        rows = conn.execute(sa.select(Q.c.name, Q.c.params, Q.c.created_at)
                            .order_by(Q.c.name)).all()
        infos = []
        for row in rows:
            params = msgspec.json.decode(row.params)
            key = query_key(params)
            state = conn.execute(sa.select(S.c.last_success_at, S.c.last_success_run_id)
                                 .where(S.c.query_key == key)).first()
            trials = conn.execute(sa.select(sa.func.count()).select_from(M).where(
                M.c.query_key == key, M.c.present.is_(True))).scalar_one()
            last = conn.execute(sa.select(R.c.id, R.c.status, R.c.message, R.c.started_at,
                                          R.c.finished_at, R.c.batch_id)
                                .where(R.c.kind == "sync", R.c.query_name == row.name)
                                .order_by(R.c.id.desc()).limit(1)).mappings().first()
            infos.append(QueryInfo(
                row.name, params, row.created_at,
                state.last_success_at if state else None,
                state.last_success_run_id if state else None, int(trials),
                {**last, "batch": last["batch_id"]} if last else None))
    for info in infos:
        if info.last_run is not None:
            info.last_run.pop("batch_id", None)
    return infos


def query_info(catalogue: Catalogue, name: str) -> QueryInfo:
    for info in query_infos(catalogue):
        if info.name == name:
            return info
    raise no_such_query(catalogue, name)


def rename_query(catalogue: Catalogue, old: str, new: str) -> None:
    """Rename a saved query; its runs take the new name too."""
    known = saved_queries(catalogue)
    if old not in known:
        raise no_such_query(catalogue, old)
    if new in known:
        raise UsageError(f"a saved query named {new!r} exists already; delete or rename it "
                         "first")
    with catalogue.engine.begin() as conn:
        conn.execute(sa.update(Q).where(Q.c.name == old).values(
            name=new, updated_at=catalogue.clock()))
        conn.execute(sa.update(R).where(R.c.query_name == old).values(query_name=new))


def delete_query(catalogue: Catalogue, name: str) -> QueryInfo:
    """Forget a saved query (its trials, their versions and its runs stay)."""
    info = query_info(catalogue, name)
    with catalogue.engine.begin() as conn:
        conn.execute(sa.delete(Q).where(Q.c.name == name))
    return info


def query_members(catalogue: Catalogue, name: str) -> set[str]:
    """The trials a saved query's syncs have found (also those since gone from its
    results)."""
    key = query_key(saved_query(catalogue, name))
    with catalogue.engine.connect() as conn:
        return set(conn.execute(sa.select(M.c.nct_id).where(M.c.query_key == key)).scalars())
