"""The README's cron lines work as written: run as the shell runs them from cron (a minimal
environment, another home directory), against the loopback API server, with three saved
queries of which the server rejects one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.syncstate import save_query
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES
from tests.corpus import condition_hits

README = Path(__file__).resolve().parent.parent / "README.md"
TRIALS = Path(sys.executable).parent / "trials"


def cron_lines() -> list[str]:
    block = re.search(r"```cron\n(.*?)```", README.read_text(), re.S)
    assert block, "the README has a cron block"
    lines = [line for line in block.group(1).splitlines() if line and not line.startswith("#")]
    return [line.split(None, 5)[5] for line in lines]  # the command, without the schedule


@pytest.fixture
def srv() -> Iterator[ReplicaServer]:
    store = StudyStore.from_folder(FIXTURES / "ctgov-v2-json/studies",
                                   data_timestamp="2026-08-14T09:00:05")
    with ReplicaServer(store) as server:
        yield server


@pytest.mark.skipif(not TRIALS.exists(), reason="the trials console script is not installed")
def test_the_cron_lines_run_as_written(srv: ReplicaServer, tmp_path: Path) -> None:
    home, stubs, catalogue = tmp_path / "home", tmp_path / "bin", tmp_path / "catalogue.sqlite"
    (home / ".config/trial-harvester").mkdir(parents=True)
    # Only the server and the pace differ from production: set in the config file.
    (home / ".config/trial-harvester/trials.toml").write_text(
        f'base_url = "{srv.base_url}"\nmin_interval = 0\n')
    stubs.mkdir()
    mailbox = tmp_path / "mailbox"
    (stubs / "mail").write_text(f'#!/bin/sh\n{{ echo "SUBJECT: $2"; cat; echo "---"; }} '
                                f'>> {mailbox}\n')
    (stubs / "mail").chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/sh",
           "LANG": "C.UTF-8"}

    def run(line: str) -> subprocess.CompletedProcess[str]:
        line = line.replace("/opt/trials/.venv/bin/trials", str(TRIALS))
        line = re.sub(r"TRIALS_DB=\S+", f"TRIALS_DB={catalogue}", line)
        return subprocess.run(["/bin/sh", "-c", line], env=env, capture_output=True,
                              text=True, timeout=300)

    lines = cron_lines()
    assert len(lines) == 3 and all("TRIALS_DB=" in line for line in lines)
    # The saved queries: two good ones, and one saved by an older release that the server
    # now rejects (sync --save refuses to save it).
    save = run(f"TRIALS_DB={catalogue} {TRIALS} sync --cond allergy --save allergy --quiet")
    assert save.returncode == 0, save.stderr
    assert run(f"TRIALS_DB={catalogue} {TRIALS} sync --status RECRUITING --save recruiting "
               "--quiet").returncode == 0
    with Catalogue.open(str(catalogue)) as held:
        save_query(held, "bad", {"filter.advanced": "AREA[Bogus]x"})
        before = set(held.trial_ids())
    srv.store.remove(sorted(condition_hits("allergy"))[0])  # gone: a full pass would see it

    nightly = run(lines[0])
    assert nightly.returncode == 0  # `|| mail`: the failure went to the mailbox
    assert "trials: error: sync bad: could not run: HTTP 400" in nightly.stderr
    assert nightly.stdout == ""  # --quiet
    index = run(lines[1])
    assert index.returncode == 0, index.stderr
    digest = run(lines[2])
    assert digest.returncode == 0, digest.stderr
    mail = mailbox.read_text()
    first, second = mail.split("---\n")[:2]
    assert first.startswith("SUBJECT: trials sync: exit 3\n")
    assert second.startswith("SUBJECT: trial digest\nChanges since ")
    assert "Covers sync batch " in second and "(3 queries: allergy, bad, recruiting)" in second
    assert "FAILED: bad: failed: HTTP 400" in second
    assert "New trials (0)" in second
    assert not (home / ".local").exists()  # nothing made in the cron user's home
    with Catalogue.open(str(catalogue)) as held:
        assert set(held.trial_ids()) == before
    status = run(f"TRIALS_DB={catalogue} {TRIALS} status --max-age 36h")
    assert status.returncode == 1  # `bad` never synced
    assert "stale: bad: never synced successfully" in status.stderr
    assert os.path.getsize(catalogue) > 0
