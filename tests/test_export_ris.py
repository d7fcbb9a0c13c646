"""The RIS export (``harvester/export/ris.py``), read back with rispy: one reference per
trial, a known trial field by field as written by hand from its registry file, the line
rules, and the same bytes every time."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import rispy

from harvester.catalogue import Catalogue
from harvester.catalogue.selection import SelectedVersion
from harvester.export.base import ExportItem
from harvester.export.ris import corporate, render
from harvester.records import TrialRecord
from tests.conftest import FIXTURES, trials
from tests.exportdata import EVERY_RECORD, HISTORY_TRIAL, Current, current, shared

LINE = re.compile(r"[A-Z][A-Z0-9]  - \S.*|ER  - |")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def now(db: str) -> dict[str, Current]:
    return current(db)


def export_ris(db: str, *args: str | Path) -> bytes:
    result = trials(db, "export", "--format", "ris", EVERY_RECORD, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def test_rispy_reads_one_reference_per_trial(db: str, now: dict[str, Current]) -> None:
    entries = rispy.loads(export_ris(db).decode())
    assert [e["accession_number"] for e in entries] == sorted(now)
    for entry in entries:
        record = now[entry["accession_number"]].record
        assert entry["type_of_reference"] == "DBASE"
        assert entry["title"] == " ".join((record["brief_title"] or record["official_title"]
                                           or record["nct_id"]).split())
        assert entry["name_of_database"] == "ClinicalTrials.gov"
        assert entry["urls"][0] == f"https://clinicaltrials.gov/study/{record['nct_id']}"


def _version(db: str, nct_id: str, number: int) -> tuple[str, str]:
    """(retrieval date as RIS writes it, content hash) of a version."""
    with Catalogue.open(db) as catalogue:
        info = catalogue.version(nct_id, number)
    return info.seen_at.strftime("%Y/%m/%d"), info.content_hash


def test_the_reference_of_a_known_trial_field_by_field(db: str) -> None:
    """NCT06203210 as its newest registry file says (version 3 of the three imported)."""
    seen, sha = _version(db, HISTORY_TRIAL, 3)
    (entry,) = rispy.loads(export_ris(db, "--ids", HISTORY_TRIAL).decode())
    newest = json.loads(sorted(FIXTURES.glob(
        f"ctgov-history/api-v2-snapshots/{HISTORY_TRIAL}__vh*.json"))[-1].read_bytes())
    secondary = [f"{o['measure']} [{o['timeFrame']}]" for o in
                 newest["protocolSection"]["outcomesModule"]["secondaryOutcomes"]]
    assert len(secondary) == 12
    assert entry == {
        "type_of_reference": "DBASE",
        "title": "A Study of Ifinatamab Deruxtecan Versus Treatment of Physician's Choice in "
                 "Subjects With Relapsed Small Cell Lung Cancer",
        "short_title": "IDeate-Lung02",
        "authors": ["Daiichi Sankyo,"],
        "subsidiary_authors": ["Merck Sharp & Dohme LLC,"],
        "year": "2024",
        "date": "2024/01/12",
        "edition": "2026/03/02",  # the same date format as DA
        "publisher": "National Library of Medicine (US)",
        "place_published": "Bethesda (MD)",
        "name_of_database": "ClinicalTrials.gov",
        "accession_number": "NCT06203210",
        # Every id the registry lists: the EU CT number and the sponsor's.
        "issn": "NCT06203210; 2023-509628-16-00; 2031230631",
        "urls": ["https://clinicaltrials.gov/study/NCT06203210"],  # one URL
        "access_date": seen,
        # The condition, then the keywords not already given ("Small cell lung cancer").
        "keywords": ["Small Cell Lung Cancer", "Ifinatamab deruxtecan", "I-DXd"],
        "abstract": "This study was designed to compare the efficacy and safety of I-DXd with "
                    "treatment of physician's choice in participants with relapsed small cell "
                    "lung cancer (SCLC).",
        "notes": [
            "Official title: A Phase 3, Multicenter, Randomized, Open-label Study of "
            "Ifinatamab Deruxtecan (I-DXd), a B7-H3 Antibody Drug Conjugate (ADC), Versus "
            "Treatment of Physician's Choice (TPC) in Subjects With Relapsed Small Cell Lung "
            "Cancer (SCLC) (IDeate-Lung02)",
            "Status: RECRUITING. Phase: PHASE3. Study type: INTERVENTIONAL.",
            "Registry identifiers: NCT06203210; EU CT 2023-509628-16-00; other 2031230631",
            "Primary outcomes: Number of Participants With Objective Response Rate Assessed by "
            "Blinded Independent Central Review [Baseline up until documented progressive "
            "disease, death, lost to follow-up, or withdrawal by the participant, up to "
            "approximately 5 years]; Overall Survival [From the date of randomization to "
            "the date of death due to any cause, up to approximately 5 years]",
            "Secondary outcomes: " + "; ".join(secondary),
            "Publications (PubMed): PMID 41055143",
            # Its registry number is unknown (not fetched from the record history).
            f"Version exported: 3 from ctgov-json, last update posted 2026/03/02, retrieved "
            f"{seen}, sha256 {sha}, https://clinicaltrials.gov/study/NCT06203210?tab=history"],
    }


def test_as_of_gives_the_reference_of_the_old_version(db: str) -> None:
    seen, sha = _version(db, HISTORY_TRIAL, 1)
    (entry,) = rispy.loads(export_ris(db, "--ids", HISTORY_TRIAL, "--as-of", "2026-02-01"
                                      ).decode())
    assert entry["edition"] == "2026/01/20"
    assert "Status: ACTIVE_NOT_RECRUITING. Phase: PHASE3. Study type: INTERVENTIONAL." in \
        entry["notes"]
    assert entry["notes"][-1] == (
        f"Version exported: 1 from ctgov-json, last update posted 2026/01/20, retrieved "
        f"{seen}, sha256 {sha}, https://clinicaltrials.gov/study/NCT06203210?tab=history")


def test_the_same_trial_gives_the_same_bytes_every_time(db: str) -> None:
    alone = export_ris(db, "--ids", HISTORY_TRIAL)
    assert export_ris(db, "--ids", HISTORY_TRIAL) == alone
    everything = export_ris(db)
    assert alone in everything  # its reference does not depend on the others exported
    assert everything.count(b"TY  - DBASE\r\n") == everything.count(b"ER  - \r\n\r\n")


def test_lines_follow_the_ris_rules(db: str, now: dict[str, Current]) -> None:
    data = export_ris(db)
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    text = data.decode("utf-8")
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    bad = [line for line in text.split("\r\n") if not LINE.fullmatch(line)]
    assert bad == []
    # A summary of several paragraphs is one AB line, its words all there.
    multi = next(c.record for c in now.values()
                 if "\n" in (c.record["brief_summary"] or ""))
    (entry,) = rispy.loads(export_ris(db, "--ids", multi["nct_id"]).decode())
    assert entry["abstract"] == " ".join(multi["brief_summary"].split())


def test_corporate_names_keep_whole() -> None:
    assert corporate("Daiichi Sankyo") == "Daiichi Sankyo,"
    # Zotero splits at the first comma (a person "Inc., ") and EndNote at an inner one:
    # a corporate name keeps no comma but the trailing one that marks it corporate.
    assert corporate("Millennium Pharmaceuticals, Inc.") == "Millennium Pharmaceuticals Inc.,"
    assert corporate("University of California, San Francisco") == (
        "University of California San Francisco,")


def _item(record: TrialRecord, **version: Any) -> ExportItem:
    from datetime import datetime

    fields: dict[str, Any] = {
        "nct_id": record.nct_id, "version_id": 7, "number": 2, "source": record.source,
        "seen_at": datetime(2026, 8, 14, 9, 0, 5), "registry_date": None,
        "registry_version": None, "content_hash": "ab" * 32,
        "record_json": record.model_dump_json(), **version}
    return ExportItem(SelectedVersion(**fields))


def test_hostile_text_stays_inside_its_line() -> None:
    from parsers import parse_bytes

    (record,) = parse_bytes((FIXTURES / "ctgov-v2-json/studies/NCT00973089__aact.json"
                             ).read_bytes())
    record = record.model_copy(update={
        "brief_title": "Title\r\nER  - \r\nTY  - JOUR\x07",
        "brief_summary": "One.\u2028Two.\n\n\tThree.", "conditions": ("A\nB",)})
    entry, *rest = rispy.loads(render(_item(record)).decode())
    assert rest == []
    assert entry["title"] == "Title ER  - TY  - JOUR"  # a tag counts only at a line start
    assert entry["abstract"] == "One. Two. Three."
    assert entry["keywords"][0] == "A B"
    # The registry's own version number, when known, names the version's page (from 1).
    (entry,) = rispy.loads(render(_item(record, registry_version="4")).decode())
    assert entry["notes"][-1].endswith("?tab=history&a=5")


def test_every_registry_id_and_publication_is_where_tools_read_it() -> None:
    from harvester.records.sections import Reference
    from parsers import parse_bytes

    (record,) = parse_bytes((FIXTURES / "ctgov-v2-json/studies/NCT00973089__aact.json"
                             ).read_bytes())
    record = record.model_copy(update={
        "nct_id_aliases": ("NCT00000001",),
        "secondary_ids": ("2009-012345-21", "ISRCTN12345678", "ABC-123", "NCT00000001"),
        "references": (Reference(pmid="12345678", citation="A."), Reference(citation="B."),
                       Reference(pmid="23456789"), Reference(pmid="12345678")),
        "lead_sponsor": record.lead_sponsor.model_copy(  # type: ignore[union-attr]
            update={"name": "Millennium Pharmaceuticals, Inc."})})
    (entry,) = rispy.loads(render(_item(record)).decode())
    assert entry["accession_number"] == record.nct_id
    assert entry["issn"] == (f"{record.nct_id}; NCT00000001; 2009-012345-21; ISRCTN12345678; "
                             "ABC-123")
    assert (f"Registry identifiers: {record.nct_id}; NCT alias NCT00000001; "
            "EudraCT 2009-012345-21; ISRCTN ISRCTN12345678; other ABC-123") in entry["notes"]
    assert "Publications (PubMed): PMID 12345678, PMID 23456789" in entry["notes"]
    assert entry["authors"] == ["Millennium Pharmaceuticals Inc.,"]


def test_tags_follow_the_documented_mapping(db: str) -> None:
    """Every reference uses only the tags of ris.TAGS, in their order, one UR, and each
    creator splits as Zotero splits it (at the first comma) into a name and nothing."""
    from harvester.export.ris import TAGS

    order = [t.tag for t in TAGS]
    text = export_ris(db).decode()
    for block in text.split("ER  - \r\n\r\n")[:-1]:
        tags = [line[:2] for line in block.split("\r\n") if line]
        assert [order.index(t) for t in tags] == sorted(order.index(t) for t in tags)
        assert tags.count("UR") == 1 and tags.count("AN") == 1 and tags.count("TY") == 1
        for line in block.split("\r\n"):
            if line[:2] in ("AU", "A4"):
                name = line[6:]
                last, _, first = name.partition(",")
                assert last and first == "", name
            if line[:2] in ("DA", "ET", "Y2"):
                assert re.fullmatch(r"\d{4}(/\d{2}(/\d{2})?)?", line[6:]), line


def test_the_readme_shows_the_mapping_the_export_writes() -> None:
    from harvester.export.ris import mapping_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert mapping_table() in readme
