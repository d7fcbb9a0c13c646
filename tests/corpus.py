"""What a search of the fixture studies should return, read straight from the files (never
through the replica's own query engine)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import FIXTURES

STUDIES = FIXTURES / "ctgov-v2-json" / "studies"


def fixture_studies() -> dict[str, dict[str, Any]]:
    """The fixture studies by NCT id."""
    found = {}
    for path in sorted(STUDIES.glob("*.json")):
        study = json.loads(path.read_bytes())
        found[study["protocolSection"]["identificationModule"]["nctId"]] = study
    return found


def condition_hits(word: str) -> set[str]:
    """Studies whose conditions, keywords, titles or condition MeSH terms contain ``word``
    (whole word, any case): what ``query.cond`` searches."""
    hits = set()
    for nct, study in fixture_studies().items():
        protocol = study["protocolSection"]
        conditions = protocol.get("conditionsModule", {})
        browse = study.get("derivedSection", {}).get("conditionBrowseModule", {})
        texts = [*conditions.get("conditions", []), *conditions.get("keywords", []),
                 protocol["identificationModule"].get("briefTitle", ""),
                 protocol["identificationModule"].get("officialTitle", ""),
                 *(m["term"] for m in browse.get("meshes", [])),
                 *(m["term"] for m in browse.get("ancestors", []))]
        if any(re.search(rf"\b{word}\b", text, re.IGNORECASE) for text in texts):
            hits.add(nct)
    return hits
