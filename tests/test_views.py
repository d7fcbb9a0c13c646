"""The terminal views of records (``--format table``)."""

from __future__ import annotations

from rich.console import Console

from harvester.commands.views import record_view
from parsers import parse_bytes
from tests.conftest import FIXTURES


def _text(path: str) -> str:
    (record,) = parse_bytes((FIXTURES / path).read_bytes())
    console = Console(width=200, record=True)
    console.print(record_view(record))
    return console.export_text()


def test_record_view_shows_mesh_terms_when_the_source_has_them() -> None:
    text = _text("ctgov-v2-json/studies/NCT03661047__partrita-tigit.json")
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert "Colonic Neoplasms; Polyps; Colorectal Neoplasms" in lines["condition MeSH"]
    assert ("eicosapentaenoic acid ethyl ester; Fatty Acids, Omega-3"
            in lines["intervention MeSH"])
    assert "Intestinal Neoplasms" not in text  # ancestors are not shown
    veeva = _text("mirror-veeva/NCT00557986.txt")
    assert "conditions" in veeva and "MeSH" not in veeva
