"""``trials search`` (harvester/commands/search.py) on the corpus, on SQLite and PostgreSQL.

What each search should find is read from the fixture files themselves: which studies
mention a word in the fields the index holds (titles, conditions, keywords, interventions,
arms, summaries, criteria, MeSH terms), and where.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harvester.catalogue import Catalogue
from harvester.records import TrialRecord
from tests import corpusdb
from tests.conftest import FIXTURES, trials
from tests.corpus import fixture_studies
from tests.corpusdb import SNAPSHOTS

OLD, NEW = (SNAPSHOTS / "NCT06203210__vh2026-02-04__partrita-tigit.json",
            SNAPSHOTS / "NCT06203210__vh2026-02-09__partrita-tigit.json")


def _fields(study: dict[str, Any]) -> dict[str, str]:
    """An API v2 study's indexed text by kind: title, criteria, and everything else."""
    p = study["protocolSection"]
    ident, desc = p["identificationModule"], p.get("descriptionModule", {})
    cond, arms = p.get("conditionsModule", {}), p.get("armsInterventionsModule", {})
    derived = study.get("derivedSection", {})
    mesh = [m["term"] for key in ("conditionBrowseModule", "interventionBrowseModule")
            for part in ("meshes", "ancestors") for m in derived.get(key, {}).get(part, [])]
    other = [*cond.get("conditions", []), *cond.get("keywords", []),
             desc.get("briefSummary", ""), desc.get("detailedDescription", ""),
             p.get("statusModule", {}).get("whyStopped", ""), *mesh,
             *(f"{i['name']} {i.get('description', '')} {' '.join(i.get('otherNames', []))}"
               for i in arms.get("interventions", [])),
             *(f"{a['label']} {a.get('description', '')}" for a in arms.get("armGroups", []))]
    return {"title": " ".join(ident.get(k, "") for k in ("briefTitle", "officialTitle",
                                                          "acronym")),
            "criteria": p.get("eligibilityModule", {}).get("eligibilityCriteria", ""),
            "other": " ".join(other)}


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"\b{word}\b", text, re.IGNORECASE) is not None


def _study(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data


corpus_url = corpusdb.corpus_url  # the shared corpus catalogue (a session fixture)


@pytest.fixture
def db(corpus_url: str) -> str:
    return corpus_url


def found(db: str, *args: str) -> dict[str, Any]:
    result = trials(db, "search", *args, "--format", "json", "--all")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def ids(db: str, *args: str) -> list[str]:
    return [hit["nct_id"] for hit in found(db, *args)["hits"]]


# --- what is found, and in which order -------------------------------------------------------

def test_tigit_finds_the_trials_that_mention_it(db: str) -> None:
    studies = fixture_studies()
    expected = {nct for nct, study in studies.items()
                if any(_mentions(text, "tigit") for text in _fields(study).values())}
    assert expected == {"NCT04585815", "NCT06692738"}
    assert not any(_mentions(p.read_text(), "tigit") for p in (FIXTURES / "ctgov-xml").iterdir())
    # NCT03661047 names TIGIT only in an outcome measure, which the record does not hold
    assert _mentions((FIXTURES / "ctgov-v2-json" / "studies" /
                      "NCT03661047__partrita-tigit.json").read_text(), "tigit")
    # every field is searched, as the registry's query.term: outcome measures too (the
    # record holds them since parser version 3)
    assert set(ids(db, "tigit")) == expected | {"NCT03661047"}
    assert set(ids(db, "TIGIT")) == expected | {"NCT03661047"}


@pytest.mark.parametrize(("word", "in_title", "in_criteria_only"), [
    ("dissemination", "NCT02299791", "NCT05064306"),
    ("perioperative", "NCT05670756", "NCT03661047"),
    ("extract", "NCT01070368", "NCT00276445"),
])
def test_a_title_hit_ranks_above_a_criteria_only_hit(db: str, word: str, in_title: str,
                                                     in_criteria_only: str) -> None:
    studies = fixture_studies()
    assert _mentions(_fields(studies[in_title])["title"], word)
    only = _fields(studies[in_criteria_only])
    assert _mentions(only["criteria"], word)
    assert not _mentions(only["title"], word) and not _mentions(only["other"], word)
    hits = ids(db, word)
    assert hits.index(in_title) < hits.index(in_criteria_only)


def test_a_phrase_matches_words_in_a_row(db: str) -> None:
    words = set(ids(db, "cell", "lung"))
    phrase = set(ids(db, '"cell lung"'))
    assert phrase and phrase < words  # some trials say "cell" and "lung" apart
    for nct in phrase & set(fixture_studies()):
        assert any(re.search(r"\bcell\W+lung\b", text, re.IGNORECASE)
                   for text in _fields(fixture_studies()[nct]).values()), nct


def test_or_not_and_prefix(db: str) -> None:
    dupi, nivo = set(ids(db, "dupilumab")), set(ids(db, "nivolumab"))
    assert dupi and nivo and not dupi & nivo
    assert set(ids(db, "dupilumab OR nivolumab")) == dupi | nivo
    allergy, food = set(ids(db, "allergy")), set(ids(db, "food"))
    assert set(ids(db, "allergy -food")) == set(ids(db, "allergy NOT food")) == allergy - food
    assert allergy & food  # the exclusion removes something
    assert set(ids(db, "dupilu*")) == dupi


# --- filters and --as-of ---------------------------------------------------------------------

def _sponsor(record: TrialRecord) -> str:
    return record.lead_sponsor.name if record.lead_sponsor else ""


def _first_day(value: str | None) -> str:
    return "" if not value else value + {4: "-01-01", 7: "-01"}.get(len(value), "")


def test_filters_narrow_the_matches(db: str) -> None:
    every = found(db, "patients")["hits"]
    assert len(every) > 20

    def narrowed(*args: str) -> set[str]:
        hits = found(db, "patients", *args)["hits"]
        assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
        return {h["nct_id"] for h in hits}

    def where(test: Any) -> set[str]:
        picked = {h["nct_id"] for h in every if test(h)}
        assert 0 < len(picked) < len(every)  # the filter does narrow
        return picked

    assert narrowed("--status", "recruiting,TERMINATED") == where(
        lambda h: h["status"] in ("RECRUITING", "TERMINATED"))
    assert narrowed("--phase", "phase 3") == where(lambda h: "PHASE3" in h["phases"])
    assert narrowed("--study-type", "OBSERVATIONAL") == where(
        lambda h: h["study_type"] == "OBSERVATIONAL")
    assert narrowed("--start-after", "2015-01-01") == where(
        lambda h: h["start_date"] and _first_day(h["start_date"]) >= "2015-01-01")
    with_results = narrowed("--has-results")
    without = narrowed("--no-results")
    assert with_results | without == {h["nct_id"] for h in every}
    assert not with_results & without
    catalogue = Catalogue.open(db)
    records = {h["nct_id"]: catalogue.record(h["version_id"]) for h in every}
    catalogue.close()
    assert with_results == where(lambda h: records[h["nct_id"]].has_results)
    assert narrowed("--country", "france") == where(
        lambda h: any(s.country == "France" for s in records[h["nct_id"]].locations))
    assert narrowed("--sponsor", "bristol") == where(
        lambda h: "bristol" in _sponsor(records[h["nct_id"]]).lower())
    # filters combine
    assert narrowed("--status", "RECRUITING", "--phase", "3") == where(
        lambda h: h["status"] == "RECRUITING" and "PHASE3" in h["phases"])


def test_as_of_searches_the_text_of_the_version_current_then(db: str) -> None:
    old, new = (_fields(_study(path))["criteria"] for path in (OLD, NEW))
    assert _mentions(old, "interstitial") and not _mentions(new, "interstitial")
    assert _mentions(new, "honeycombing") and not _mentions(old, "honeycombing")
    assert "NCT06203210" not in ids(db, "interstitial")
    then = {h["nct_id"]: h for h in found(db, "interstitial", "--as-of", "2026-01-25")["hits"]}
    assert then["NCT06203210"]["version"] == 1
    assert then["NCT06203210"]["status"] == "ACTIVE_NOT_RECRUITING"
    assert ids(db, "honeycombing") == ["NCT06203210"]
    assert ids(db, "honeycombing", "--as-of", "2026-01-25") == []
    # before the trial was first published, it is not there at all
    assert "NCT06203210" not in ids(db, "interstitial", "--as-of", "2025-12-31")


# --- output ----------------------------------------------------------------------------------

def test_json_has_the_total_and_the_hits(db: str) -> None:
    result = trials(db, "search", "lung", "cancer", "--limit", "3", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["query"] == "lung cancer" and data["offset"] == 0
    assert data["total"] > 3 and len(data["hits"]) == 3
    hit = data["hits"][0]
    assert set(hit) >= {"rank", "nct_id", "score", "title", "status", "phases", "start_date",
                        "conditions", "version", "version_id", "snippet", "highlights"}
    start, end = hit["highlights"][0]
    assert hit["snippet"][start:end].lower() in ("lung", "cancer")
    rest = json.loads(trials(db, "search", "lung", "cancer", "--offset", "3",
                             "--format", "json").stdout)
    assert rest["total"] == data["total"]
    assert [h["rank"] for h in rest["hits"]] == list(range(4, data["total"] + 1))


def test_jsonl_and_csv_give_one_hit_a_line_and_the_total_on_stderr(db: str) -> None:
    total = found(db, "cancer")["total"]
    assert total > 5
    lines = trials(db, "search", "cancer", "--limit", "5", "--format", "jsonl")
    assert [json.loads(line)["rank"] for line in lines.stdout.splitlines()] == [1, 2, 3, 4, 5]
    assert f"{total} trials match 'cancer'; showing 1–5" in lines.stderr
    table = trials(db, "search", "cancer", "--all", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert len(rows) == total and rows[0]["rank"] == "1"
    assert all(row["nct_id"].startswith("NCT") and row["snippet"] for row in rows)


def test_table_shows_the_hits(db: str) -> None:
    result = trials(db, "search", "dupilumab")
    assert result.exit_code == 0, result.stderr
    assert "NCT02210780" in result.stdout and "NCT06631677" in result.stdout
    assert "dupilumab" in result.stdout.lower()
    assert result.stderr.strip().startswith("2 trials match 'dupilumab'")
    assert "local catalogue, registry data as of 20" in result.stderr
    nothing = trials(db, "search", "zzyzzx")
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert "no trial matches 'zzyzzx'" in nothing.stderr


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    ((), "empty query"),
    (("",), "empty query"),
    (('"lung cancer',), "unclosed quote"),
    (("tigit", "NOT"), "NOT must be followed"),
    (("-tigit",), "only excludes"),
    (("tigit", "--status", "RECRUITNG"), "--status: 'RECRUITNG' is not one of"),
    (("tigit", "--phase", "5"), "--phase: 'PHASE5' is not one of"),
    (("tigit", "--start-after", "2020-13-01"), "--start-after: '2020-13-01' is not a date"),
    (("tigit", "--as-of", "yesterday"), "--as-of: 'yesterday' is not a date"),
    (("tigit", "--limit", "0"), "--limit"),
])
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path: Path, args: tuple[str, ...],
                                                message: str) -> None:
    """Refused before the catalogue is even opened."""
    db = tmp_path / "never-made.sqlite"
    result = trials(f"sqlite:///{db}", "search", *args)
    assert not db.exists()
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


# --- the index follows the catalogue ---------------------------------------------------------

def test_a_new_version_is_searchable_at_once(db_url: str) -> None:
    assert trials(db_url, "import", OLD).exit_code == 0
    assert ids(db_url, "honeycombing") == []
    assert ids(db_url, "interstitial") == ["NCT06203210"]
    assert trials(db_url, "import", NEW).exit_code == 0
    now = found(db_url, "honeycombing")["hits"]
    assert [(h["nct_id"], h["version"]) for h in now] == [("NCT06203210", 2)]
    assert ids(db_url, "interstitial") == []
    assert ids(db_url, "interstitial", "--as-of", "2026-02-01") == ["NCT06203210"]
