"""Deduplication of an export (``harvester/export/dedupe.py``): one trial registered twice is
exported once, the groups and their reasons are in the search log, ``--keep-duplicates``
exports every record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.selection import Selection
from harvester.export.dedupe import find_duplicates
from harvester.export.log import SearchLog
from tests.conftest import FIXTURES, trials
from tests.exportdata import FIRST_REGISTRATION, SECOND_REGISTRATION, build, current, shared

ALIAS_HOLDER, ALIAS = "NCT03661047", "NCT03419455"  # the registry's nctIdAliases


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shared(tmp_path_factory)


def groups(url: str, selection: Selection | None = None) -> list[dict[str, object]]:
    with Catalogue.open(url) as catalogue, catalogue.engine.connect() as conn:
        return [g.to_json() for g in find_duplicates(conn, selection or Selection()).groups]


def test_a_second_registration_naming_the_same_eudract_number_is_one_trial(db: str) -> None:
    assert groups(db) == [{
        "kept": FIRST_REGISTRATION, "removed": [SECOND_REGISTRATION],
        "reasons": ["both name EudraCT 2017-004180-12"],
        "kept_because": "the first registered, lowest NCT id"}]
    # Only among the trials selected: alone, the second registration is no duplicate.
    assert groups(db, Selection(ids=(SECOND_REGISTRATION,))) == []


def test_the_registry_merged_registration_is_dropped_for_the_record_naming_it(
        tmp_path: Path) -> None:
    """The registry's own record of a trial lists its older NCT id among its aliases; the
    older registration (here made from the same record under the alias) goes, though its NCT
    id is lower."""
    study = json.loads((FIXTURES / f"ctgov-v2-json/studies/{ALIAS_HOLDER}__partrita-tigit.json")
                       .read_text())
    assert study["protocolSection"]["identificationModule"]["nctIdAliases"] == [ALIAS]
    ident = study["protocolSection"]["identificationModule"]
    ident["nctId"] = ALIAS
    del ident["nctIdAliases"]
    (tmp_path / f"{ALIAS}.json").write_text(json.dumps(study))
    url = f"sqlite:///{tmp_path / 'alias.sqlite'}"
    build(url, FIXTURES / f"ctgov-v2-json/studies/{ALIAS_HOLDER}__partrita-tigit.json",
          tmp_path / f"{ALIAS}.json")
    (group,) = groups(url)
    assert (group["kept"], group["removed"]) == (ALIAS_HOLDER, [ALIAS])
    assert f"{ALIAS_HOLDER} lists {ALIAS} among its ids" in group["reasons"]  # type: ignore
    assert group["kept_because"] == "the registry lists the others as its NCT id aliases"


def test_sister_protocols_of_one_sponsor_are_kept_apart(tmp_path: Path) -> None:
    """Bayer's gadoquatrane studies: near-identical titles, one sponsor, different EU CT
    numbers — different trials."""
    url = f"sqlite:///{tmp_path / 'sisters.sqlite'}"
    build(url, FIXTURES / "ctgov-v2-json/website-download/dgg32__ctg-studies.json")
    assert len(current(url)) > 1
    assert groups(url) == []


def test_the_export_leaves_duplicates_out_and_logs_them(db: str, tmp_path: Path) -> None:
    now = current(db)
    log = tmp_path / "log.json"
    result = trials(db, "export", "--format", "jsonl", "-o", tmp_path / "x.jsonl",
                    "--log", log)
    assert result.exit_code == 0, result.stderr
    exported = [json.loads(line)["nct_id"]
                for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert SECOND_REGISTRATION not in exported and FIRST_REGISTRATION in exported
    search = json.loads(log.read_text())
    assert search["search"]["counts"] == {
        "catalogue": len(now), "selected": len(now), "duplicates_removed": 1,
        "deduplicated": len(now) - 1, "exported": len(now) - 1, "missing_ids": []}
    assert search["search"]["deduplication"]["groups"][0]["removed"] == [SECOND_REGISTRATION]
    assert [v["nct_id"] for v in search["versions"]] == exported
    markdown = tmp_path / "log.md"
    trials(db, "export", "--format", "ris", "-o", tmp_path / "x.ris", "--log", markdown)
    text = markdown.read_text()
    assert "1 duplicate registration of the same trial was removed (1 group, " in text
    assert (f"## Duplicates removed\n\n- Duplicate group 1: {SECOND_REGISTRATION} removed, "
            f"{FIRST_REGISTRATION} kept (the first registered, lowest NCT id); the same "
            "trial: both name EudraCT 2017-004180-12\n") in text


def test_keep_duplicates_exports_every_record(db: str, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    result = trials(db, "export", "--format", "csv", "-o", tmp_path / "x.csv", "--log", log,
                    "--keep-duplicates", "--ids", f"{FIRST_REGISTRATION},{SECOND_REGISTRATION}")
    assert result.exit_code == 0, result.stderr
    search = json.loads(log.read_text())
    assert [v["nct_id"] for v in search["versions"]] == [FIRST_REGISTRATION,
                                                         SECOND_REGISTRATION]
    assert search["search"]["deduplication"] == {"enabled": False, "removed": 0, "groups": []}
    assert " --keep-duplicates " in search["search"]["command"]
    every = trials(db, "export", "--format", "csv", "-o", tmp_path / "y.csv", "--log",
                   tmp_path / "log.md", "--keep-duplicates")
    assert every.exit_code == 0, every.stderr
    text = (tmp_path / "log.md").read_text()
    assert "duplicate registrations were not removed" in text
    assert "- Deduplication: not done (--keep-duplicates)\n" in text


def test_every_exporter_caller_gets_the_deduplicated_items(db: str) -> None:
    """The command, the web page's download and the assistant's export all write
    ``SearchLog.items``: the selection less the duplicates the log reports."""
    with Catalogue.open(db) as catalogue, catalogue.engine.connect() as conn:
        log = SearchLog.for_selection(catalogue, Selection(), fmt="ris")
        ids = [item.nct_id for item in log.items(conn)]
        kept = SearchLog.for_selection(catalogue, Selection(), fmt="ris", deduplicate=False)
        every = [item.nct_id for item in kept.items(conn)]
    assert ids == [n for n in every if n != SECOND_REGISTRATION]
    assert log.deduplicated == len(ids) and kept.deduplicated == len(every)
