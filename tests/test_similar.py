"""``trials similar`` and ``trials index`` through the CLI, on the fixture corpus."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue.areas import concept
from tests.conftest import FIXTURES, trials

CORPUS = (FIXTURES / "ctgov-v2-json/studies", FIXTURES / "ctgov-xml",
          FIXTURES / "mirror-veeva", FIXTURES / "constructed",
          *sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT*__vh*.json")))
NSCLC_PD1 = "NCT06692738"  # rilvegostomig (PD-1/TIGIT) vs pembrolizumab, squamous NSCLC
OTHER_TIGIT = "NCT04585815"  # sasanlimab (PD-1) ± the anti-TIGIT SEA-TGT, NSCLC
NIVOLUMAB_NSCLC = "NCT01642004"  # CheckMate 017
NIVOLUMAB_SCLC = "NCT02481830"  # CheckMate 331
DUPILUMAB_AD = "NCT02210780"
DUPILUMAB_FOOD = "NCT06631677"
VEEVA_TRIAL = "NCT00557986"  # the Veeva page and a partial API record
SERVIER = "NCT03494712"  # EudraCT 2017-004180-12
SECOND_REGISTRATION = "NCT99000001"  # constructed: names the same EudraCT number


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('similar') / 'catalogue.sqlite'}"
    result = trials(url, "import", *CORPUS, "--quiet")
    assert result.exit_code == 0, result.output
    return url


def similar(db: str, *args: str) -> dict[str, Any]:
    result = trials(db, "similar", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def records(db: str) -> dict[str, dict[str, Any]]:
    """Every trial's current record, read through the catalogue's own API."""
    with Catalogue.open(db) as catalogue:
        out = {}
        for nct_id in catalogue.trial_ids():
            info = catalogue.current(nct_id)
            assert info is not None
            out[nct_id] = catalogue.record(info.id).to_json_dict()
        return out


def is_lung_cancer(record: dict[str, Any]) -> bool:
    text = " ".join([*record["conditions"], *(m["term"] for m in record["condition_mesh"])])
    return "lung" in text.lower()


def test_a_tigit_trial_finds_the_other_tigit_trial_and_lung_cancer_trials(db: str) -> None:
    data = similar(db, NSCLC_PD1, "--limit", "5")
    ids = [m["nct_id"] for m in data["similar"]]
    assert data["query"] == NSCLC_PD1 and NSCLC_PD1 not in ids
    assert OTHER_TIGIT in ids[:3]
    held = records(db)
    assert all(is_lung_cancer(held[i]) for i in ids), ids
    other = next(m for m in data["similar"] if m["nct_id"] == OTHER_TIGIT)
    assert "shared condition: Non-small Cell Lung Cancer" in other["reasons"]
    scores = [m["score"] for m in data["similar"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 1


def test_reasons_name_the_shared_things(db: str) -> None:
    data = similar(db, NIVOLUMAB_NSCLC)
    sister = next(m for m in data["similar"] if m["nct_id"] == NIVOLUMAB_SCLC)
    assert any(r.startswith("both test Nivolumab") for r in sister["reasons"])
    assert "same phase: PHASE3" in sister["reasons"]
    assert any(r.startswith("design: both RANDOMIZED / PARALLEL") for r in sister["reasons"])
    assert any(r.startswith("countries in common: ") for r in sister["reasons"])
    dupilumab = similar(db, DUPILUMAB_AD)
    by_id = {m["nct_id"]: m for m in dupilumab["similar"]}
    assert any(r.startswith("both test Dupilumab") for r in by_id[DUPILUMAB_FOOD]["reasons"])
    atopic = [m for m in dupilumab["similar"]
              if "shared condition: Atopic Dermatitis" in m["reasons"]]
    assert atopic and dupilumab["similar"][0] in atopic  # the same disease comes first


def test_explain_parts_add_up_to_the_score(db: str) -> None:
    data = similar(db, NSCLC_PD1, "--explain")
    assert data["similar"]
    for match in data["similar"]:
        lines = match["explain"]
        assert abs(sum(line["weight"] for line in lines) - 1) < 1e-3
        assert abs(sum(line["contribution"] for line in lines) - match["score"]) < 1e-3
        assert sum(match["parts"].values()) == pytest.approx(match["score"], abs=1e-4)
        for line in lines:
            assert 0 <= line["similarity"] <= 1
            assert line["weight"] * line["similarity"] == pytest.approx(
                line["contribution"], abs=1e-3)
    table = trials(db, "similar", NSCLC_PD1, "--explain", "--limit", "2")
    assert table.exit_code == 0 and "conditions" in table.stdout and " × " in table.stdout


@pytest.mark.parametrize(("options", "keeps"), [
    (("--status", "COMPLETED"), lambda r: r["overall_status"] == "COMPLETED"),
    (("--phase", "phase 3"), lambda r: "PHASE3" in r["phases"]),
    (("--country", "Japan"), lambda r: "Japan" in [s["country"] for s in r["locations"]]),
    # the condition area: the concept "cancer" is MeSH "Neoplasms" and everything under it
    (("--cond", "cancer", "--has-results"), lambda r: r["has_results"] and (
        any(concept(m["term"]) == concept("cancer")
            for m in r["condition_mesh"] + r["condition_ancestors"])
        or any("cancer" in (t or "").lower() for t in [
            *r["conditions"], *r["keywords"], r["brief_title"], r["official_title"],
            *(m["term"] for m in r["condition_mesh"] + r["condition_ancestors"])]))),
])
def test_filters_restrict_the_similar_trials(db: str, options: tuple[str, ...],
                                             keeps: Any) -> None:
    held = records(db)
    unfiltered = [m["nct_id"] for m in similar(db, NIVOLUMAB_NSCLC, "--limit", "40")["similar"]]
    filtered = [m["nct_id"] for m in similar(db, NIVOLUMAB_NSCLC, "--limit", "40",
                                             *options)["similar"]]
    assert filtered and all(keeps(held[i]) for i in filtered)
    # The filter drops exactly the trials it should among those ranked without it.
    assert [i for i in unfiltered if keeps(held[i])] == filtered


def test_a_draft_given_as_a_file(db: str, tmp_path: Path) -> None:
    draft = {"protocolSection": {
        "identificationModule": {"nctId": "NCT99999998",
                                 "briefTitle": "Dupilumab in Children With Atopic Dermatitis"},
        "conditionsModule": {"conditions": ["Atopic Dermatitis", "Eczema"]},
        "armsInterventionsModule": {"interventions": [{"type": "DRUG", "name": "Dupilumab"}]},
        "eligibilityModule": {"minimumAge": "6 Months", "maximumAge": "11 Years"}}}
    path = tmp_path / "draft.json"
    path.write_text(json.dumps(draft))
    data = similar(db, "--file", str(path), "--limit", "5")
    assert data["query"] == "NCT99999998"
    assert data["similar"][0]["nct_id"] == DUPILUMAB_AD  # same disease and drug
    held = records(db)
    ids = [m["nct_id"] for m in data["similar"]]
    assert DUPILUMAB_FOOD in ids  # same drug, a related disease
    atopic = [i for i in ids if "Atopic Dermatitis" in held[i]["conditions"]]
    assert ids[:len(atopic)] == atopic  # the same disease before the rest
    assert not data["duplicates"]


def test_a_registered_trial_given_as_a_file_is_its_own_duplicate(db: str) -> None:
    path = FIXTURES / "ctgov-v2-json/studies/NCT06692738__partrita-tigit.json"
    data = similar(db, "--file", str(path))
    assert [d["nct_id"] for d in data["duplicates"]] == [NSCLC_PD1]
    assert NSCLC_PD1 not in [m["nct_id"] for m in data["similar"]]


def test_free_text(db: str) -> None:
    data = similar(db, "--text", "dupilumab for atopic dermatitis (eczema)", "--limit", "3")
    assert data["query"] == "dupilumab for atopic dermatitis (eczema)"
    assert data["similar"][0]["nct_id"] == DUPILUMAB_AD
    assert any(r.startswith("mentions condition: ") for r in data["similar"][0]["reasons"])


def test_the_same_trial_from_a_mirror_is_a_duplicate_not_a_match(db: str) -> None:
    data = similar(db, VEEVA_TRIAL)
    assert VEEVA_TRIAL not in [m["nct_id"] for m in data["similar"]]
    (own,) = [d for d in data["duplicates"] if d["nct_id"] == VEEVA_TRIAL]
    assert "also held from veeva (mirror)" in own["reasons"][0]


@pytest.mark.parametrize(("query", "twin"), [(SERVIER, SECOND_REGISTRATION),
                                             (SECOND_REGISTRATION, SERVIER)])
def test_a_shared_registry_id_makes_a_duplicate_not_a_match(db: str, query: str,
                                                            twin: str) -> None:
    data = similar(db, query, "--limit", "100")
    assert twin not in [m["nct_id"] for m in data["similar"]]
    (found,) = [d for d in data["duplicates"] if d["nct_id"] == twin]
    assert found["reasons"] == ["both name EudraCT 2017-004180-12"]
    table = trials(db, "similar", query)
    assert "possible duplicates" in table.stdout and twin in table.stdout


def test_an_alias_answers_for_the_trial_that_absorbed_it(db: str) -> None:
    result = trials(db, "similar", "NCT00201097", "--format", "json")  # of NCT00189228
    assert result.exit_code == 0
    assert json.loads(result.stdout)["query"] == "NCT00189228"
    assert "NCT00201097 is an alias of NCT00189228" in result.stderr


def test_other_formats(db: str) -> None:
    lines = trials(db, "similar", VEEVA_TRIAL, "--limit", "3", "--format", "jsonl").stdout
    rows = [json.loads(line) for line in lines.splitlines()]
    assert [r["kind"] for r in rows] == ["similar"] * 3 + ["duplicate"]
    assert [r["rank"] for r in rows[:3]] == [1, 2, 3]
    text = trials(db, "similar", VEEVA_TRIAL, "--limit", "3", "--format", "csv").stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["nct_id"] for r in table[:3]] == [r["nct_id"] for r in rows[:3]]
    assert table[3]["kind"] == "duplicate" and table[3]["nct_id"] == VEEVA_TRIAL
    shown = trials(db, "similar", NSCLC_PD1, "--limit", "3").stdout
    assert f"Trials similar to {NSCLC_PD1}" in shown and OTHER_TIGIT in shown


@pytest.mark.parametrize(("args", "code", "message"), [
    (("NCT09999999",), 4, "NCT09999999 is not in the catalogue"),
    (("--text", ""), 2, "the query text is empty"),
    (("--text", "   the of 2024 "), 2, "no words to search for"),
    ((NSCLC_PD1, "--text", "melanoma"), 2, "exactly one of"),
    ((), 2, "exactly one of"),
    ((NSCLC_PD1, "--limit", "0"), 2, "--limit"),
    ((NSCLC_PD1, "--status", "FINISHED"), 2, "--status: 'FINISHED' is not one of"),
    ((NSCLC_PD1, "--start-after", "2020-02-30"), 2, "--start-after"),
    ((NSCLC_PD1, "--condition", " "), 2, "empty text filter"),
    (("--file", str(FIXTURES / "ctgov-v2-json/list-pages/"
                    "biomcp__search_keytruda_limit3_20260811.json")), 2, "holds 3 studies"),
    (("--file", str(FIXTURES / "spec/version-raw.json")), 3, "version-raw.json"),
])
def test_bad_input_gets_one_clear_line(db: str, args: tuple[str, ...], code: int,
                                       message: str) -> None:
    result = trials(db, "similar", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_index_says_nothing_to_do_when_up_to_date(db: str) -> None:
    similar(db, NSCLC_PD1)  # brings the index up to date
    trials(db, "index")  # the search index too, which `similar` without areas leaves behind
    result = trials(db, "index")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["0 trials indexed", "search index: 0 versions indexed"]


def _entries(db: str) -> dict[str, int]:
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text(
                "SELECT nct_id, version_id FROM sim_entry")).all())
    finally:
        engine.dispose()


def _current(db: str) -> dict[str, int]:
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text(
                "SELECT nct_id, current_version_id FROM trial")).all())
    finally:
        engine.dispose()


def test_the_index_follows_new_versions_and_rebuilds_the_same(db_url: str,
                                                              tmp_path: Path) -> None:
    history = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*"))
    studies = tmp_path / "studies"
    shutil.copytree(FIXTURES / "ctgov-v2-json/studies", studies)
    assert trials(db_url, "import", studies, history[0], "--quiet").exit_code == 0
    first = trials(db_url, "index")
    assert first.exit_code == 0
    # Every version stored goes into the search index too: one each so far.
    assert first.stdout.splitlines() == ["29 trials indexed", "search index: 29 versions indexed"]
    assert _entries(db_url) == _current(db_url)
    before = similar(db_url, "NCT06203210")
    indexed_first = _entries(db_url)["NCT06203210"]
    assert trials(db_url, "import", *history[1:], "--quiet").exit_code == 0
    assert _entries(db_url) != _current(db_url)  # behind until asked
    after = similar(db_url, "NCT06203210")  # refreshes first
    assert _entries(db_url) == _current(db_url)
    assert _entries(db_url)["NCT06203210"] != indexed_first
    # `similar` (no area filter) left the search index behind by the two new versions.
    assert trials(db_url, "index").stdout.splitlines() == ["0 trials indexed",
                                                           "search index: 2 versions indexed"]
    assert after["similar"] and before["similar"]
    rebuilt = trials(db_url, "index", "--rebuild")
    assert rebuilt.exit_code == 0
    assert rebuilt.stdout.splitlines() == ["rebuilt: 29 trials indexed",
                                           "search index rebuilt: 31 versions"]
    assert similar(db_url, "NCT06203210") == after
    held = records(db_url)
    completed = similar(db_url, "NCT06203210", "--status", "COMPLETED", "--limit", "5")
    assert completed["similar"]
    assert all(held[m["nct_id"]]["overall_status"] == "COMPLETED" for m in completed["similar"])


# --- triage (issue 13, point 4) ----------------------------------------------------------------

def test_the_table_shows_status_phase_start_enrollment_and_counts_the_other_reasons(
        db: str) -> None:
    data = similar(db, NSCLC_PD1, "--limit", "10")
    held = records(db)
    for match in data["similar"]:
        record = held[match["nct_id"]]
        assert match["reasons"], match  # no hit without a reason
        assert match["status"] == record["overall_status"]
        assert match["phases"] == record["phases"]
        assert match["start_date"] == (record["start_date"] or None)
        assert match["enrollment"] == (record["enrollment"] or {}).get("count")
    searched = json.loads(trials(db, "search", "cancer", "--format", "json").stdout)
    assert data["source"] == searched["source"]  # "local", and the same "registry data as of"
    shown = trials(db, "similar", NSCLC_PD1, "--limit", "10")
    assert "local catalogue, registry data as of 20" in shown.stderr
    table = shown.stdout
    for column in ("status", "phase", "start", "enrolled"):
        assert column in table
    first = data["similar"][0]
    assert first["status"] in table and first["start_date"] in table
    long = [m for m in data["similar"] if len(m["reasons"]) > 4]
    assert long, "some match has more reasons than the table shows"
    assert f"+{len(long[0]['reasons']) - 4} more" in table


def test_an_unknown_trial_fails_at_once_without_indexing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    assert trials(url, "import", FIXTURES / "ctgov-v2-json/studies", "--quiet").exit_code == 0
    result = trials(url, "similar", "NCT09999999")
    assert result.exit_code == 4 and "NCT09999999 is not in the catalogue" in result.stderr
    status = trials(url, "status", "--format", "json")
    assert json.loads(status.stdout)["indexes"]["similarity_pending"] > 0  # not indexed


def test_a_draft_without_an_nct_id(db: str, tmp_path: Path) -> None:
    draft = {"protocolSection": {
        "identificationModule": {"briefTitle": "Dupilumab in Children With Atopic Dermatitis"},
        "conditionsModule": {"conditions": ["Atopic Dermatitis"]},
        "armsInterventionsModule": {"interventions": [{"type": "DRUG", "name": "Dupilumab"}]}}}
    path = tmp_path / "draft.json"
    path.write_text(json.dumps(draft))
    data = similar(db, "--file", str(path), "--limit", "3")
    assert data["query"] == str(path)
    assert data["similar"][0]["nct_id"] == DUPILUMAB_AD
    assert not data["duplicates"]


def test_as_of_compares_with_the_trials_published_by_then(db: str) -> None:
    now = {m["nct_id"]: m for m in similar(db, NSCLC_PD1, "--limit", "100")["similar"]}
    held = records(db)
    then = similar(db, NSCLC_PD1, "--limit", "100", "--as-of", "2019")["similar"]
    assert then and len(then) < len(now)
    with Catalogue.open(db) as catalogue:
        for match in then:
            info = catalogue.current(match["nct_id"], as_of=date(2019, 12, 31))
            assert info is not None  # published by the end of 2019
            record = catalogue.record(info.id).to_json_dict()
            assert match["status"] == record["overall_status"]  # as it stood then
    assert held  # the catalogue holds later trials, left out above


def test_top_is_an_old_spelling_of_limit(db: str) -> None:
    result = trials(db, "similar", NSCLC_PD1, "--top", "2", "--format", "json")
    assert result.exit_code == 0 and len(json.loads(result.stdout)["similar"]) == 2
    assert "--top is deprecated" in result.stderr and "use --limit" in result.stderr
