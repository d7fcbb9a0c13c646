"""What a reader needs to triage a list of similar trials: each one's status, phase, start
date and enrollment, from its current version (or the one current on an ``--as-of`` day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from harvester.catalogue import Catalogue, recordcodec
from harvester.catalogue import tables as t
from harvester.catalogue.selection import versions_as_of
from harvester.errors import NotFoundError
from harvester.find.similar import features as fx
from harvester.find.similar import index as ix

V = t.Version.__table__  # type: ignore[attr-defined]
T = t.Trial.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Facts:
    status: str | None
    phases: tuple[str, ...]
    start_date: str | None
    enrollment: int | None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "phases": list(self.phases),
                "start_date": self.start_date, "enrollment": self.enrollment}


def facts(catalogue: Catalogue, nct_ids: Sequence[str],
          as_of: date | None = None) -> dict[str, Facts]:
    """Each trial's triage facts, by NCT id (a trial with no version on ``as_of`` is left
    out)."""
    if not nct_ids:
        return {}
    if as_of is None:
        chosen = sa.select(T.c.nct_id, T.c.current_version_id.label("version_id")).where(
            T.c.nct_id.in_(list(nct_ids))).subquery()
    else:
        picked = versions_as_of(as_of).subquery()
        chosen = sa.select(picked.c.nct_id, picked.c.version_id).where(
            picked.c.nct_id.in_(list(nct_ids))).subquery()
    stmt = sa.select(chosen.c.nct_id, V.c.overall_status, V.c.phases, V.c.start_date,
                     V.c.enrollment_count).join(V, V.c.id == chosen.c.version_id)
    with catalogue.engine.connect() as conn:
        return {row.nct_id: Facts(row.overall_status,
                                  tuple(p for p in (row.phases or "").split("|") if p),
                                  row.start_date, row.enrollment_count)
                for row in conn.execute(stmt)}


def check_known(catalogue: Catalogue, nct_id: str) -> None:
    """NotFoundError unless the catalogue holds ``nct_id`` as a trial or as an NCT id alias
    of one: asked before the similarity index is brought up to date, so that a typo fails
    at once, whatever the size of the catalogue.  An alias is looked up in the index, and
    in the versions the index has not caught up with."""
    if catalogue.has_trial(nct_id):
        return
    mark = 0
    try:
        with catalogue.engine.connect() as conn:
            now = ix.state(conn)
            if now.features_version == fx.FEATURES_VERSION:
                if ix.term_stats(conn, [f"x:{nct_id}"]):
                    return
                mark = now.mark
    except sa.exc.SQLAlchemyError:  # no index yet: every version is looked at
        pass
    with catalogue.engine.connect() as conn:  # records are compressed: looked at here
        rows = conn.execution_options(stream_results=True, yield_per=500).execute(
            sa.select(V.c.record).where(V.c.id > mark))
        if any(recordcodec.contains(row.record, nct_id) for row in rows):
            return
    raise NotFoundError(f"{nct_id} is not in the catalogue")
