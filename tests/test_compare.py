"""``trials compare`` end to end on a catalogue of the corpus.

One catalogue per module (SQLite): the API v2 studies, the legacy XML files and the three
daily snapshots of NCT06203210 (ACTIVE_NOT_RECRUITING until its 2026-02-09 update, RECRUITING
after), imported through ``trials import``.  Expected values are read from the fixture files.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.conftest import FIXTURES, trials

STUDIES = FIXTURES / "ctgov-v2-json/studies"
SNAPSHOTS = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*.json"))
# Two colorectal cancer trials in API v2 JSON: omega-3 before surgery (withdrawn) and
# BMS-986340 with nivolumab in microsatellite-stable disease (suspended).
COLORECTAL = ("NCT03661047", "NCT07011550")
LUNG = ("NCT01642004", "NCT02481830", "NCT06692738")


def protocol(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes())["protocolSection"]
    return data


def study(nct_id: str) -> dict[str, Any]:
    [path] = STUDIES.glob(f"{nct_id}__*.json")
    return protocol(path)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('compare') / 'catalogue.sqlite'}"
    result = trials(url, "import", STUDIES, FIXTURES / "ctgov-xml", *SNAPSHOTS)
    assert result.exit_code == 0, result.stderr
    return url


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.stderr
    return result.stdout


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def by_field(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["field"]: row for row in data["rows"]}


def test_json_lines_up_the_trials_with_their_versions(db: str) -> None:
    data = as_json(trials(db, "compare", *COLORECTAL, "--format", "json"))
    assert data["as_of"] is None
    assert [t["nct_id"] for t in data["trials"]] == list(COLORECTAL)
    statuses = [study(n)["statusModule"] for n in COLORECTAL]
    assert [t["version"] for t in data["trials"]] == [
        {"number": 1, "registry_date": s["lastUpdatePostDateStruct"]["date"],
         "source": "ctgov-json"} for s in statuses]
    rows = by_field(data)
    assert rows["overall status"]["values"] == [s["overallStatus"] for s in statuses]
    assert rows["why stopped"]["values"] == [s["whyStopped"] for s in statuses]
    assert rows["overall status"]["differs"] and rows["why stopped"]["differs"]
    sexes = {study(n)["eligibilityModule"]["sex"] for n in COLORECTAL}
    assert rows["sex"] == {"section": "Eligibility", "field": "sex",
                           "values": [*sexes] * 2, "differs": False}
    interventions = [[f"{i['type']}: {i['name']}" for i in
                      study(n)["armsInterventionsModule"]["interventions"]] for n in COLORECTAL]
    assert rows["interventions"]["items"] == interventions
    # One exclusion criterion is in both (word for word), and only that one is not listed.
    excluded = rows["exclusion criteria only here"]["items"]
    assert rows["exclusion criteria"]["values"] == [f"{len(e) + 1} (1 in every trial)"
                                                    for e in excluded]
    assert {row["section"] for row in data["rows"]} >= {"Identity", "Status", "Design",
                                                        "Eligibility", "Sites"}


def test_ids_are_case_insensitive(db: str) -> None:
    lower = as_json(trials(db, "compare", *(n.lower() for n in COLORECTAL), "--format", "json"))
    assert [t["nct_id"] for t in lower["trials"]] == list(COLORECTAL)


def test_table_marks_the_rows_that_differ(db: str) -> None:
    out = ok(trials(db, "compare", *LUNG))
    lines = out.splitlines()
    assert all(n in lines[0] + lines[1] for n in LUNG)

    def marker(field: str) -> str:
        [line] = [x for x in lines if re.match(rf"^ . │ {field} ", x)]
        return line[1]

    assert marker("enrollment") == "≠" and marker("overall status") == "≠"
    assert marker("study type") == " " and marker("phases") == " " and marker("sex") == " "
    assert "352 (ACTUAL)" in out and "880 (ESTIMATED)" in out
    assert "CheckMate331" in lines[1] or "CheckMate331" in lines[2]
    # Long lists are shortened in the terminal: NCT06692738 has sites in 26 countries.
    assert re.search(r"… \d+ more \(--format json lists all\)", out)
    assert "Current records: NCT01642004 version 1 (ctgov-xml" in out


def test_markdown_is_a_table_for_a_report(db: str) -> None:
    out = ok(trials(db, "compare", *LUNG, "--format", "md"))
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in table)
    assert {len(re.findall(r"(?<!\\)\|", line)) for line in table} == {len(LUNG) + 3}
    assert table[0].startswith("| | field | NCT01642004<br>")
    enrollment = next(line for line in table if "| enrollment |" in line)
    assert enrollment.startswith("| ≠ |") and "803 (ACTUAL)" in enrollment
    assert next(line for line in table if "| study type |" in line).startswith("|  |")
    assert "≠: the trials differ. Current records:" in out


def test_csv_reads_back(db: str) -> None:
    out = ok(trials(db, "compare", *LUNG, "--format", "csv"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["section", "field", "differs", *LUNG]
    fields = {row["field"]: row for row in rows}
    assert fields["acronym"]["NCT02481830"] == "CheckMate331"
    assert fields["phases"]["differs"] == "false" and fields["sites"]["differs"] == "true"
    sites = study("NCT06692738")["contactsLocationsModule"]["locations"]
    assert fields["sites"]["NCT06692738"] == str(len(sites))
    countries = fields["countries"]["NCT06692738"].splitlines()
    assert len(countries) == len({s["country"] for s in sites})


def test_only_differences(db: str) -> None:
    full = as_json(trials(db, "compare", *LUNG, "--format", "json"))
    only = as_json(trials(db, "compare", *LUNG, "--format", "json", "--only-differences"))
    assert only["rows"] == [row for row in full["rows"] if row["differs"]]
    assert len(only["rows"]) < len(full["rows"])
    table = ok(trials(db, "compare", *LUNG, "-d"))
    assert "study type" not in table and "enrollment" in table


def test_as_of_compares_the_versions_current_then(db: str) -> None:
    first, _, last = (protocol(p)["statusModule"] for p in SNAPSHOTS)
    now = by_field(as_json(trials(db, "compare", "NCT06203210", "NCT04585815",
                                  "--format", "json")))
    then = as_json(trials(db, "compare", "NCT06203210", "NCT04585815", "--as-of",
                          "2026-02-01", "--format", "json"))
    assert then["as_of"] == "2026-02-01"
    assert then["trials"][0]["version"] == {
        "number": 1, "registry_date": first["lastUpdatePostDateStruct"]["date"],
        "source": "ctgov-json"}
    assert by_field(then)["overall status"]["values"][0] == first["overallStatus"]
    assert now["overall status"]["values"][0] == last["overallStatus"]
    assert first["overallStatus"] != last["overallStatus"]
    table = ok(trials(db, "compare", "NCT06203210", "NCT04585815", "--as-of", "2026-02-01"))
    assert "As of 2026-02-01: NCT06203210 version 1" in table


def test_a_trial_not_yet_published_on_the_date_is_not_found(db: str) -> None:
    result = trials(db, "compare", "NCT06203210", "NCT06692738", "--as-of", "2026-02-01")
    assert result.exit_code == 4
    assert "first published later" in result.stderr and "NCT06692738" in result.stderr
    assert "NCT06203210" not in result.stderr


def test_unknown_trials_are_named(db: str) -> None:
    result = trials(db, "compare", "NCT06692738", "NCT99999999", "NCT88888888")
    assert result.exit_code == 4
    assert result.stderr.strip() == ("trials: error: not in the catalogue: NCT99999999, "
                                      "NCT88888888")
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (("NCT06692738",), "give 2 to 10 NCT ids to compare (got 1)"),
    ((), "give 2 to 10 NCT ids to compare (got 0)"),
    (("NCT06692738", "nct06692738"), "NCT06692738 given more than once"),
    (("NCT06692738", "6692738"), "not an NCT id (NCT and 8 digits): 6692738"),
    ((*(f"NCT0000000{n}" for n in range(10)), "NCT00000010"), "(got 11)"),
    (("NCT06692738", "NCT01642004", "--as-of", "1 Feb 2026"), "--as-of: '1 Feb 2026'"),
])
def test_bad_command_lines_are_usage_errors(db: str, args: tuple[str, ...],
                                            message: str) -> None:
    result = trials(db, "compare", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_on_each_backend(db_url: str) -> None:
    """The same comparison from a catalogue on SQLite and on PostgreSQL."""
    paths = [next(STUDIES.glob(f"{n}__*.json")) for n in COLORECTAL]
    assert trials(db_url, "import", *paths).exit_code == 0
    data = as_json(trials(db_url, "compare", *COLORECTAL, "--format", "json"))
    assert [t["nct_id"] for t in data["trials"]] == list(COLORECTAL)
    enrolled = [study(n)["designModule"]["enrollmentInfo"] for n in COLORECTAL]
    assert by_field(data)["enrollment"]["values"] == [f"{e['count']} ({e['type']})"
                                                     for e in enrolled]
