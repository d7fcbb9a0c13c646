"""The BibTeX export (``harvester/export/bibtex.py``), read back with bibtexparser: one
``@misc`` entry per trial keyed by its NCT id, a known trial field by field, corporate
authors and LaTeX specials kept intact."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import bibtexparser
import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.selection import SelectedVersion
from harvester.export.base import ExportItem
from harvester.export.bibtex import latex, render
from tests.conftest import FIXTURES, trials
from tests.exportdata import EVERY_RECORD, HISTORY_TRIAL, Current, current, shared


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def now(db: str) -> dict[str, Current]:
    return current(db)


def parse(text: str) -> dict[str, dict[str, str]]:
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == []
    return {e.key: {k: f.value for k, f in e.fields_dict.items()} | {"@": e.entry_type}
            for e in library.entries}


def export_bib(db: str, *args: str | Path) -> str:
    result = trials(db, "export", "--format", "bibtex", EVERY_RECORD, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_one_entry_per_trial(db: str, now: dict[str, Current]) -> None:
    entries = parse(export_bib(db))
    assert sorted(entries) == sorted(now)
    for key, entry in entries.items():
        assert entry["@"] == "misc"
        assert entry["number"] == key
        assert entry["url"] == f"https://clinicaltrials.gov/study/{key}"
        # A corporate author is braced: BibTeX never splits it into first and last names.
        if "author" in entry:
            assert entry["author"].startswith("{") and entry["author"].endswith("}")


def test_the_entry_of_a_known_trial_field_by_field(db: str) -> None:
    with Catalogue.open(db) as catalogue:
        info = catalogue.version(HISTORY_TRIAL, 3)
    entry = parse(export_bib(db, "--ids", HISTORY_TRIAL))[HISTORY_TRIAL]
    assert entry == {
        "@": "misc",
        "author": "{Daiichi Sankyo}",
        "title": "{A Study of Ifinatamab Deruxtecan Versus Treatment of Physician's Choice in "
                 "Subjects With Relapsed Small Cell Lung Cancer}",
        "shorttitle": "IDeate-Lung02", "year": "2024", "month": "jan", "date": "2024-01-12",
        "urldate": f"{info.seen_at:%Y-%m-%d}", "version": "2026-03-02",
        "howpublished": "ClinicalTrials.gov", "organization": "ClinicalTrials.gov",
        "publisher": "National Library of Medicine (US)", "address": "Bethesda (MD)",
        "number": HISTORY_TRIAL, "eprint": HISTORY_TRIAL, "eprinttype": "ClinicalTrials.gov",
        "url": f"https://clinicaltrials.gov/study/{HISTORY_TRIAL}",
        "keywords": "Small Cell Lung Cancer, Ifinatamab deruxtecan, I-DXd",
        "abstract": "This study was designed to compare the efficacy and safety of I-DXd with "
                    "treatment of physician's choice in participants with relapsed small cell "
                    "lung cancer (SCLC).",
        "note": "Official title: A Phase 3, Multicenter, Randomized, Open-label Study of "
                "Ifinatamab Deruxtecan (I-DXd), a B7-H3 Antibody Drug Conjugate (ADC), Versus "
                "Treatment of Physician's Choice (TPC) in Subjects With Relapsed Small Cell "
                "Lung Cancer (SCLC) (IDeate-Lung02). Registry identifiers: NCT06203210; EU CT "
                "2023-509628-16-00; other 2031230631. "
                "Primary outcomes: Number of Participants With Objective Response Rate Assessed by "
                "Blinded Independent Central Review [Baseline up until documented progressive "
                "disease, death, lost to follow-up, or withdrawal by the participant, up to "
                "approximately 5 years]; Overall Survival [From the date of randomization to "
                "the date of death due to any cause, up to approximately 5 years]. "
                "Publications (PubMed): PMID 41055143. Version exported: 3 from ctgov-json, "
                f"last update posted 2026-03-02, retrieved {info.seen_at:%Y-%m-%d}, sha256 "
                f"{info.content_hash}, https://clinicaltrials.gov/study/{HISTORY_TRIAL}"
                "?tab=history."}


def test_latex_specials_and_braces_stay_balanced() -> None:
    from parsers import parse_bytes

    assert latex("50% of A&B_1 {x} $5 #2 ~^\\") == (
        r"50\% of A\&B\_1 \textbraceleft{}x\textbraceright{} \$5 \#2 "
        r"\textasciitilde{}\textasciicircum{}\textbackslash{}")
    (record,) = parse_bytes((FIXTURES / "ctgov-v2-json/studies/NCT00973089__aact.json"
                             ).read_bytes())
    record = record.model_copy(update={
        "brief_title": "Unbalanced { brace and 100% } } dose\r\n@misc{x,",
        "lead_sponsor": record.lead_sponsor.model_copy(  # type: ignore[union-attr]
            update={"name": "Millennium Pharmaceuticals, Inc."})})
    fields: dict[str, Any] = {
        "nct_id": record.nct_id, "version_id": 7, "number": 2, "source": record.source,
        "seen_at": datetime(2026, 8, 14, 9, 0, 5), "registry_date": None,
        "registry_version": None, "content_hash": "ab" * 32,
        "record_json": record.model_dump_json()}
    entries = parse(render(ExportItem(SelectedVersion(**fields))).decode())
    assert list(entries) == [record.nct_id]  # the title's "@misc{" starts no entry
    entry = entries[record.nct_id]
    assert entry["author"] == "{Millennium Pharmaceuticals, Inc.}"
    assert entry["title"].startswith(r"{Unbalanced \textbraceleft{} brace and 100\%")
