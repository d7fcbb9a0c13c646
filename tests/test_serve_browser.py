"""``trials serve`` in a real browser: Debian's Chromium driven by Playwright (never
``playwright install``).  One walk through what a researcher does: search with filters →
trial page → history diff → similar → compare → export download (read back).

Set ``TRIALS_SCREENSHOTS=docs`` to save screenshots of the main pages there (the README's).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.catalogue import Catalogue
from harvester.commands._webform import search_form
from harvester.serve.web import make_app
from harvester.serve.web.server import running
from tests.conftest import empty_catalogue, trials
from tests.corpusdb import CORPUS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]
HISTORY = "NCT06203210"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser")
    with empty_catalogue("sqlite", folder) as url:
        assert trials(url, "import", *CORPUS).exit_code == 0
        with running(make_app(Catalogue.open(url), search_form())) as served:
            yield served


def _shot(page: object, name: str) -> None:
    folder = os.environ.get("TRIALS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)  # type: ignore[attr-defined]


def test_search_trial_history_similar_compare_export(base: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(accept_downloads=True,
                                          viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith((base, "data:")) else None)

            # Search with words and a filter.
            page.goto(base + "/")
            page.fill("#q", "lung cancer")
            page.locator("details.filters summary").click()
            page.select_option("#f-status", ["RECRUITING"])
            page.click("form.search button[type=submit]")
            hits = page.locator("ol.hits li.hit")
            expect(hits.first).to_be_visible()
            assert "status=RECRUITING" in page.url
            assert page.locator("mark").count() > 0
            statuses = page.locator("ol.hits .meta .status").all_inner_texts()
            assert statuses and set(statuses) == {"Recruiting"}
            page.locator("details.filters summary").click()  # folded, for the picture
            _shot(page, "search")

            # Export the search: the browser downloads a zip, read back.
            with page.expect_download() as info:
                page.click("form.export button[type=submit]")
            saved = tmp_path / info.value.suggested_filename
            info.value.save_as(saved)
            archive = zipfile.ZipFile(io.BytesIO(saved.read_bytes()))
            data = next(n for n in archive.namelist() if n.endswith(".csv"))
            log = archive.read("search-log.md").decode()
            shown = int(page.locator("p.count strong").inner_text())
            assert f"Exported: {shown}" in log
            assert archive.read(data).decode("utf-8-sig").startswith("nct_id,")

            # A trial page, then its history with a diff of two versions.
            page.goto(f"{base}/trial/{HISTORY}")
            expect(page.locator("h1")).to_contain_text("")
            assert page.locator("#sites svg circle").count() > 0
            assert page.locator("#eligibility li").count() > 2
            _shot(page, "trial")
            page.click("text=History (3 versions)")
            page.check("input[name=from][value='1']")
            page.check("input[name=to][value='3']")
            page.click("text=Compare the two versions picked")
            expect(page.locator("section.diff h2")).to_have_text("Version 1 → version 3")
            assert page.locator("section.diff tbody tr").count() > 3
            _shot(page, "history")

            # Similar trials, then the two best compared side by side.
            page.goto(f"{base}/trial/{HISTORY}/similar")
            assert page.locator("ol.similar svg.bar").count() >= 3
            _shot(page, "similar")
            page.click("text=Compare NCT06203210 with the trials ticked")
            expect(page.locator("table.compare")).to_be_visible()
            columns = page.locator("table.compare thead th a").all_inner_texts()
            assert columns[0] == HISTORY and len(columns) == 3
            assert page.locator("table.compare tr.differs").count() > 0
            _shot(page, "compare")

            assert not errors, errors  # no CSP violation or script error
            assert not outside, outside  # nothing fetched from outside the server
        finally:
            browser.close()


def test_pages_read_with_javascript_off(base: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(java_script_enabled=False).new_page()
            page.goto(f"{base}/?q=tigit")
            page.locator("ol.hits li.hit").first.wait_for()
            page.locator("ol.hits input[type=checkbox]").nth(0).check()
            page.locator("ol.hits input[type=checkbox]").nth(1).check()
            page.click("text=Compare the trials ticked")
            assert re.search(r"/compare\?ids=NCT\d{8}&ids=NCT\d{8}", page.url)
            assert page.locator("table.compare thead th a").count() == 2
        finally:
            browser.close()

