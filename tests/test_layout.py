"""The import rules of the layout: data flows fetch → parse → store → use, and only the CLI
prints or chooses exit codes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("parsers"), ids=lambda p: p.name)
def test_parsers_are_pure(path: Path) -> None:
    """A parser imports the record and the errors, never the network, store or clock."""
    forbidden = ("harvester.catalogue", "harvester.commands", "harvester.ingest.importer",
                 "harvester.ingest.inputs", "requests", "sqlalchemy", "sqlmodel", "click", "time",
                 "datetime.datetime")
    bad = {m for m in _imports(path) if m.startswith(forbidden)}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", [p for p in _modules("harvester")
                                  if "commands" not in p.parts], ids=lambda p: p.name)
def test_only_the_cli_prints_and_exits(path: Path) -> None:
    assert not {m for m in _imports(path) if m.startswith(("click", "harvester.commands"))}
    calls = [node.func for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call)]
    names = {f.id for f in calls if isinstance(f, ast.Name)} | {
        f"{f.value.id}.{f.attr}" for f in calls
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)}
    assert not names & {"print", "sys.exit", "exit"}, path.name


def test_harvester_root_reads_as_the_pipeline() -> None:
    """The package root holds only what every stage shares (the errors, the kinds of source
    a record comes from — apart from the record classes so that naming them costs no
    pydantic — and the typed record); the rest is grouped by stage (fetch → ingest →
    catalogue → find → export → serve, and the CLI's commands)."""
    root = ROOT / "harvester"
    modules = {p.name for p in root.glob("*.py")}
    packages = {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    assert modules == {"__init__.py", "errors.py", "sources.py"}
    assert packages == {"records", "fetch", "ingest", "catalogue", "find", "export", "serve",
                        "commands"}
