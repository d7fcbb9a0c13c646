"""``trials parse`` end to end: formats, stdin, errors on stderr, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import cli
from tests.conftest import FIXTURES

VEEVA = str(FIXTURES / "mirror-veeva" / "NCT00557986.txt")
STUDY = str(FIXTURES / "ctgov-v2-json" / "studies" / "NCT00973089__aact.json")
XML = str(FIXTURES / "ctgov-xml" / "NCT02654730__aact.xml")
PAGE = str(FIXTURES / "ctgov-v2-json" / "list-pages" / "biomcp__search_phelan_limit5_20260811.json")


def _run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_one_file_prints_one_json_object() -> None:
    code, out, err = _run("parse", VEEVA)
    assert code == 0, err
    record = json.loads(out)
    assert record["nct_id"] == "NCT00557986" and record["source"] == "veeva"
    assert record["enrollment"] == {"count": 281, "type": None}


def test_several_studies_print_a_json_array_in_order() -> None:
    code, out, _ = _run("parse", STUDY, XML, PAGE)
    assert code == 0
    records = json.loads(out)
    assert [r["nct_id"] for r in records][:2] == ["NCT00973089", "NCT02654730"]
    assert len(records) == 7
    assert records[1]["source"] == "ctgov-xml" and records[1]["overall_status"] == "TERMINATED"


def test_jsonl_is_one_record_per_line() -> None:
    code, out, _ = _run("parse", "--format", "jsonl", PAGE)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 5
    assert all(json.loads(line)["source"] == "ctgov-json" for line in lines)


def test_table_is_a_readable_summary() -> None:
    code, out, _ = _run("parse", "--format", "table", VEEVA)
    assert code == 0
    assert "NCT00557986  Local Surgery for Metastatic Breast Cancer" in out
    assert "281 (type not given)" in out
    assert "Procedure: Primary surgery" in out


def test_stdin_and_forced_source() -> None:
    data = Path(VEEVA).read_bytes()
    code, out, _ = _run("parse", "--source", "veeva", "-", stdin=data)
    assert code == 0 and json.loads(out)["nct_id"] == "NCT00557986"
    code, out, err = _run("parse", "--source", "ctgov-json", "-", stdin=data)
    assert code == 1 and "<stdin>: not valid JSON" in err


def test_bad_files_are_named_on_stderr_and_the_rest_still_parse(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(Path(STUDY).read_bytes()[:500])
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: eggs, milk\n")
    no_id = tmp_path / "no-id.json"
    no_id.write_text('{"protocolSection": {"identificationModule": {"briefTitle": "x"}}}')
    code, out, err = _run("parse", str(truncated), VEEVA, str(notes), str(no_id),
                          str(tmp_path / "missing.json"))
    assert code == 1
    assert json.loads(out)["nct_id"] == "NCT00557986"
    lines = err.splitlines()
    assert any(f"{truncated}: not valid JSON" in line for line in lines)
    assert any(f"{notes}: not JSON, XML or HTML" in line for line in lines)
    assert any(f"{no_id}: no NCT id (field protocolSection.identificationModule.nctId)"
               in line for line in lines)
    assert any("missing.json: cannot read" in line for line in lines)
    assert lines[-1] == "trials: error: 4 problem(s) in 4 of 5 file(s)"


def test_oversized_input_is_refused(tmp_path: Path) -> None:
    code, out, err = _run("parse", "--max-bytes", "1000", STUDY)
    assert code == 1 and out == ""
    assert "above the 1,000 byte limit" in err or "above the 1,000 limit" in err


def test_unknown_vocabulary_is_kept_and_warned_about(tmp_path: Path) -> None:
    page = tmp_path / "veeva.txt"
    page.write_text(Path(VEEVA).read_text().replace("\nCompleted\n", "\nPaused Indefinitely\n"))
    code, out, err = _run("parse", str(page))
    assert code == 0
    assert json.loads(out)["overall_status"] == "Paused Indefinitely"
    assert f"trials: warning: {page}: NCT00557986:" in err and "Paused Indefinitely" in err


def test_every_command_has_an_example_in_its_help() -> None:
    for name, command in [("trials", cli.main), *cli.main.commands.items()]:
        help_text = command.get_help(cli.click.Context(command, info_name=name))
        assert "Example" in help_text, name


def test_console_script_and_python_cli_py_work() -> None:
    root = Path(cli.__file__).parent
    via_module = subprocess.run([sys.executable, str(root / "cli.py"), "parse", VEEVA],
                                capture_output=True, check=True)
    script = Path(sys.executable).parent / "trials"
    via_script = subprocess.run([str(script), "parse", VEEVA], capture_output=True, check=True)
    assert via_module.stdout == via_script.stdout
    assert json.loads(via_script.stdout)["org_study_id"] == "MF07-01"
