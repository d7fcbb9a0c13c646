"""How a saved sync query's registry answer compares with a local search of its parameters.

``trials search --query NAME`` lists exactly the trials the registry returned to the saved
query (its members after the last complete pass).  The local search of the same parameters
(``query.cond`` → ``--cond`` …, ``filter.overallStatus`` → ``--status``, ``filter.ids`` →
``--ids``) can differ: the registry expands words with its own synonym lists and spelling
variants, which a local catalogue does not have; locally, MeSH concepts are matched as this
project does, and the hyphen rule keeps ``non-small`` apart from ``small``; the catalogue may
hold versions newer or older than the registry's answer.  :func:`compare_with_registry` counts
both sides so the user can see the difference, and names the trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harvester.catalogue import Catalogue, areas
from harvester.catalogue.selection import Selection, iter_selected, with_query
from harvester.catalogue.syncstate import saved_query

#: The API parameters a local search can answer, and the area each is.
AREA_PARAMS = {"query.cond": "cond", "query.intr": "intr", "query.term": "term",
               "query.titles": "titles", "query.outc": "outc", "query.spons": "spons",
               "query.locn": "locn", "query.id": "id"}


@dataclass(frozen=True)
class Agreement:
    name: str
    registry: frozenset[str]  # the saved query's trials (the registry's answer)
    local: frozenset[str] | None  # the local search of its parameters (None: cannot)
    unanswerable: tuple[str, ...]  # parameters a local search cannot replay

    @property
    def only_registry(self) -> list[str]:
        return sorted(self.registry - (self.local or frozenset()))

    @property
    def only_local(self) -> list[str]:
        return sorted((self.local or frozenset()) - self.registry)

    def message(self) -> str:
        head = (f"saved query {self.name!r}: {len(self.registry)} trials, as the registry "
                "answered its last complete sync")
        if self.local is None:
            return (f"{head}; a local search cannot replay "
                    f"{', '.join(self.unanswerable)}, so it is not compared")
        if self.local == self.registry:
            return f"{head}; a local search of the same parameters finds the same trials"
        parts = []
        if self.only_registry:
            parts.append(f"{len(self.only_registry)} of them are not found by a local search "
                         "of the same parameters (the registry also matches its own synonym "
                         "lists and spelling variants): " + _some(self.only_registry))
        if self.only_local:
            parts.append(f"a local search finds {len(self.only_local)} more (MeSH concepts "
                         "and descendants matched here, or versions newer than the sync): "
                         + _some(self.only_local))
        return f"{head}; " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"saved_query": self.name, "registry": len(self.registry),
                "local": None if self.local is None else len(self.local),
                "not_found_locally": self.only_registry, "found_only_locally": self.only_local,
                "not_replayable": list(self.unanswerable)}


def _some(ids: list[str], shown: int = 5) -> str:
    return ", ".join(ids[:shown]) + (f" (+{len(ids) - shown} more)" if len(ids) > shown
                                     else "")


def local_selection(params: dict[str, str]) -> tuple[Selection, tuple[str, ...]]:
    """The Selection a local search of the API parameters makes, and the parameters it
    cannot replay."""
    given = tuple((AREA_PARAMS[k], v) for k, v in params.items() if k in AREA_PARAMS)
    statuses = tuple(s for s in params.get("filter.overallStatus", "").split(",") if s)
    ids = tuple(i for i in params.get("filter.ids", "").split(",") if i)
    other = tuple(k for k in params if k not in AREA_PARAMS
                  and k not in ("filter.overallStatus", "filter.ids"))
    return Selection(areas=given, statuses=statuses, ids=ids), other


def compare_with_registry(catalogue: Catalogue, name: str) -> Agreement:
    params = saved_query(catalogue, name)
    members = with_query(catalogue, Selection(), name)
    local, other = local_selection(params)
    if local.areas:
        areas.catch_up(catalogue.engine)
    with catalogue.engine.connect() as conn:
        registry = frozenset(n for n, _ in iter_selected(conn, members))
        found = None if other else frozenset(n for n, _ in iter_selected(conn, local))
    return Agreement(name, registry, found, other)
