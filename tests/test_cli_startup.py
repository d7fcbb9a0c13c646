"""cli.py starts at once: `trials --help` imports no subcommand, and `trials show` and
`trials status` import only what reading the catalogue needs (no database stack on SQLite, no
HTTP stack, HTML or XML parser, exporters, search); a nightly `trials sync` that finds nothing
new, alone or as the nightly `trials sync --all`, imports neither the database stack nor the
HTTP stack (harvester.fetch.quicksync, harvester.fetch.quickbatch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cli
from tests.conftest import FIXTURES, trials

ROOT = Path(__file__).resolve().parent.parent

#: Runs the CLI in a fresh interpreter, then prints the names of the modules it imported.
_PROBE = """
import json, sys
sys.argv = ["trials", *json.loads(sys.argv[1])]
import cli
try:
    cli.main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\n@@" + json.dumps(sorted(sys.modules)))
"""

#: What `trials show` may import from the project (subset pinned: a new import must be
#: argued for here).  On a SQLite catalogue it reads through the standard library's sqlite3
#: (harvester.catalogue.quick) and prints the stored JSON as it is
#: (harvester.catalogue.recordview): no SQLAlchemy, no table classes, no store, no record
#: classes.
SHOW_MAY_IMPORT = {
    "cli", "harvester", "harvester.errors", "harvester.fetch", "harvester.commands",
    "harvester.commands._common", "harvester.commands.config",
    "harvester.commands.browse", "harvester.commands.views",
    "harvester.commands.record_sections",  # the table view of outcomes, people, results
    "harvester.catalogue", "harvester.catalogue.location", "harvester.catalogue.quick",
    "harvester.catalogue.recordcodec",  # the standard library's zlib
    "harvester.catalogue.recordview", "harvester.catalogue.versioninfo", "harvester.sources",
}
#: Libraries `trials show` must not load: the database stack (SQLite is read with sqlite3),
#: the record classes (pydantic), the HTTP stack, HTML and XML parsing, exporters, the web
#: server.
SHOW_MUST_NOT_IMPORT = ("sqlalchemy", "sqlmodel", "psycopg", "pydantic", "requests",
                        "urllib3", "tenacity", "bs4", "soupsieve", "lxml", "openpyxl",
                        "pyarrow", "starlette", "uvicorn", "jinja2")


#: What `trials status` may import from the project: on a SQLite catalogue it reads through
#: sqlite3 too (harvester.catalogue.quick), and needs no record classes.
STATUS_MAY_IMPORT = {
    "cli", "harvester", "harvester.errors", "harvester.commands",
    "harvester.commands._common", "harvester.commands.config", "harvester.commands.operate",
    "harvester.catalogue", "harvester.catalogue.location", "harvester.catalogue.lock",
    "harvester.catalogue.quick", "harvester.catalogue.statusinfo",
    "harvester.catalogue.versioninfo",
}
STATUS_MUST_NOT_IMPORT = SHOW_MUST_NOT_IMPORT


#: What a no-change `trials sync` may import from the project: on a SQLite catalogue it
#: checks and records with sqlite3 and asks the API with http.client
#: (harvester.fetch.quicksync); no record classes, no parsers, no store.
SYNC_MAY_IMPORT = {
    "cli", "harvester", "harvester.errors", "harvester.commands",
    "harvester.commands._common", "harvester.commands.config", "harvester.commands.syncing",
    "harvester.catalogue", "harvester.catalogue.location", "harvester.catalogue.lock",
    "harvester.catalogue.statusinfo", "harvester.fetch", "harvester.fetch.params",
    "harvester.fetch.pace", "harvester.fetch.quickhttp", "harvester.fetch.quicksync",
    "harvester.fetch.summary",
}
#: ``sync --all``: the same, and the batch around the queries.
SYNC_ALL_MAY_IMPORT = {*SYNC_MAY_IMPORT, "harvester.fetch.quickbatch"}
#: The database stack, the HTTP stack (requests, urllib3, tenacity), the record classes
#: (pydantic) and the terminal toolkit (rich: no progress bar is drawn off a terminal).
SYNC_MUST_NOT_IMPORT = (*STATUS_MUST_NOT_IMPORT, "rich")


def _modules(*args: str) -> tuple[str, set[str]]:
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    shown, _, names = out.stdout.rpartition("\n@@")
    return shown, set(json.loads(names))


def test_group_help_imports_no_subcommand_module() -> None:
    shown, modules = _modules("--help")
    assert "show     Show a trial's current record" in shown
    assert not {m for m in modules if m.startswith("harvester.commands.")}
    assert "sqlalchemy" not in modules


def test_every_command_has_its_summary_in_the_group_help() -> None:
    """The summaries `trials --help` prints without importing are each command's own."""
    assert set(cli.SUMMARIES) <= set(cli.COMMANDS)
    for name in cli.COMMANDS:
        command = cli.main.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None
        assert cli.SUMMARIES.get(name) == command.get_short_help_str(limit=1000), name


def test_show_imports_only_what_reading_needs(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    assert trials(db, "import", FIXTURES / "ctgov-v2-json" / "studies").exit_code == 0
    shown, modules = _modules("show", "NCT00973089", "--db", db)
    assert "NCT00973089" in shown
    ours = {m for m in modules if m.split(".")[0] in ("cli", "harvester", "parsers")}
    assert ours <= SHOW_MAY_IMPORT, sorted(ours - SHOW_MAY_IMPORT)
    heavy = {m for m in modules if m.split(".")[0] in SHOW_MUST_NOT_IMPORT}
    assert not heavy, sorted(heavy)


def test_status_imports_only_what_reading_needs(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    assert trials(db, "import", FIXTURES / "ctgov-v2-json" / "studies").exit_code == 0
    for args in ((), ("--format", "json")):
        shown, modules = _modules("status", "--db", db, *args)
        assert "catalogue" in shown and str(tmp_path) in shown
        ours = {m for m in modules if m.split(".")[0] in ("cli", "harvester", "parsers")}
        assert ours <= STATUS_MAY_IMPORT, sorted(ours - STATUS_MAY_IMPORT)
        heavy = {m for m in modules if m.split(".")[0] in STATUS_MUST_NOT_IMPORT}
        assert not heavy, sorted(heavy)


def test_a_no_change_sync_imports_neither_database_nor_http_stack(tmp_path: Path) -> None:
    from harvester.serve import ReplicaServer, StudyStore

    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    store = StudyStore.from_folder(FIXTURES / "ctgov-v2-json" / "studies")
    with ReplicaServer(store) as server:
        sync = ("sync", "--db", db, "--base-url", server.base_url, "--min-interval", "0",
                "--no-progress")
        assert trials(None, *sync).exit_code == 0  # the first pass: the full path
        for name, search in (("done", "COMPLETED"), ("open", "RECRUITING")):
            assert trials(None, *sync, "--status", search, "--save", name).exit_code == 0
        shown, modules = _modules(*sync)
        shown_all, modules_all = _modules(*sync, "--all")
    assert "0 new, 0 changed" in shown and "0 failed" in shown
    assert "(done): incremental" in shown_all and "(open): incremental" in shown_all
    for may, imported in ((SYNC_MAY_IMPORT, modules), (SYNC_ALL_MAY_IMPORT, modules_all)):
        ours = {m for m in imported if m.split(".")[0] in ("cli", "harvester", "parsers")}
        assert ours <= may, sorted(ours - may)
        heavy = {m for m in imported if m.split(".")[0] in SYNC_MUST_NOT_IMPORT}
        assert not heavy, sorted(heavy)
