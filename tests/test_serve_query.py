"""The replica's Essie subset: syntax, precedence, areas, enums, ranges, scoping, errors.

Expected NCT ids on the real fixture studies were checked by hand against the JSON files.
"""

from __future__ import annotations

from typing import Any

import pytest

from harvester.serve.query import QueryError, parse_query
from harvester.serve.store import StudyStore
from tests.conftest import FIXTURES

Doc = dict[str, Any]
STUDIES = list(StudyStore.from_folder(FIXTURES / "ctgov-v2-json/studies"))


def nct(study: dict[str, Any]) -> str:
    return str(study["protocolSection"]["identificationModule"]["nctId"])


def hits(expression: str, area: str = "BasicSearch") -> list[str]:
    query = parse_query(expression, area)
    return [nct(s) for s in STUDIES if query.matches(s)]


def doc(nct: str, *conditions: str, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "identificationModule": {"nctId": nct},
        "conditionsModule": {"conditions": list(conditions)},
    }
    section.update(extra)
    return {"protocolSection": section}


def matching(expression: str, docs: list[Doc], area: str = "ConditionSearch") -> set[str]:
    query = parse_query(expression, area)
    return {nct(d) for d in docs if query.matches(d)}


# --- booleans and precedence on small synthetic documents -----------------------------------

DOCS = [
    doc("A", "head pain"),
    doc("B", "neck pain", "neck cancer"),
    doc("C", "head cancer"),
    doc("D", "pain"),
    doc("E", "Neck Pain"),
    doc("F", "Spain"),
]


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    # The S2-verified shape: (head OR neck) AND (pain) AND (NOT cancer).
    assert matching("(head OR neck) AND pain NOT cancer", DOCS) == {"A", "E"}
    # OR is loosest: a OR (b AND c), not (a OR b) AND c.
    assert matching("cancer OR head AND pain", DOCS) == {"A", "B", "C"}
    assert matching("(cancer OR head) AND pain", DOCS) == {"A", "B"}
    assert matching("NOT pain", DOCS) == {"C", "F"}
    assert matching("NOT NOT pain", DOCS) == {"A", "B", "D", "E"}


def test_juxtaposition_is_and_and_phrases_are_contiguous() -> None:
    assert matching("pain head", DOCS) == {"A"}
    assert matching('"head pain"', DOCS) == {"A"}
    assert matching('"pain head"', DOCS) == set()
    assert matching("head, pain", DOCS) == {"A"}  # a comma separates like AND


def test_terms_are_case_insensitive_whole_words() -> None:
    assert matching("NECK", DOCS) == {"B", "E"}
    assert matching("pain", DOCS) == {"A", "B", "D", "E"}  # not "Spain"
    assert matching("Spain", DOCS) == {"F"}
    assert matching("covid-19", [doc("G", "COVID 19"), doc("H", "covid")]) == {"G"}


def test_all_missing_and_escaped_operator_words() -> None:
    docs = [doc("A", "pain"), doc("B"), doc("C", "MISSING persons")]
    assert matching("ALL", docs) == {"A", "B", "C"}
    assert matching("AREA[Condition]MISSING", docs) == {"B"}
    assert matching(r"\MISSING", docs) == {"C"}
    assert matching("NOT AREA[Condition]MISSING", docs) == {"A", "C"}


def test_coverage_kinds() -> None:
    sponsor = {"leadSponsor": {"name": "Merck Sharp & Dohme LLC"}}
    docs = [
        doc("A", sponsorCollaboratorsModule=sponsor),
        doc("B", sponsorCollaboratorsModule={"leadSponsor": {"name": "Merck KGaA"}}),
    ]
    name = "AREA[LeadSponsorName]"
    assert matching(f'{name}COVERAGE[FullMatch]"Merck Sharp & Dohme LLC"', docs) == {"A"}
    assert matching(f"{name}COVERAGE[FullMatch]Merck", docs) == set()
    assert matching(f"{name}Merck", docs) == {"A", "B"}
    assert matching(f"{name}COVER[StartsWith]merck", docs) == {"A", "B"}
    assert matching(f"{name}COVERAGE[EndsWith]kgaa", docs) == {"B"}
    assert matching(f"{name}COVERAGE[Contains]dohme", docs) == {"A"}
    assert matching(f"{name}EXPANSION[None]merck", docs) == {"A", "B"}  # a no-op


def test_ranges_of_numbers_ages_and_partial_dates() -> None:
    def dated(nct: str, start: str, count: int, age: str) -> dict[str, Any]:
        return doc(
            nct,
            statusModule={"startDateStruct": {"date": start}},
            designModule={"enrollmentInfo": {"count": count}},
            eligibilityModule={"minimumAge": age},
        )

    docs = [dated("A", "2020-01", 10, "6 Months"), dated("B", "2020-03-15", 500, "18 Years")]
    assert matching("AREA[StartDate]RANGE[2020-01-15, 2020-02]", docs) == {"A"}  # overlap
    assert matching("AREA[StartDate]RANGE[2020, 2020]", docs) == {"A", "B"}
    assert matching("AREA[StartDate]RANGE[2020-02-01, MAX]", docs) == {"B"}
    assert matching("AREA[StartDate]2020-03", docs) == {"B"}
    assert matching("AREA[EnrollmentCount]RANGE[MIN, 100]", docs) == {"A"}
    assert matching("AREA[EnrollmentCount]500", docs) == {"B"}
    assert matching("AREA[MinimumAge]RANGE[MIN, 1 year]", docs) == {"A"}
    assert matching("AREA[MinimumAge]RANGE[16 years, MAX]", docs) == {"B"}
    assert matching("AREA[CompletionDate]RANGE[MIN, MAX]", docs) == set()


# --- real fixture studies ---------------------------------------------------------------------


def test_enum_pieces_on_real_studies() -> None:
    assert hits("AREA[OverallStatus]RECRUITING") == ["NCT06454955", "NCT06692738"]
    assert hits("AREA[OverallStatus]recruiting") == ["NCT06454955", "NCT06692738"]
    assert hits("AREA[Phase]PHASE2") == [
        "NCT00554515",
        "NCT02210780",
        "NCT03418623",
        "NCT03661047",
        "NCT04585815",  # PHASE1 + PHASE2
        "NCT07011550",
    ]
    assert hits("AREA[Phase:size]2") == ["NCT04585815"]
    assert hits("AREA[OverallStatus]WITHDRAWN AND AREA[Phase]PHASE2") == ["NCT03661047"]


def test_dates_numbers_and_missing_on_real_studies() -> None:
    assert hits("AREA[LastUpdatePostDate]RANGE[2026-01-01,MAX]") == [
        "NCT04585815",
        "NCT06692738",
        "NCT07011550",
    ]
    assert hits("AREA[StartDate]2024") == ["NCT06171568", "NCT06454955", "NCT06692738"]
    assert hits("AREA[EnrollmentCount]RANGE[500, MAX]") == ["NCT02299791", "NCT06692738"]
    assert hits("AREA[MinimumAge]RANGE[MIN, 12 years]") == [
        "NCT00763412",  # 12 Years
        "NCT00973089",  # 5 Years
        "NCT01045486",  # 6 Months
        "NCT01070368",  # 1 Year
    ]
    assert hits("AREA[Phase]MISSING") == [
        "NCT01741805",
        "NCT03475563",
        "NCT05064306",
        "NCT05594173",
        "NCT05670756",
        "NCT06171568",
        "NCT06631677",
    ]


def test_text_areas_on_real_studies() -> None:
    assert hits("asthma", "ConditionSearch") == ["NCT00189228", "NCT01741805"]
    assert hits('"atopic dermatitis"', "ConditionSearch") == [
        "NCT01045486",
        "NCT02210780",
        "NCT06947252",
    ]
    assert hits("Regeneron", "SponsorSearch") == ["NCT02210780", "NCT06631677"]
    assert hits("regeneron", "LeadSponsorName") == ["NCT02210780", "NCT06631677"]
    assert hits("AREA[LeadSponsorName]COVERAGE[FullMatch]Regeneron") == []
    assert hits("NCT00201097", "IdSearch") == ["NCT00189228"]  # an alias
    assert hits("dupilumab", "InterventionSearch") == ["NCT02210780", "NCT06631677"]
    assert hits("AREA[InterventionSearch]dupilumab AND AREA[OverallStatus]COMPLETED") == [
        "NCT02210780"
    ]
    assert hits("Kyoto", "LocationSearch") == ["NCT00276445", "NCT06692738"]
    assert hits("AREA[LocationState]Kyoto") == ["NCT00276445"]


def test_search_location_holds_within_one_location() -> None:
    # NCT06692738's Tucson site is NOT_YET_RECRUITING, while other sites recruit.
    assert hits("AREA[LocationCity]Tucson") == ["NCT02552212", "NCT06692738"]
    assert hits("AREA[LocationCity]Tucson AND AREA[LocationStatus]RECRUITING") == ["NCT06692738"]
    scoped = "SEARCH[Location](AREA[LocationCity]Tucson AND AREA[LocationStatus]{})"
    assert hits(scoped.format("RECRUITING")) == []
    assert hits(scoped.format("NOT_YET_RECRUITING")) == ["NCT06692738"]
    # A bare term inside SEARCH[Location] searches the location's own fields.
    assert hits("SEARCH[Location](Boston)") == [
        "NCT00554515",
        "NCT02210780",
        "NCT02552212",
        "NCT03661047",
    ]
    assert hits("SEARCH[Location](Boston AND Beth)") == ["NCT00554515"]


def test_queried_pieces_cover_the_area_and_the_named_pieces() -> None:
    query = parse_query("AREA[OverallStatus]RECRUITING asthma", "ConditionSearch")
    names = {piece.name for piece in query.queried()}
    assert {"Condition", "BriefTitle", "OverallStatus"} <= names


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("AREA[X]foo", "Unknown area name: 'X'"),
        ("AREA[Phase:length]2", "Unknown area name: 'Phase:length'"),
        ("SEARCH[Nowhere](a)", "Unknown area name: 'Nowhere'"),
        (
            "foo[bar",
            "mismatched input '[' expecting {<EOF>, '(', ',', 'NOT', 'AND', 'OR', 'SEARCH', "
            "'AREA', 'RANGE'",
        ),
        ("(a OR b", "mismatched input '<EOF>' expecting ')'"),
        ("a AND", "mismatched input '<EOF>' expecting {'('"),
        (") a", "mismatched input ')' expecting {'('"),
        ("a OR b)", "mismatched input ')' expecting {<EOF>"),
        ("RANGE[1]", "mismatched input ']' expecting ','"),
        ("AREA[LeadSponsorName]COVERAGE[FullMatc]x", "Invalid coverage: FullMatc"),
        ("EXPANSION[Most]x", "Invalid expansion: Most"),
        ('"unterminated', "token recognition error at: '\"unterminated'"),
        (
            "AREA[OverallStatus]FOO",
            "Allowed values for enum field `protocolSection.statusModule.overallStatus` are "
            "`ACTIVE_NOT_RECRUITING`, `COMPLETED`,",
        ),
        ("AREA[Phase](PHASE2 OR PHASE9)", "Allowed values for enum field"),
    ],
)
def test_parse_errors_are_worded_like_the_real_api(expression: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(expression)
    assert caught.value.message.startswith(message)


def test_an_unknown_default_area_is_an_error() -> None:
    with pytest.raises(QueryError, match="Unknown area name: 'Nope'"):
        parse_query("x", "Nope")
