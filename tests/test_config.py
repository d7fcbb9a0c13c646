"""The config file (option values by name; flags and environment override it) and the log
options every command takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from tests.conftest import FIXTURES

STUDIES = FIXTURES / "ctgov-v2-json/studies"


def run(*args: str | Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli.main, [str(a) for a in args], env=env or {})


def test_the_config_file_sets_options_and_flags_and_environment_win(tmp_path: Path) -> None:
    configured, flagged, env_db = (tmp_path / n for n in ("conf.sqlite", "flag.sqlite",
                                                          "env.sqlite"))
    config = tmp_path / "trials.toml"
    config.write_text(f'db = "{configured}"\n[import]\nbatch-size = 2\n')
    assert run("--config", config, "import", STUDIES, env={"TRIALS_DB": ""}).exit_code == 0
    assert configured.exists()
    assert run("--config", config, "import", "--db", flagged, STUDIES).exit_code == 0
    assert flagged.exists()
    assert run("--config", config, "import", STUDIES,
               env={"TRIALS_DB": str(env_db)}).exit_code == 0
    assert env_db.exists()
    runs = json.loads(run("--config", config, "runs", "--format", "json",
                          env={"TRIALS_DB": ""}).stdout)
    assert runs[0]["kind"] == "import"
    # the default file: trials.toml in the user config directory
    (tmp_path / "xdg/trial-harvester").mkdir(parents=True)
    (tmp_path / "xdg/trial-harvester/trials.toml").write_text(f'db = "{flagged}"\n')
    assert json.loads(run("runs", "--format", "json", env={
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "TRIALS_DB": ""}).stdout)[0]["id"] == 1


def test_a_bad_config_file_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "trials.toml"
    config.write_text("[snyc]\nwait = 1\n")
    result = run("--config", config, "runs")
    assert result.exit_code == 2 and "[snyc] is not a command" in result.output
    assert run("--config", tmp_path / "none.toml", "runs").exit_code == 2


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_file_appends_events(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "trials.log"
    db = tmp_path / "c.sqlite"
    for _ in range(2):
        assert run("import", "--db", db, STUDIES, "--log-file", log,
                   "--log-format", fmt).exit_code == 0
    bad = run("show", "--db", tmp_path / "none.sqlite", "NCT00000000", "--log-file", log,
              "--log-format", fmt)
    assert bad.exit_code == 3
    lines = log.read_text().splitlines()
    assert len(lines) == 5  # two runs started and finished, one error
    if fmt == "json":
        events = [json.loads(line) for line in lines]
        assert [(e["level"], e["run"]) for e in events[:2]] == [("info", 1), ("info", 1)]
        assert events[-1]["level"] == "error" and "no catalogue at" in events[-1]["message"]
        assert set(events[0]) == {"time", "level", "run", "query", "message"}
    else:
        assert lines[0].endswith("INFO run 1: import run started")
        assert "ERROR no catalogue at" in lines[-1]


def test_an_error_is_said_once_when_no_log_file_is_set(tmp_path: Path) -> None:
    # Without --log-file the "trials" logger has nowhere to go; Python's last-resort handler
    # used to print every error a second time, bare, under the "trials: error:" line.
    import subprocess
    import sys

    missing = tmp_path / "nope.sqlite"
    done = subprocess.run([sys.executable, str(Path(cli.__file__)), "show", "NCT00000000",
                           "--db", str(missing)], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trials: error: no catalogue at"), lines
    assert not missing.exists()
