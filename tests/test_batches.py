"""`sync --all` is one batch: every saved query runs even when some fail, the batch has an
id, and `changes --since-last-sync` covers the whole batch and names what failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from harvester.catalogue import Catalogue
from harvester.catalogue.syncstate import save_query
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials
from tests.corpus import condition_hits

STUDIES = FIXTURES / "ctgov-v2-json/studies"


@pytest.fixture
def srv() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore.from_folder(STUDIES, data_timestamp="2026-08-14T09:00:05")
                       ) as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "catalogue.sqlite")  # a plain path, as cron lines give it


def sync(db: str, server: ReplicaServer, *args: str) -> Result:
    return trials(db, "sync", "--base-url", server.base_url, "--min-interval", "0", *args)


def test_a_rejected_query_is_never_saved(srv: ReplicaServer, db: str) -> None:
    result = sync(db, srv, "--advanced", "AREA[Bogus]x", "--save", "bogus")
    assert result.exit_code == 3
    assert result.stderr.startswith("trials: error: sync bogus: the API rejected this query "
                                    "(HTTP 400 ")
    assert "it was not saved" in result.stderr
    assert json.loads(trials(db, "queries", "--format", "json").stdout) == []


def test_save_refuses_a_name_in_use_unless_replace(srv: ReplicaServer, db: str) -> None:
    assert sync(db, srv, "--cond", "allergy", "--save", "q").exit_code == 0
    assert sync(db, srv, "--cond", "allergy", "--save", "q").exit_code == 0  # same: fine
    clash = sync(db, srv, "--cond", "asthma", "--save", "q")
    assert clash.exit_code == 2
    assert "a saved query named 'q' exists with other parameters (query.cond=allergy)" in (
        clash.stderr)
    assert sync(db, srv, "--cond", "asthma", "--save", "q", "--replace").exit_code == 0
    (query,) = json.loads(trials(db, "queries", "--format", "json").stdout)
    assert query["params"] == {"query.cond": "asthma"}


def test_the_batch_runs_every_query_and_reports_the_one_that_failed(
        srv: ReplicaServer, db: str) -> None:
    assert sync(db, srv, "--cond", "allergy", "--save", "allergy").exit_code == 0
    assert sync(db, srv, "--status", "RECRUITING", "--save", "recruiting").exit_code == 0
    with Catalogue.open(db) as catalogue:  # saved by an older release, rejected since
        save_query(catalogue, "bad", {"filter.advanced": "AREA[Bogus]x"})
    # A trial new to the catalogue arrives in the batch's second query.
    srv.store.add(_renamed(srv, "NCT99000001"))
    result = trials(db, "sync", "--all", "--quiet", "--base-url", srv.base_url,
                    "--min-interval", "0")
    assert result.exit_code == 3  # some could not run
    lines = result.stderr.splitlines()
    assert any(line.startswith("trials: error: sync bad: could not run: HTTP 400 ")
               for line in lines)
    assert lines[-1].startswith("trials: error: sync --all batch ")
    assert "could not run: bad" in lines[-1]
    runs = json.loads(trials(db, "runs", "--format", "json").stdout)
    batch = runs[3]
    assert (batch["kind"], batch["status"]) == ("batch", "failed")
    assert [(r["query"], r["batch"], r["status"]) for r in runs[:3]] == [
        ("recruiting", batch["id"], "ok"), ("bad", batch["id"], "failed"),
        ("allergy", batch["id"], "ok")]

    digest = json.loads(trials(db, "changes", "--since-last-sync", "--format",
                               "json").stdout)
    assert [t["nct_id"] for t in digest["new"]] == ["NCT99000001"]
    assert digest["covers"]["run"] == batch["id"]
    assert digest["covers"]["queries"] == ["allergy", "bad", "recruiting"]
    assert [(f["query"], f["status"]) for f in digest["covers"]["failed"]] == [
        ("bad", "failed")]
    text = trials(db, "changes", "--since-last-sync").stdout
    assert f"Covers sync batch {batch['id']} (3 queries: allergy, bad, recruiting)" in text
    assert "FAILED: bad: failed: HTTP 400 " in text
    assert "New trials (1)\n  NCT99000001  " in text
    # --query narrows the digest to a saved query's trials
    allergy = json.loads(trials(db, "changes", "--since-last-sync", "--query", "allergy",
                                "--format", "json").stdout)
    assert allergy["new"] == [] and allergy["query"] == "allergy"
    unknown = trials(db, "changes", "--since-last-sync", "--query", "nope")
    assert unknown.exit_code == 4 and "(saved: allergy, bad, recruiting)" in unknown.stderr


def _renamed(srv: ReplicaServer, nct_id: str) -> dict[str, Any]:
    """A recruiting study of the fixture folder under a new NCT id, updated today."""
    for path in sorted(STUDIES.glob("*.json")):
        study = json.loads(path.read_bytes())
        ident = study["protocolSection"]["identificationModule"]
        status = study["protocolSection"]["statusModule"]
        if status["overallStatus"] == "RECRUITING" and ident["nctId"] not in condition_hits(
                "allergy"):
            ident["nctId"] = nct_id
            status["lastUpdatePostDateStruct"] = {"date": "2026-12-01", "type": "ACTUAL"}
            return dict(study)
    raise AssertionError("no recruiting study in the fixtures")
