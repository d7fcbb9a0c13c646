"""``trials serve`` and ``trials mcp`` on the command line: defaults, warnings, help."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

import cli
from harvester.catalogue import Catalogue
from tests.conftest import empty_catalogue


@pytest.mark.parametrize(("args", "host", "warned"), [
    ([], "127.0.0.1", False),
    (["--host", "localhost"], "localhost", False),
    (["--host", "0.0.0.0"], "0.0.0.0", True),
])
def test_serve_binds_to_loopback_unless_told(args: list[str], host: str, warned: bool,
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    with empty_catalogue("sqlite", tmp_path) as url:
        Catalogue.open(url, create=True).close()
        result = CliRunner().invoke(cli.main, ["serve", "--db", url, *args])
    assert result.exit_code == 0, result.output
    assert calls[0]["host"] == host and calls[0]["port"] == 8765
    assert ("anyone who can reach this machine" in result.stderr) is warned
    assert f"serving on http://{host}:8765/" in result.stderr


def test_help_has_examples() -> None:
    for name in ("serve", "mcp"):
        result = CliRunner().invoke(cli.main, [name, "--help"])
        assert result.exit_code == 0 and "Examples:" in result.output
