"""``trials mcp``, driven by the MCP SDK's own client over stdio (a real subprocess)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests import corpusdb

corpus_url = corpusdb.corpus_url
CLI = Path(__file__).resolve().parent.parent / "cli.py"
HISTORY = "NCT06203210"


def _text(result: Any) -> str:
    return "".join(part.text for part in result.content if getattr(part, "text", None))


def _json(result: Any) -> Any:
    text = _text(result)
    return json.loads(text[text.index("{"):] if not text.startswith(("{", "[")) else text)


def test_tools_over_stdio(corpus_url: str, tmp_path: Path) -> None:
    params = StdioServerParameters(command=sys.executable,
                                   args=[str(CLI), "mcp", "--db", corpus_url])

    async def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Client(params) as client:
            out["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
            first = await client.call_tool("search", {"query": "cancer", "limit": 3})
            out["first"] = (_text(first), _json(first))
            cursor = out["first"][1]["next_cursor"]
            out["second"] = _json(await client.call_tool(
                "search", {"query": "cancer", "limit": 3, "cursor": cursor}))
            out["filtered"] = _json(await client.call_tool(
                "search", {"filters": {"status": ["RECRUITING"], "phase": ["3"]}, "limit": 50}))
            out["study"] = _json(await client.call_tool(
                "get_study", {"nct_id": HISTORY, "as_of": "2026-02-01"}))
            out["history"] = json.loads(_text(await client.call_tool(
                "history", {"nct_id": HISTORY})))
            out["diff"] = _json(await client.call_tool(
                "diff", {"nct_id": HISTORY, "from_version": 1, "to_version": 2}))
            out["similar"] = _json(await client.call_tool("similar", {"nct_id": HISTORY,
                                                                      "top": 3}))
            out["compare"] = _json(await client.call_tool(
                "compare", {"nct_ids": [HISTORY, "NCT04585815"], "only_differences": True}))
            out["export"] = _json(await client.call_tool("export", {
                "path": str(tmp_path / "recruiting.ris"), "format": "ris",
                "filters": {"status": ["RECRUITING"]}}))
            out["status"] = _json(await client.call_tool("status", {}))
            out["bad_filter"] = await client.call_tool("search", {"filters": {"colour": ["x"]}})
            out["bad_id"] = await client.call_tool("get_study", {"nct_id": "NCT99999998"})
            out["bad_date"] = await client.call_tool("get_study", {"nct_id": HISTORY,
                                                                   "as_of": "soon"})
        return out

    out = asyncio.run(session())
    assert out["tools"] == ["compare", "diff", "export", "get_study", "history", "search",
                            "similar", "status"]
    text, first = out["first"]
    assert len(first["results"]) == 3 and first["total"] > 3
    assert f"next cursor: {first['next_cursor']}" in text  # the cursor is in the text too
    second = out["second"]
    assert second["offset"] == 3
    assert not {r["nct_id"] for r in first["results"]} & {r["nct_id"] for r in
                                                            second["results"]}
    assert out["filtered"]["results"]
    assert all(r["status"] == "RECRUITING" and "PHASE3" in r["phases"]
               for r in out["filtered"]["results"])
    assert out["study"]["version"]["version"] == 1
    assert out["study"]["record"]["nct_id"] == HISTORY
    assert [v["version"] for v in out["history"]] == [1, 2, 3]
    assert any(c["field"] == "overall_status" for c in out["diff"]["changes"])
    assert len(out["similar"]["similar"]) == 3
    assert out["compare"]["trials"] == [HISTORY, "NCT04585815"]
    assert all(row["differs"] for row in out["compare"]["rows"])
    exported = out["export"]
    assert exported["exported"] > 0
    assert Path(exported["path"]).read_text().count("ER  -") == exported["exported"]
    assert "Exported:" in Path(exported["log"]).read_text()
    assert out["status"]["trials"] > 0
    for name in ("bad_filter", "bad_id", "bad_date"):
        assert out[name].is_error, name
    assert "unknown filter 'colour'" in _text(out["bad_filter"])
    assert "NCT99999998 is not in the catalogue" in _text(out["bad_id"])
    assert re.search(r"not a date", _text(out["bad_date"]))
