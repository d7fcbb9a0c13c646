"""Registry clients no one here wrote, harvesting ``trials serve`` instead of ClinicalTrials.gov.

pytrials and tap-clinicaltrials run unmodified but for their base URL; ``trials sync
--base-url`` copies one catalogue into another through the served API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue import tables as t
from harvester.commands._webform import search_form
from harvester.serve.web import make_app
from harvester.serve.web.server import running
from tests import corpusdb
from tests.conftest import empty_catalogue, trials

corpus_url = corpusdb.corpus_url
V = t.Version.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def served(corpus_url: str) -> Iterator[str]:
    with running(make_app(Catalogue.open(corpus_url), search_form())) as base:
        yield base


def _api_ids(base: str, **params: str) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        query = {**params, "pageSize": "1000", **({"pageToken": token} if token else {})}
        page = requests.get(f"{base}/api/v2/studies", params=query, timeout=30).json()
        ids += [s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]
        token = page.get("nextPageToken")
        if not token:
            return ids


def test_pytrials(served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytrials.client import ClinicalTrials

    monkeypatch.setattr(ClinicalTrials, "_BASE_URL", f"{served}/api/v2/")
    client = ClinicalTrials()
    assert client.api_info[0] == "2.0.5"
    full = client.get_full_studies(search_expr="cancer", max_studies=50, fmt="json")
    got = [s["protocolSection"]["identificationModule"]["nctId"] for s in full["studies"]]
    assert got and got == _api_ids(served, **{"query.term": "cancer"})[:50]
    fields = client.get_study_fields(search_expr="TIGIT", fields=["NCTId", "BriefTitle"],
                                     max_studies=10, fmt="json")
    for study in fields["studies"]:
        assert set(study["protocolSection"]) == {"identificationModule"}
        assert set(study["protocolSection"]["identificationModule"]) == {"nctId", "briefTitle"}


def test_tap_clinicaltrials(served: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    import tap_clinicaltrials.tap as tap_module
    from tap_clinicaltrials import streams

    monkeypatch.chdir(tmp_path)  # the tap keeps a requests-cache file in the working folder
    monkeypatch.setattr(streams.Studies, "url_base", f"{served}/api")
    real_get = requests.get

    def get(url: str, *args: Any, **kwargs: Any) -> requests.Response:
        return real_get(url.replace("https://clinicaltrials.gov", served), *args, **kwargs)

    monkeypatch.setattr(tap_module.requests, "get", get)
    tap = tap_module.TapClinicalTrials(config={"condition": "lung"})
    tap.sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()
                if line.startswith("{")]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert records
    assert sorted(r["nctId"] for r in records) == sorted(_api_ids(served, **{
        "query.cond": "lung"}))
    dates = [r["lastUpdateSubmitDate"] for r in records]
    assert dates == sorted(dates)  # the order it asked for
    assert any(m["type"] == "STATE" for m in messages)


def test_sync_from_served_catalogue_reproduces_it(served: str, corpus_url: str,
                                                  tmp_path: Path) -> None:
    with empty_catalogue("sqlite", tmp_path) as copy:
        result = trials(copy, "sync", "--base-url", served, "--min-interval", "0", "--quiet")
        assert result.exit_code == 0, result.output
        source, target = sa.create_engine(corpus_url), sa.create_engine(copy)
        served_ids = _api_ids(served)
        with source.connect() as a, target.connect() as b:
            # Each trial's API record, as the original catalogue holds it now.
            stmt = sa.text(
                "SELECT v.nct_id, v.content_hash FROM version v JOIN trial t "
                "ON t.current_version_id = v.id WHERE v.source = 'ctgov-json'")
            original = dict(a.execute(stmt).all())
            copied = dict(b.execute(stmt).all())
        source.dispose()
        target.dispose()
    assert sorted(copied) == sorted(served_ids)
    assert {n: h for n, h in original.items() if n in copied} == copied


def test_sync_with_history_copies_every_version(served: str, corpus_url: str,
                                                tmp_path: Path) -> None:
    with empty_catalogue("sqlite", tmp_path) as copy:
        result = trials(copy, "sync", "--base-url", served, "--min-interval", "0", "--quiet",
                        "--ids", "NCT06203210", "--with-history")
        assert result.exit_code == 0, result.output
        engine = sa.create_engine(copy)
        stmt = sa.text("SELECT registry_date FROM version WHERE nct_id = 'NCT06203210' "
                       "AND source = 'ctgov-json' ORDER BY registry_date")
        with engine.connect() as conn:
            copied = list(conn.execute(stmt).scalars())
        engine.dispose()
    source = sa.create_engine(corpus_url)
    with source.connect() as conn:
        original = list(conn.execute(stmt).scalars())
    source.dispose()
    assert copied == original and len(original) == 3
