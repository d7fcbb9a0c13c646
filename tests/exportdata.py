"""A catalogue of the fixture files for the export tests, and what it should export, read
through the catalogue's own API (``Catalogue.current``), never through the export's
selection SQL; and the items and a one-exporter run the exporter tests drive directly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from harvester.catalogue import Catalogue
from harvester.catalogue.selection import Selection, iter_versions
from harvester.export.base import Exporter, ExportItem
from harvester.export.log import SearchLog
from tests.conftest import FIXTURES, trials

HISTORY = FIXTURES / "ctgov-history"
#: Every kind of source: API v2 studies, legacy XML, record histories (API and XML), the
#: Veeva page and a partial API record of the same trial.
SOURCES: tuple[Path, ...] = (
    FIXTURES / "ctgov-v2-json/studies", FIXTURES / "ctgov-xml",
    *sorted((HISTORY / "api-v2-snapshots").glob("NCT*__vh*.json")),
    HISTORY / "legacy-xml-redownloads", FIXTURES / "mirror-veeva", FIXTURES / "constructed")
HISTORY_TRIAL = "NCT06203210"  # three API snapshots: ACTIVE_NOT_RECRUITING, then RECRUITING
#: The fixtures' one trial registered twice: NCT99000001 (constructed) is a second
#: registration of NCT03494712, naming its EudraCT number (see fixtures/README.md); an export
#: keeps the first registered.
FIRST_REGISTRATION, SECOND_REGISTRATION = "NCT03494712", "NCT99000001"
#: For the format tests: export every record, the second registration too.
EVERY_RECORD = "--keep-duplicates"


def deduplicated(nct_ids: Any) -> list[str]:
    """What an export of these trials holds: each once, in order, the second registration
    left out when the first is there."""
    ids = set(nct_ids)
    if FIRST_REGISTRATION in ids:
        ids.discard(SECOND_REGISTRATION)
    return sorted(ids)


_SHARED: dict[str, str] = {}


def shared(factory: Any) -> str:
    """One catalogue of every source for all the export test modules (none writes to it),
    built on first use in the session's temporary folder."""
    if "url" not in _SHARED:
        url = f"sqlite:///{factory.mktemp('export-catalogue') / 'catalogue.sqlite'}"
        build(url)
        _SHARED["url"] = url
    return _SHARED["url"]


def build(db: str, *paths: Path) -> None:
    result = trials(db, "import", *(paths or SOURCES), "--quiet")
    assert result.exit_code == 0, result.output


@dataclass(frozen=True)
class Current:
    """One trial's expected export: its record JSON and the version that pins it."""

    record: dict[str, Any]
    number: int
    version_id: int
    content_hash: str
    source: str


_CURRENT: dict[date | None, dict[str, Current]] = {}


def current(db: str, as_of: date | None = None) -> dict[str, Current]:
    """Each trial's version current now (or on ``as_of``), by NCT id (remembered for the
    shared catalogue, which does not change)."""
    if db == _SHARED.get("url") and as_of in _CURRENT:
        return _CURRENT[as_of]
    out = {}
    with Catalogue.open(db) as catalogue:
        for nct_id in catalogue.trial_ids():
            info = catalogue.current(nct_id, as_of=as_of)
            if info is None:
                continue
            record = catalogue.record(info.id).to_json_dict()
            out[nct_id] = Current(json.loads(json.dumps(record)), info.number, info.id,
                                  info.content_hash, info.source)
    if db == _SHARED.get("url"):
        _CURRENT[as_of] = out
    return out


def selected_items(url: str) -> list[ExportItem]:
    """Every current version of the catalogue at ``url``, as exporters receive them."""
    with Catalogue.open(url) as cat, cat.engine.connect() as conn:
        return [ExportItem(v) for v in iter_versions(conn, Selection())]


def write_with(exporter: Exporter, items: list[ExportItem],
               path: Path) -> tuple[int, SearchLog]:
    """Run one exporter over ``items`` into ``path``: how many it wrote, and its log."""
    log = SearchLog(Selection(), fmt=exporter.name)
    with path.open("wb") as out:
        count = exporter.write(iter(items), out, log)
    return count, log


#: The API v2 lists of planned outcome measures, by the record's outcome kind.
OUTCOME_LISTS = (("PRIMARY", "primaryOutcomes"), ("SECONDARY", "secondaryOutcomes"),
                 ("OTHER", "otherOutcomes"))


def file_outcomes(study: dict[str, Any]) -> list[tuple[int, str, str, str | None]]:
    """A study file's planned outcome measures read by hand: (position within its kind,
    kind, title, time frame), primary first."""
    module = study["protocolSection"].get("outcomesModule", {})
    return [(n, kind, o["measure"], o.get("timeFrame"))
            for kind, key in OUTCOME_LISTS for n, o in enumerate(module.get(key, []), 1)]


def file_results(study: dict[str, Any]) -> dict[str, int | None]:
    """A study file's results overview read by hand (the trial columns of every export)."""
    results = study.get("resultsSection")
    if results is None:
        return dict.fromkeys(("participants_started", "participants_completed",
                              "reported_outcomes", "serious_ae_participants", "deaths"))
    periods = results["participantFlowModule"]["periods"]

    def milestone(period: dict[str, Any], kind: str) -> int | None:
        counts = [int(a["numSubjects"]) for m in period["milestones"] if m["type"] == kind
                  for a in m["achievements"]]
        return sum(counts) if counts else None

    groups = results["adverseEventsModule"]["eventGroups"]

    def affected(key: str) -> int | None:
        counts = [g[key] for g in groups if g.get(key) is not None]
        return sum(counts) if counts else None

    return {"participants_started": milestone(periods[0], "STARTED"),
            "participants_completed": milestone(periods[-1], "COMPLETED"),
            "reported_outcomes": len(results["outcomeMeasuresModule"]["outcomeMeasures"]),
            "serious_ae_participants": affected("seriousNumAffected"),
            "deaths": affected("deathsNumAffected")}
