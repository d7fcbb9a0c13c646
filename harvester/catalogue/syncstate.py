"""What syncs remember between runs: saved queries, high-water marks, resume points, the
members of each query's results, and the registry's schema as last seen."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from harvester.catalogue import tables as t
from harvester.catalogue.statusinfo import query_key as query_key  # its home, re-exported
from harvester.catalogue.store import Catalogue
from harvester.errors import NotFoundError, UsageError

Q = t.SavedQuery.__table__  # type: ignore[attr-defined]
S = t.SyncState.__table__  # type: ignore[attr-defined]
M = t.QueryMember.__table__  # type: ignore[attr-defined]
X = t.SchemaSnapshot.__table__  # type: ignore[attr-defined]
E = t.TrialEvent.__table__  # type: ignore[attr-defined]


def _json(value: Any) -> str:
    return msgspec.json.encode(value, order="sorted").decode()


def _upsert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
            keys: Sequence[str]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), rows)


# --- saved queries ----------------------------------------------------------------------

def save_query(catalogue: Catalogue, name: str, params: Mapping[str, str], *,
               replace: bool = False) -> None:
    """Save a query under ``name``; a name in use for other parameters is refused unless
    ``replace``."""
    held = saved_queries(catalogue).get(name)
    if held is not None and held != dict(params) and not replace:
        shown = " ".join(f"{k}={v}" for k, v in sorted(held.items()))
        raise UsageError(f"a saved query named {name!r} exists with other parameters "
                         f"({shown}); give --replace to replace it, or another name")
    now = catalogue.clock()
    with catalogue.engine.begin() as conn:
        _upsert(conn, Q, [{"name": name, "params": _json(dict(params)), "created_at": now,
                           "updated_at": now}], ["name"])


def saved_queries(catalogue: Catalogue) -> dict[str, dict[str, str]]:
    with catalogue.engine.connect() as conn:
        rows = conn.execute(sa.select(Q.c.name, Q.c.params).order_by(Q.c.name))
        return {row.name: msgspec.json.decode(row.params) for row in rows}


def saved_query(catalogue: Catalogue, name: str) -> dict[str, str]:
    known = saved_queries(catalogue)
    found = known.get(name)
    if found is None:
        raise NotFoundError(unknown_query(name, sorted(known)))
    return found


def no_such_query(catalogue: Catalogue, name: str) -> NotFoundError:
    return NotFoundError(unknown_query(name, sorted(saved_queries(catalogue))))


def unknown_query(name: str, known: list[str]) -> str:
    """``no saved query named 'brest'; did you mean 'breast'? (saved: a, breast, c)``."""
    if not known:
        return (f"no saved query named {name!r}: the catalogue has no saved query yet "
                f"(save one with trials sync … --save {name})")
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    close += [k for k in known if name.casefold() in k.casefold() and k not in close]
    hint = f"; did you mean {' or '.join(map(repr, close[:3]))}?" if close else ""
    shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
    return f"no saved query named {name!r}{hint} (saved: {shown})"


# --- sync state -------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncState:
    key: str
    high_water: str | None
    last_success_run_id: int | None
    last_success_at: datetime | None
    resume: dict[str, Any] | None


def load_state(catalogue: Catalogue, key: str) -> SyncState | None:
    with catalogue.engine.connect() as conn:
        row = conn.execute(sa.select(S).where(S.c.query_key == key)).mappings().first()
    if row is None:
        return None
    resume = msgspec.json.decode(row["resume"]) if row["resume"] else None
    return SyncState(key, row["high_water"], row["last_success_run_id"],
                     row["last_success_at"], resume)


def save_state(conn: Connection, key: str, params: Mapping[str, str], now: datetime, *,
               resume: dict[str, Any] | None, high_water: str | None = None,
               success_run_id: int | None = None) -> None:
    """Record progress (``resume``) or, with ``success_run_id``, a finished pass."""
    row: dict[str, Any] = {"query_key": key, "params": _json(dict(params)),
                           "resume": _json(resume) if resume is not None else None,
                           "updated_at": now}
    if success_run_id is not None:
        row.update(high_water=high_water, last_success_run_id=success_run_id,
                   last_success_at=now)
    _upsert(conn, S, [row], ["query_key"])


# --- query members ----------------------------------------------------------------------

def mark_seen(conn: Connection, key: str, nct_ids: Iterable[str], pass_id: int,
              now: datetime, run_id: int) -> None:
    """These trials are in the query's results in this pass; note any that came back."""
    ids = sorted(set(nct_ids))
    if not ids:
        return
    back = conn.execute(sa.select(M.c.nct_id).where(
        M.c.query_key == key, M.c.present.is_(False), M.c.nct_id.in_(ids))).scalars().all()
    if back:
        conn.execute(sa.insert(E), [{"nct_id": n, "kind": "reappeared", "at": now,
                                     "run_id": run_id, "detail": None} for n in back])
    _upsert(conn, M, [{"query_key": key, "nct_id": n, "present": True,
                       "last_seen_pass": pass_id, "changed_at": now} for n in ids],
            ["query_key", "nct_id"])


def mark_gone(conn: Connection, key: str, pass_id: int, now: datetime, run_id: int,
              description: str) -> list[str]:
    """After a full pass: members it did not see have left the results (nothing deleted)."""
    gone = conn.execute(sa.select(M.c.nct_id).where(
        M.c.query_key == key, M.c.present.is_(True),
        M.c.last_seen_pass != pass_id)).scalars().all()
    if gone:
        conn.execute(sa.update(M).where(M.c.query_key == key, M.c.nct_id.in_(gone)).values(
            present=False, changed_at=now))
        conn.execute(sa.insert(E), [{"nct_id": n, "kind": "disappeared", "at": now,
                                     "run_id": run_id, "detail": description}
                                    for n in gone])
    return list(gone)


# --- schema snapshots ---------------------------------------------------------------------

def latest_snapshot(catalogue: Catalogue, kind: str) -> tuple[str, str] | None:
    """(data timestamp, body) of the last snapshot of this kind."""
    with catalogue.engine.connect() as conn:
        row = conn.execute(sa.select(X.c.data_timestamp, X.c.body).where(X.c.kind == kind)
                           .order_by(X.c.id.desc()).limit(1)).first()
    return (row.data_timestamp, row.body) if row else None


def save_snapshot(catalogue: Catalogue, kind: str, data_timestamp: str, body: str) -> None:
    with catalogue.engine.begin() as conn:
        conn.execute(sa.insert(X).values(kind=kind, data_timestamp=data_timestamp,
                                         fetched_at=catalogue.clock(), body=body))
