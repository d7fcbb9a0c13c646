"""``trials show``, ``history``, ``diff`` and ``changes`` end to end, on SQLite and PostgreSQL.

The catalogues are filled through ``trials import`` with real fixtures: the three daily API
snapshots of NCT06203210 (ACTIVE_NOT_RECRUITING → RECRUITING on 2026-02-09 with new
eligibility text, then a 2026-03-02 update), the two sources of NCT00557986 (the registry's
partial record, enrollment 281 ACTUAL, and the Veeva mirror page, 281 without a type), and
legacy XML re-downloads.  What no command makes (a "disappeared" event, a run still going, a
mirror copy seen on a given day) is added through the Python API.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import Result

from harvester.catalogue import Catalogue, Incoming
from harvester.records import Enrollment, TrialRecord
from tests.conftest import FIXTURES, trials

SNAPSHOTS = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*.json"))
LEGACY = FIXTURES / "ctgov-history/legacy-xml-redownloads"
VEEVA = FIXTURES / "mirror-veeva/NCT00557986.txt"
CTGOV_PARTIAL = FIXTURES / "constructed/NCT00557986__ctgov-partial.json"
WITHDRAWN = FIXTURES / "ctgov-v2-json/studies/NCT00973089__aact.json"
TITLE = ("A Study of Ifinatamab Deruxtecan Versus Treatment of Physician's Choice in Subjects "
         "With Relapsed Small Cell Lung Cancer")
TRANSITION = "status ACTIVE_NOT_RECRUITING → RECRUITING"


def imported(db: str, *paths: Path) -> None:
    result = trials(db, "import", *paths)
    assert result.exit_code == 0, result.stderr


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def snapshots(db_url: str) -> str:
    """NCT06203210's three snapshots, imported one run at a time, newest first."""
    assert [p.name[13:25] for p in SNAPSHOTS] == ["vh2026-02-04", "vh2026-02-09",
                                                  "vh2026-03-09"]
    for path in reversed(SNAPSHOTS):
        imported(db_url, path)
    return db_url


@pytest.fixture
def held(db_url: str) -> str:
    """The three snapshots and a trial with a single version, in one run."""
    imported(db_url, *SNAPSHOTS, WITHDRAWN)
    return db_url


@pytest.fixture
def two_sources(db_url: str) -> str:
    """NCT00557986 from the registry (and a trial with one source), then in a later run
    NCT00557986 from the Veeva mirror."""
    imported(db_url, CTGOV_PARTIAL, WITHDRAWN)
    imported(db_url, VEEVA)
    return db_url


# --- history -----------------------------------------------------------------------------

def test_history_is_in_registry_date_order_whatever_the_import_order(snapshots: str) -> None:
    rows = as_json(trials(snapshots, "history", "NCT06203210", "--format", "json"))
    assert [r["version"] for r in rows] == [1, 2, 3]
    assert [r["registry_date"] for r in rows] == ["2026-01-20", "2026-02-09", "2026-03-02"]
    assert [r["registry_version"] for r in rows] == ["2026-02-04", "2026-02-09", "2026-03-09"]
    assert {r["source"] for r in rows} == {"ctgov-json"}
    # imported newest first, so the order is not the order in which they were seen
    seen = [datetime.fromisoformat(r["seen_at"]) for r in rows]
    assert seen[0] > seen[1] > seen[2]
    assert rows[0]["summary"] == "first version from ctgov-json"
    assert rows[1]["summary"].startswith(f"{TRANSITION}; eligibility text changed; ")
    assert "ACTIVE_NOT_RECRUITING" not in rows[2]["summary"]
    assert "last_update_submitted moved 2026-02-05 → 2026-02-27" in rows[2]["summary"]

    table = trials(snapshots, "history", "nct06203210")  # ids are case-insensitive
    assert table.exit_code == 0, table.stderr
    out = table.stdout
    assert TRANSITION in out and "first version from ctgov-json" in out
    places = [out.index(day) for day in ("2026-01-20", "2026-02-09", "2026-03-02")]
    assert places == sorted(places)
    assert out.index("first version") < out.index(TRANSITION) < places[2]

    unknown = trials(snapshots, "history", "NCT09999999")
    assert unknown.exit_code == 4 and unknown.stdout == ""
    assert "trials: error: NCT09999999 is not in the catalogue" in unknown.stderr


# --- diff ----------------------------------------------------------------------------------

def test_diff_defaults_to_the_current_version_against_the_one_before(db_url: str) -> None:
    imported(db_url, SNAPSHOTS[0])
    imported(db_url, SNAPSHOTS[1])
    result = trials(db_url, "diff", "NCT06203210")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("NCT06203210: version 1 (ctgov-json, 2026-01-20) → version 2 "
                        "(ctgov-json, 2026-02-09)")
    assert f"  {TRANSITION}" in lines and "  eligibility text changed" in lines
    imported(db_url, SNAPSHOTS[2])
    lines = trials(db_url, "diff", "NCT06203210").stdout.splitlines()
    assert lines[0] == ("NCT06203210: version 2 (ctgov-json, 2026-02-09) → version 3 "
                        "(ctgov-json, 2026-03-02)")
    assert "  last_update_posted moved 2026-02-09 → 2026-03-02" in lines
    assert not any(line.startswith(("  status", "  eligibility")) for line in lines)


def test_history_and_diff_as_of_a_date(snapshots: str) -> None:
    every = as_json(trials(snapshots, "history", "NCT06203210", "--format", "json"))
    assert len(every) >= 3
    then = trials(snapshots, "history", "NCT06203210", "--as-of", "2026-02", "--format", "jsonl")
    assert then.exit_code == 0, then.stderr
    rows = [json.loads(line) for line in then.stdout.splitlines()]
    assert rows == [v for v in every if v["registry_date"] <= "2026-02-28"] and len(rows) == 2
    early = trials(snapshots, "history", "NCT06203210", "--as-of", "2025")
    assert early.exit_code == 4 and "no version on 2025-12-31" in early.stderr
    lines = trials(snapshots, "diff", "NCT06203210", "--as-of", "2026-02").stdout.splitlines()
    assert lines[0] == ("NCT06203210: version 1 (ctgov-json, 2026-01-20) → version 2 "
                        "(ctgov-json, 2026-02-09)")
    both = trials(snapshots, "diff", "NCT06203210", "--as-of", "2026-02", "--to", "3")
    assert both.exit_code == 2 and "--to or --as-of" in both.stderr


def test_diff_between_given_versions(held: str) -> None:
    result = trials(held, "diff", "NCT06203210", "--from", "1", "--to", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("NCT06203210: version 1 (ctgov-json, 2026-01-20) → version 2 "
                        "(ctgov-json, 2026-02-09)")
    assert lines[1:5] == [f"  {TRANSITION}",
                          "  last_update_submitted moved 2026-01-15 → 2026-02-05",
                          "  last_update_posted moved 2026-01-20 → 2026-02-09",
                          "  eligibility text changed"]
    # 221 sites changed their recruitment status: ten are told, the rest counted
    changed_sites = [line for line in lines if line.startswith("  site changed: ")]
    assert len(changed_sites) == 10
    assert "  … and 211 more locations changed (--all lists them)" in lines
    everything = trials(held, "diff", "NCT06203210", "--from", "1", "--to", "2", "--all")
    all_lines = everything.stdout.splitlines()
    assert len([line for line in all_lines if line.startswith("  site changed: ")]) == 221
    assert not any("more locations" in line for line in all_lines)
    # --from alone goes to the current version
    to_current = trials(held, "diff", "NCT06203210", "--from", "1").stdout
    assert "→ version 3 (ctgov-json, 2026-03-02)" in to_current.splitlines()[0]
    assert TRANSITION in to_current

    data = as_json(trials(held, "diff", "NCT06203210", "--from", "1", "--to", "2",
                          "--format", "json"))
    assert data["nct_id"] == "NCT06203210"
    assert (data["from"]["version"], data["from"]["registry_date"]) == (1, "2026-01-20")
    assert (data["to"]["version"], data["to"]["registry_date"]) == (2, "2026-02-09")
    status = [c for c in data["changes"] if c["field"] == "overall_status"]
    assert status == [{"field": "overall_status", "kind": "changed", "key": None,
                       "old": "ACTIVE_NOT_RECRUITING", "new": "RECRUITING"}]
    fields = [c["field"] for c in data["changes"]]
    assert fields[:4] == ["overall_status", "last_update_submitted", "last_update_posted",
                          "eligibility.criteria"]
    assert fields.count("locations") == 221 + 9 + 9  # JSON is never cut short
    assert {c["kind"] for c in data["changes"] if c["field"] == "eligibility.exclusion"} == {
        "removed", "added"}


def test_diff_refuses_what_cannot_be_compared(held: str) -> None:
    no_earlier = trials(held, "diff", "NCT00973089")  # a trial with a single version
    assert no_earlier.exit_code == 2
    assert "NCT00973089 has no earlier ctgov-json version than 1; give --from" in \
        no_earlier.stderr
    itself = trials(held, "diff", "NCT00973089", "--from", "1")
    assert itself.exit_code == 2 and itself.stdout == ""
    assert "--from 1 is the version it would be compared with" in itself.stderr
    assert trials(held, "diff", "NCT06203210", "--from", "2", "--to", "2").exit_code == 2
    for args, message in [(("--from", "7"), "NCT06203210 has no version 7"),
                          (("--to", "4"), "NCT06203210 has no version 4"),
                          (("--from", "0", "--to", "2"), "NCT06203210 has no version 0")]:
        result = trials(held, "diff", "NCT06203210", *args)
        assert result.exit_code == 4, args
        assert f"trials: error: {message}" in result.stderr and result.stdout == ""
    unknown = trials(held, "diff", "NCT09999999")
    assert unknown.exit_code == 4 and "NCT09999999 is not in the catalogue" in unknown.stderr
    assert trials(held, "diff", "NCT06203210", "--from", "one").exit_code == 2


# --- show ----------------------------------------------------------------------------------

def test_show_the_current_record_or_as_of_a_date(held: str) -> None:
    shown = trials(held, "show", "NCT06203210", "--format", "json")
    parsed = trials(None, "parse", SNAPSHOTS[-1])
    assert shown.exit_code == parsed.exit_code == 0
    assert shown.stdout == parsed.stdout  # the newest snapshot, exactly as parsed
    assert json.loads(shown.stdout)["last_update_posted"] == "2026-03-02"

    before = as_json(trials(held, "show", "NCT06203210", "--as-of", "2026-02-01",
                            "--format", "json"))
    assert before == as_json(trials(None, "parse", SNAPSHOTS[0]))
    assert before["overall_status"] == "ACTIVE_NOT_RECRUITING"
    on_the_day = as_json(trials(held, "show", "NCT06203210", "--as-of", "2026-02-09",
                                "--format", "json"))
    assert (on_the_day["overall_status"], on_the_day["last_update_posted"]) == (
        "RECRUITING", "2026-02-09")

    table = trials(held, "show", "NCT06203210")
    assert table.exit_code == 0, table.stderr
    out = table.stdout
    assert out.startswith(f"NCT06203210  {TITLE}")
    assert re.search(r"^status +RECRUITING *$", out, re.M)
    assert re.search(r"^enrollment +540 ESTIMATED *$", out, re.M)
    seen = as_json(trials(held, "history", "NCT06203210", "--format", "json"))[2]["seen_at"]
    assert out.rstrip().splitlines()[-1] == (
        f"version 3 · ctgov-json · seen {seen[:10]} · registry date 2026-03-02")
    old = trials(held, "show", "NCT06203210", "--as-of", "2026-02-01").stdout
    assert re.search(r"^status +ACTIVE_NOT_RECRUITING *$", old, re.M)
    assert "version 1 · ctgov-json" in old and "registry date 2026-01-20" in old
    # a later version from the same source is not another source
    assert trials(held, "show", "NCT06203210", "--as-of", "2026-02-01",
                  "--sources").stdout.splitlines() == [
        "NCT06203210: version 1 from ctgov-json is shown", "no other source holds this trial"]


def test_show_reports_what_it_cannot_show(held: str) -> None:
    too_early = trials(held, "show", "NCT06203210", "--as-of", "2025-01-01")
    assert too_early.exit_code == 4 and too_early.stdout == ""
    assert ("trials: error: NCT06203210 has no version on 2025-01-01 (first published later)"
            in too_early.stderr)
    unknown = trials(held, "show", "NCT09999999")
    assert unknown.exit_code == 4 and unknown.stdout == ""
    assert "trials: error: NCT09999999 is not in the catalogue" in unknown.stderr
    for bad in ("2026-02-30", "yesterday"):
        result = trials(held, "show", "NCT06203210", "--as-of", bad)
        assert result.exit_code == 2 and result.stdout == ""
        assert f"--as-of: {bad!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)" in result.stderr
    no_mirror = trials(held, "show", "NCT06203210", "--source", "veeva")
    assert no_mirror.exit_code == 4
    assert "NCT06203210 has no version from veeva" in no_mirror.stderr


def test_show_prefers_the_registry_over_a_mirror_seen_later(two_sources: str) -> None:
    rows = as_json(trials(two_sources, "history", "NCT00557986", "--format", "json"))
    assert [(r["version"], r["source"], r["registry_date"], r["summary"]) for r in rows] == [
        (1, "ctgov-json", None, "first version from ctgov-json"),
        (2, "veeva", None, "first version from veeva")]
    assert datetime.fromisoformat(rows[0]["seen_at"]) < datetime.fromisoformat(rows[1]["seen_at"])
    record = as_json(trials(two_sources, "show", "NCT00557986", "--format", "json"))
    assert record["source"] == "ctgov-json"
    assert record["enrollment"] == {"count": 281, "type": "ACTUAL"}
    mirror = as_json(trials(two_sources, "show", "NCT00557986", "--source", "veeva",
                            "--format", "json"))
    assert mirror == as_json(trials(None, "parse", VEEVA))
    assert mirror["enrollment"] == {"count": 281, "type": None}
    table = trials(two_sources, "show", "NCT00557986").stdout
    assert re.search(r"^enrollment +281 ACTUAL *$", table, re.M)
    assert "version 1 · ctgov-json" in table


def test_show_sources_lists_where_the_mirror_disagrees(two_sources: str) -> None:
    result = trials(two_sources, "show", "NCT00557986", "--sources")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["NCT00557986: version 1 from ctgov-json is shown", "veeva (version 2):"]
    # the mirror gives no start date and no phase: silence, not disagreement
    assert lines[2:] == ["  enrollment 281 ACTUAL → 281 (type not given)",
                         "  location_count 0 → 7"]

    data = as_json(trials(two_sources, "show", "NCT00557986", "--sources", "--format", "json"))
    assert data["nct_id"] == "NCT00557986"
    assert (data["shown"]["version"], data["shown"]["source"]) == (1, "ctgov-json")
    (mirror,) = data["sources"]
    assert (mirror["version"], mirror["source"]) == (2, "veeva")
    assert {"field": "enrollment", "kind": "changed", "key": None,
            "old": {"count": 281, "type": "ACTUAL"},
            "new": {"count": 281, "type": None}} in mirror["disagreements"]
    assert "start_date" not in {c["field"] for c in mirror["disagreements"]}

    # from the mirror's side, what the registry gives and the mirror lacks is disagreement
    lines = trials(two_sources, "show", "NCT00557986", "--source", "veeva",
                   "--sources").stdout.splitlines()
    assert lines[:2] == ["NCT00557986: version 2 from veeva is shown", "ctgov-json (version 1):"]
    # (the partial registry record lists no sites: its count of 0 is silence too)
    assert lines[2:] == ["  phase added: NA", "  enrollment 281 (type not given) → 281 ACTUAL",
                         "  start_date (none) → 2007-11"]

    alone = trials(two_sources, "show", "NCT00973089", "--sources")
    assert alone.stdout.splitlines() == ["NCT00973089: version 1 from ctgov-json is shown",
                                         "no other source holds this trial"]
    data = as_json(trials(two_sources, "show", "NCT00973089", "--sources", "--format", "json"))
    assert data["sources"] == [] and data["shown"]["source"] == "ctgov-json"


def test_show_sources_as_of_a_date_takes_each_source_as_it_stood(held: str) -> None:
    # a mirror's copy of NCT06203210 made on 2026-02-05, before it took up the new status
    copy = TrialRecord(nct_id="NCT06203210", source="veeva", brief_title=TITLE,
                       overall_status="ACTIVE_NOT_RECRUITING", enrollment=Enrollment(count=540))
    page = msgspec.json.encode(copy.to_json_dict())
    with Catalogue.open(held, clock=lambda: datetime(2026, 2, 5, 9, 0, tzinfo=UTC)) as cat:
        cat.add([Incoming(copy, page, hashlib.sha256(page).hexdigest())])
    mirror_says = ["veeva (version 2):", "  status RECRUITING → ACTIVE_NOT_RECRUITING",
                   "  enrollment 540 ESTIMATED → 540 (type not given)"]
    lines = trials(held, "show", "NCT06203210", "--sources").stdout.splitlines()
    assert lines == ["NCT06203210: version 4 from ctgov-json is shown", *mirror_says]
    lines = trials(held, "show", "NCT06203210", "--as-of", "2026-02-09",
                   "--sources").stdout.splitlines()
    assert lines == ["NCT06203210: version 3 from ctgov-json is shown", *mirror_says]
    lines = trials(held, "show", "NCT06203210", "--as-of", "2026-02-04",
                   "--sources").stdout.splitlines()
    assert lines == ["NCT06203210: version 1 from ctgov-json is shown",
                     "no other source holds this trial"]
    data = as_json(trials(held, "show", "NCT06203210", "--source", "veeva", "--as-of",
                          "2026-02-05", "--sources", "--format", "json"))
    assert (data["shown"]["source"], data["shown"]["seen_at"][:10]) == ("veeva", "2026-02-05")
    (registry,) = data["sources"]
    assert (registry["version"], registry["registry_date"]) == (1, "2026-01-20")


# --- changes -------------------------------------------------------------------------------

STEP_1 = (SNAPSHOTS[0], LEGACY / "NCT00513591__dl2017-01-18__aact.xml",
          LEGACY / "NCT00482794__dl2016-06-27__aact.xml", CTGOV_PARTIAL)
# a status change, an enrollment change (500 → 1000 anticipated), new dates only, a mirror
# copy of a trial held from the registry, and a trial not held before
STEP_2 = (SNAPSHOTS[1], LEGACY / "NCT00513591__dl2017-08-08__aact.xml",
          LEGACY / "NCT00482794__dl2017-01-18__aact.xml", VEEVA, WITHDRAWN)
REPORT_KEYS = {"since", "until", "new", "status_changes", "enrollment_changes",
               "outcome_changes", "results_first_posted", "other_changes", "disappeared", "covers",
               "query"}
WITHDRAWN_TITLE = "Alternative Treatment of Deep Carious Lesions Based on Biological Evidences"


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["nct_id"] for e in entries]


def test_changes_since_the_last_run(db_url: str) -> None:
    imported(db_url, *STEP_1)
    imported(db_url, *STEP_2)
    report = as_json(trials(db_url, "changes", "--since-last-run", "--format", "json"))
    assert set(report) == REPORT_KEYS
    assert _ids(report["new"]) == ["NCT00973089"]
    assert report["new"][0]["title"] == WITHDRAWN_TITLE
    (status,) = report["status_changes"]
    assert (status["nct_id"], status["status"]) == ("NCT06203210",
                                                    ["ACTIVE_NOT_RECRUITING", "RECRUITING"])
    assert status["title"] == TITLE and status["enrollment"] is None
    (enrollment,) = report["enrollment_changes"]
    assert enrollment["nct_id"] == "NCT00513591"
    assert enrollment["enrollment"] == [{"count": 500, "type": "ESTIMATED"},
                                        {"count": 1000, "type": "ESTIMATED"}]
    assert report["results_first_posted"] == []
    (other,) = report["other_changes"]
    assert other["nct_id"] == "NCT00482794"
    assert other["summary"].startswith("primary_completion_date moved 2016-07 → 2017-07")
    assert report["disappeared"] == []
    # the mirror's copy does not change how NCT00557986 is shown: nothing to tell
    assert "NCT00557986" not in json.dumps(report)

    # the same as --since the start of the last run, as `trials runs` gives it
    runs = as_json(trials(db_url, "runs", "--format", "json"))
    assert [(r["id"], r["kind"], r["status"]) for r in runs] == [(2, "import", "ok"),
                                                                (1, "import", "ok")]
    started = runs[0]["started_at"]
    assert datetime.fromisoformat(report["since"]) == datetime.fromisoformat(started)
    by_date = as_json(trials(db_url, "changes", "--since", started, "--format", "json"))
    assert report["covers"]["run"] == 2 and by_date["covers"] is None
    assert {k: v for k, v in report.items() if k not in ("until", "covers")} == {
        k: v for k, v in by_date.items() if k not in ("until", "covers")}
    with Catalogue.open(db_url) as catalogue:  # a run that has not finished does not count
        catalogue.start_run("sync", {"query": "small cell lung cancer"})
    again = as_json(trials(db_url, "changes", "--since-last-run", "--format", "json"))
    assert again["since"] == report["since"]

    text = trials(db_url, "changes", "--since-last-run").stdout
    assert text.startswith(f"Changes since {started[:10]} {started[11:16]} UTC (until ")
    assert "\nCovers import run 2, started " in text
    # wrapped for an e-mail, with a hanging indent under the title
    assert ("New trials (1)\n  NCT00973089  Alternative Treatment of Deep Carious Lesions "
            "Based on\n               Biological Evidences\n") in text
    assert max(len(line) for line in text.splitlines()) <= 78
    assert "Status changes (1)\n  NCT06203210  ACTIVE_NOT_RECRUITING → RECRUITING\n" in text
    assert "Enrollment changes (1)\n  NCT00513591  500 ESTIMATED → 1000 ESTIMATED\n" in text
    assert "Results first posted (0)\n  none\n" in text
    assert "Other changes (1)\n  NCT00482794  primary_completion_date moved" in text
    assert "Disappeared (0)\n  none" in text

    with Catalogue.open(db_url) as catalogue:
        catalogue.add_event("NCT00482794", "disappeared",
                            detail="no longer in the results of the saved query")
        catalogue.add_event("NCT00513591", "reappeared")
    report = as_json(trials(db_url, "changes", "--since-last-run", "--format", "json"))
    (gone,) = report["disappeared"]
    assert (gone["nct_id"], gone["detail"]) == ("NCT00482794",
                                                "no longer in the results of the saved query")
    assert datetime.fromisoformat(gone["at"]) > datetime.fromisoformat(started)
    text = trials(db_url, "changes", "--since-last-run").stdout
    assert ("Disappeared (1)\n  NCT00482794  no longer in the results of the saved query"
            in text)
    after = datetime.now(UTC).isoformat()
    assert as_json(trials(db_url, "changes", "--since", after, "--format", "json"))[
        "disappeared"] == []


def test_changes_since_a_moment_taken_between_imports(db_url: str) -> None:
    missing = trials(db_url, "changes", "--since-last-run")
    assert missing.exit_code == 3 and "no catalogue at " in missing.stderr
    Catalogue.open(db_url, create=True).close()
    empty = trials(db_url, "changes", "--since-last-run")
    assert empty.exit_code == 2
    assert "no import or sync has finished yet; use --since" in empty.stderr
    imported(db_url, STEP_1[1], CTGOV_PARTIAL)
    moment = datetime.now(UTC).isoformat()
    imported(db_url, STEP_2[1], WITHDRAWN, VEEVA)
    report = as_json(trials(db_url, "changes", "--since", moment, "--format", "json"))
    assert _ids(report["new"]) == ["NCT00973089"]
    assert _ids(report["enrollment_changes"]) == ["NCT00513591"]
    assert report["status_changes"] == report["other_changes"] == []
    # since a day before any import, every trial is new
    everything = as_json(trials(db_url, "changes", "--since", "2000-01-01", "--format",
                                "json"))
    assert _ids(everything["new"]) == ["NCT00513591", "NCT00557986", "NCT00973089"]
    assert everything["enrollment_changes"] == everything["other_changes"] == []
    nothing = as_json(trials(db_url, "changes", "--since", datetime.now(UTC).isoformat(),
                             "--format", "json"))
    assert all(nothing[key] == [] for key in REPORT_KEYS - {"since", "until", "covers", "query"})

    for args in ((), ("--since", "2026-01-01", "--since-last-run")):
        result = trials(db_url, "changes", *args)
        assert result.exit_code == 2, args
        assert ("give exactly one of --since DATE, --since-last-sync and --since-last-run"
                in result.stderr)
    bad = trials(db_url, "changes", "--since", "last tuesday")
    assert bad.exit_code == 2
    assert "--since: 'last tuesday' is not a date or date-time (ISO 8601)" in bad.stderr
