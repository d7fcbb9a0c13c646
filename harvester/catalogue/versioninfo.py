"""One version of a trial as listed (not its record), and which version to show.

Apart from :mod:`harvester.catalogue.store` so that the quick SQLite reader
(:mod:`harvester.catalogue.quick`) picks the same version without importing SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Lower is preferred for the current view: the registry's own record before a mirror's.
SOURCE_RANK = {"ctgov-json": 0, "ctgov-xml": 0, "veeva": 1}


@dataclass(frozen=True)
class VersionInfo:
    id: int
    number: int  # 1-based place in the trial's history (0 when not listed in one)
    nct_id: str
    source: str
    seen_at: datetime
    registry_date: str | None
    registry_version: str | None
    effective_date: str
    parser_version: str
    content_hash: str
    run_id: int | None
    supersedes_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.number, "id": self.id, "source": self.source,
                "seen_at": self.seen_at, "registry_date": self.registry_date,
                "registry_version": self.registry_version,
                "parser_version": self.parser_version}


#: The columns of ``version`` a VersionInfo holds (all but ``number``), in this order.
INFO_COLUMNS = ("id", "nct_id", "source", "seen_at", "registry_date", "registry_version",
                "effective_date", "parser_version", "content_hash", "run_id", "supersedes_id")


def preference(info: VersionInfo | Mapping[str, Any]) -> tuple[int, str, datetime, int]:
    """Sort key of the version to prefer: registry sources first, then the latest."""
    get = info.__getitem__ if isinstance(info, Mapping) else info.__getattribute__
    return (-SOURCE_RANK.get(get("source"), 9), get("effective_date"), get("seen_at"), get("id"))


def history_order(info: VersionInfo) -> tuple[str, datetime, int]:
    return (info.effective_date, info.seen_at, info.id)


def listed(infos: list[VersionInfo], *, include_superseded: bool = False) -> list[VersionInfo]:
    """A trial's versions in history order (registry date, then when seen), numbered;
    those a reparse replaced are left out unless ``include_superseded``."""
    if not include_superseded:
        replaced = {i.supersedes_id for i in infos if i.supersedes_id is not None}
        infos = [i for i in infos if i.id not in replaced]
    infos.sort(key=history_order)
    return [VersionInfo(**{**info.__dict__, "number": n}) for n, info in enumerate(infos, 1)]


def pick(infos: list[VersionInfo], source: str | None, as_of: str | None) -> VersionInfo | None:
    """The version to show among a trial's listed versions: the preferred source's latest,
    optionally only ``source``'s and as of the ISO date ``as_of``."""
    kept = [i for i in infos if (source is None or i.source == source)
            and (as_of is None or i.effective_date <= as_of)]
    return max(kept, key=preference) if kept else None
