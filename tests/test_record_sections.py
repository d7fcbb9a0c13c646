"""``trials show``'s table view of the whole protocol: people, oversight, references,
documents, outcome measures and the results overview (harvester/commands/record_sections.py)."""

from __future__ import annotations

from rich.console import Console

from harvester.commands.views import record_view
from parsers import parse_bytes
from tests.conftest import FIXTURES


def _text(path: str) -> str:
    (record,) = parse_bytes((FIXTURES / path).read_bytes())
    console = Console(width=250, record=True)
    console.print(record_view(record))
    return console.export_text()


def _rows(text: str) -> dict[str, str]:
    return {line.split("  ")[0]: line for line in text.splitlines()}


def test_a_trial_with_results_shows_its_protocol_and_results() -> None:
    text = _text("ctgov-v2-json/studies/NCT02552212__aact.json")
    rows = _rows(text)
    assert "UCB Cares (STUDY_DIRECTOR" in rows["officials"]
    assert "DMC no" in rows["oversight"]
    assert rows["expanded access"].split()[-2:] == ["NCT03559686", "(AVAILABLE)"]
    assert "4 (2 RESULT, 2 DERIVED): PMID 35296532" in rows["references"]
    assert "Study Protocol 2018-12-17 https://clinicaltrials.gov/ProvidedDocs/12/NCT02552212/" \
           "Prot_000.pdf" in rows["documents"]
    # the planned outcome measures, each with its kind and time frame
    assert "outcome measures" in text
    assert any(line.split()[:1] == ["PRIMARY"] and "Week 52" in line
               and "ASDAS-MI" in line for line in text.splitlines())
    # the results overview: participants and adverse events per group, reported values
    placebo = next(line for line in text.splitlines() if line.split("│")[0].strip()
                   == "Placebo (SS)")
    assert [c.strip() for c in placebo.split("│")[3:6]] == ["4/158", "59/158", "0/158"]
    assert "Placebo (FAS): 7.0; CZP 200 mg Q2W (FAS): 47.2" in text


def test_a_record_without_those_sections_shows_no_empty_rows() -> None:
    rows = _rows(_text("mirror-veeva/NCT00557986.txt"))
    for label in ("officials", "central contacts", "oversight", "IPD sharing", "references",
                  "documents", "outcome measures"):
        assert label not in rows
    assert rows["results"].split()[-1] == "no"
