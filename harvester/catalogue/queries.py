"""Saved queries as managed objects: what each holds, when it last synced well and how its
last sync ended; renaming and deleting them (their trials stay in the catalogue)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import msgspec
import sqlalchemy as sa

from harvester.catalogue.statusinfo import QueryInfo
from harvester.catalogue.store import Catalogue, R, V
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


def end_of(day: date) -> datetime:
    """The first moment after ``day`` (UTC): what "as of DAY" looks back from."""
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def query_infos(catalogue: Catalogue, *, as_of: date | None = None) -> list[QueryInfo]:
    """Every saved query, by name; with ``as_of``, as they stood at the end of that day
    (UTC): the queries saved by then, their last good sync and last sync by then, and the
    trials in their results then."""
    until = end_of(as_of) if as_of is not None else None
    with catalogue.engine.connect() as conn:
        saved = sa.select(Q.c.name, Q.c.params, Q.c.created_at).order_by(Q.c.name)
        if until is not None:
            saved = saved.where(Q.c.created_at < until)
        infos = []
        for row in conn.execute(saved).all():
            params = msgspec.json.decode(row.params)
            key = query_key(params)
            if until is None:
                state = conn.execute(sa.select(S.c.last_success_at, S.c.last_success_run_id)
                                     .where(S.c.query_key == key)).first()
                success = (state.last_success_at, state.last_success_run_id) if state \
                    else (None, None)
                trials = conn.execute(sa.select(sa.func.count()).select_from(M).where(
                    M.c.query_key == key, M.c.present.is_(True))).scalar_one()
            else:
                success, trials = _success_by(conn, row.name, until), \
                    _members_at(conn, key, until)
            runs = sa.select(R.c.id, R.c.status, R.c.message, R.c.started_at,
                             R.c.finished_at, R.c.batch_id).where(
                R.c.kind == "sync", R.c.query_name == row.name)
            if until is not None:
                runs = runs.where(R.c.started_at < until)
            last = conn.execute(runs.order_by(R.c.id.desc()).limit(1)).mappings().first()
            last_run = {**last, "batch": last["batch_id"]} if last else None
            if last_run is not None and until is not None and (
                    last_run["finished_at"] is None or _utc(last_run["finished_at"]) >= until):
                last_run.update(status="running", finished_at=None, message=None)
            infos.append(QueryInfo(row.name, params, row.created_at, success[0], success[1],
                                   int(trials), last_run))
    for info in infos:
        if info.last_run is not None:
            info.last_run.pop("batch_id", None)
    return infos


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _success_by(conn: sa.Connection, name: str, until: datetime,
                ) -> tuple[datetime | None, int | None]:
    """When the query's last sync that completed before ``until`` ended, and its run."""
    row = conn.execute(sa.select(R.c.finished_at, R.c.id).where(
        R.c.kind == "sync", R.c.query_name == name, R.c.status.in_(("ok", "partial")),
        R.c.finished_at < until).order_by(R.c.id.desc()).limit(1)).first()
    return (row.finished_at, row.id) if row else (None, None)


def _members_at(conn: sa.Connection, key: str, until: datetime) -> int:
    """The trials in the query's results at ``until``, as far as the catalogue can tell: a
    member last marked before then as it was marked; one gone since was there; one seen
    again since counts when the catalogue held it by then."""
    held = sa.exists().where(V.c.nct_id == M.c.nct_id, V.c.seen_at < until)
    return int(conn.execute(sa.select(sa.func.count()).select_from(M).where(
        M.c.query_key == key,
        sa.or_(sa.and_(M.c.changed_at < until, M.c.present.is_(True)),
               sa.and_(M.c.changed_at >= until, M.c.present.is_(False)),
               sa.and_(M.c.changed_at >= until, M.c.present.is_(True), held)))).scalar_one())


def query_info(catalogue: Catalogue, name: str, *, as_of: date | None = None) -> QueryInfo:
    for info in query_infos(catalogue, as_of=as_of):
        if info.name == name:
            return info
    if as_of is not None and name in saved_queries(catalogue):
        raise UsageError(f"the saved query {name!r} was saved after {as_of}")
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
