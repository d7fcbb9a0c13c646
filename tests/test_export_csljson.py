"""The CSL-JSON export (``harvester/export/csljson.py``): valid JSON read by an independent
CSL processor (citeproc-py) into a formatted bibliography, a known trial field by field, and
the version pinned as in the other citation formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from citeproc import (
    Citation,
    CitationItem,
    CitationStylesBibliography,
    CitationStylesStyle,
    formatter,
)
from citeproc.source.json import CiteProcJSON

from harvester.catalogue import Catalogue
from tests.conftest import trials
from tests.exportdata import EVERY_RECORD, HISTORY_TRIAL, Current, current, shared


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def now(db: str) -> dict[str, Current]:
    return current(db)


def export_csl(db: str, *args: str | Path) -> list[dict[str, object]]:
    result = trials(db, "export", "--format", "csl-json", EVERY_RECORD, *args)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def test_one_item_per_trial_that_citeproc_formats(db: str, now: dict[str, Current]) -> None:
    items = export_csl(db)
    assert [i["id"] for i in items] == sorted(now)
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    for item in items:
        bibliography.register(Citation([CitationItem(str(item["id"]))]))
    rendered = [str(entry) for entry in bibliography.bibliography()]
    assert len(rendered) == len(items)
    for entry in rendered:
        assert "Bethesda (MD): National Library of Medicine (US)" in entry
        assert "Available at: https://clinicaltrials.gov/study/NCT" in entry
    (known,) = [e for e in rendered if HISTORY_TRIAL in e]
    assert known.startswith("Daiichi Sankyo (2024) “A Study of Ifinatamab Deruxtecan")


def test_the_item_of_a_known_trial_field_by_field(db: str) -> None:
    with Catalogue.open(db) as catalogue:
        info = catalogue.version(HISTORY_TRIAL, 3)
    (item,) = export_csl(db, "--ids", HISTORY_TRIAL)
    seen = info.seen_at
    assert item == {
        "id": HISTORY_TRIAL, "type": "dataset",
        "title": "A Study of Ifinatamab Deruxtecan Versus Treatment of Physician's Choice in "
                 "Subjects With Relapsed Small Cell Lung Cancer",
        "title-short": "IDeate-Lung02",
        "author": [{"literal": "Daiichi Sankyo"}],
        "contributor": [{"literal": "Merck Sharp & Dohme LLC"}],
        "issued": {"date-parts": [[2024, 1, 12]]},
        "accessed": {"date-parts": [[seen.year, seen.month, seen.day]]},
        "version": "2026-03-02",
        "number": HISTORY_TRIAL, "archive": "ClinicalTrials.gov",
        "archive_location": HISTORY_TRIAL,
        "publisher": "National Library of Medicine (US)", "publisher-place": "Bethesda (MD)",
        "genre": "Clinical trial registration", "status": "RECRUITING",
        "URL": f"https://clinicaltrials.gov/study/{HISTORY_TRIAL}",
        "abstract": "This study was designed to compare the efficacy and safety of I-DXd with "
                    "treatment of physician's choice in participants with relapsed small cell "
                    "lung cancer (SCLC).",
        "keyword": "Small Cell Lung Cancer, Ifinatamab deruxtecan, I-DXd",
        "note": "Official title: A Phase 3, Multicenter, Randomized, Open-label Study of "
                "Ifinatamab Deruxtecan (I-DXd), a B7-H3 Antibody Drug Conjugate (ADC), Versus "
                "Treatment of Physician's Choice (TPC) in Subjects With Relapsed Small Cell "
                "Lung Cancer (SCLC) (IDeate-Lung02)\n"
                "Registry identifiers: NCT06203210; EU CT 2023-509628-16-00; other 2031230631\n"
                "Phase: PHASE3\n"
                # parser version 3: the outcomes and references of the record
                "Primary outcomes: Number of Participants With Objective Response Rate Assessed by "
                "Blinded Independent Central Review [Baseline up until documented progressive "
                "disease, death, lost to follow-up, or withdrawal by the participant, up to "
                "approximately 5 years]; Overall Survival [From the date of randomization to "
                "the date of death due to any cause, up to approximately 5 years]\n"
                "Publications (PubMed): PMID 41055143\n"
                f"Version exported: 3 from ctgov-json, last update posted 2026-03-02, "
                f"retrieved {seen:%Y-%m-%d}, sha256 {info.content_hash}, "
                f"https://clinicaltrials.gov/study/{HISTORY_TRIAL}?tab=history"}


def test_as_of_cites_the_old_version(db: str) -> None:
    (item,) = export_csl(db, "--ids", HISTORY_TRIAL, "--as-of", "2026-02-01")
    assert item["version"] == "2026-01-20"
    assert item["status"] == "ACTIVE_NOT_RECRUITING"
    assert "Version exported: 1 from ctgov-json" in str(item["note"])


def test_the_format_follows_the_json_suffix(db: str, tmp_path: Path) -> None:
    out = tmp_path / "refs.json"
    result = trials(db, "export", "-o", out, "--ids", HISTORY_TRIAL)
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())[0]["id"] == HISTORY_TRIAL
