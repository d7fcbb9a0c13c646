"""Chaos: `trials sync` against a loopback replica that stalls, trickles, refuses (403),
resets connections mid-body and lies about Content-Length, killed with kill -9 at seeded
random moments, on SQLite and PostgreSQL.  Nothing is lost, no version is stored twice,
killed runs are marked interrupted and the next run resumes.  Run alone: ``pytest -m chaos``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.serve import ReplicaServer, StudyStore
from harvester.serve.faults import Fault, Faults
from tests.conftest import trials
from tests.test_importer import counts
from tests.test_sync import generated, held, version_count
from tests.test_workers import assert_all_end, descendants

pytestmark = pytest.mark.chaos
ROOT = Path(__file__).resolve().parent.parent
STUDIES = "/api/v2/studies"


def duplicates(url: str) -> int:
    """Versions stored twice: the same trial, source and content more than once."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT nct_id, source, content_hash FROM version "
            "GROUP BY nct_id, source, content_hash HAVING count(*) > 1) AS d")).scalar_one()
    engine.dispose()
    return int(count)


def statuses(url: str) -> list[str]:
    with Catalogue.open(url) as cat:
        return [r["status"] for r in cat.runs(limit=100)]


def sync_args(server: ReplicaServer, *more: str) -> list[str]:
    return ["--base-url", server.base_url, "--min-interval", "0", "--page-size", "50",
            "--quiet", *more]


def test_a_trickling_server_cannot_hang_a_sync(db_url: str) -> None:
    with ReplicaServer(StudyStore(generated(100))) as server:
        server.faults.trickle(100, interval=0.05, path=STUDIES)
        started = time.monotonic()
        result = trials(db_url, "sync", *sync_args(server, "--timeout", "0.3", "--retries",
                                                   "1"))
        assert time.monotonic() - started < 10  # not 600 s: 2 attempts × 0.3 s (+ probes)
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "deadline" in errors[0]
    assert statuses(db_url) == ["failed"]


class _StallFromThirdPage(Faults):
    """Answers two pages of the search, then stalls every later request for it."""

    def __init__(self) -> None:
        super().__init__()
        self.pages = 0
        self.on = True

    def take(self, path: str) -> Fault | None:
        if path == STUDIES and self.on:
            self.pages += 1
            if self.pages >= 3:
                return Fault("stall", seconds=20)
        return super().take(path)


def test_a_server_that_stalls_mid_sync_leaves_an_incomplete_run_that_resumes(
        db_url: str) -> None:
    faults = _StallFromThirdPage()
    with ReplicaServer(StudyStore(generated(200)), faults) as server:
        result = trials(db_url, "sync", *sync_args(server, "--timeout", "0.3", "--retries",
                                                   "1"))
        assert result.exit_code == 1, result.stderr  # incomplete: two pages were stored
        assert "incomplete" in result.stderr and "deadline" in result.stderr
        assert version_count(db_url) == 100 and duplicates(db_url) == 0
        faults.on = False
        resumed = trials(db_url, "sync", *sync_args(server, "--format", "json"))
        assert resumed.exit_code == 0, resumed.stderr
    assert len(held(db_url)) == 200 == version_count(db_url) and duplicates(db_url) == 0
    assert statuses(db_url) == ["ok", "incomplete"]


def test_403_ends_the_sync_with_a_hint_and_no_retry(db_url: str) -> None:
    with ReplicaServer(StudyStore(generated(10))) as server:
        server.faults.forbidden(10, path=STUDIES)
        result = trials(db_url, "sync", *sync_args(server))
        assert server.faults.requests[STUDIES] == 1  # refused once, not asked again
    assert result.exit_code == 3
    (line,) = [line for line in result.stderr.splitlines() if "error" in line]
    assert "refused by the server (possibly blocked)" in line and "HTTPS_PROXY" in line


def test_syncs_killed_at_random_moments_lose_nothing(db_url: str) -> None:
    rng = random.Random(1207)
    total = 400
    with ReplicaServer(StudyStore(generated(total))) as server:
        # Misbehaviour: broken bodies and refusals, retried (each retry of a broken body
        # waits a random backoff of up to 1, 2, 4 … s, so only a few of them here).
        server.faults.reset(1, path=STUDIES)
        server.faults.unavailable(2, retry_after=0, path=STUDIES)
        server.faults.wrong_length(1, delta=64, path=STUDIES)
        server.faults.slow(0.1, n=10_000, path=STUDIES)
        Catalogue.open(db_url).close()
        command = [sys.executable, str(ROOT / "cli.py"), "sync", "--db", db_url,
                   *sync_args(server)]
        for kill in range(2):
            before = version_count(db_url)
            target = before + 50 * rng.randint(1, 2)
            proc = subprocess.Popen(command, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while version_count(db_url) < target:
                assert proc.poll() is None, f"kill {kill}: the sync ended before the kill"
                assert time.monotonic() < deadline, f"kill {kill}: the sync did not get going"
                time.sleep(rng.uniform(0.0, 0.1))
            below = descendants(proc.pid)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            assert_all_end(below)
            if proc.stderr:
                proc.stderr.close()
            stored = counts(db_url)  # consistent: whole transactions only
            assert stored["orphans"] == stored["dangling"] == 0
            assert stored["version"] == stored["trial"] and duplicates(db_url) == 0
        server.faults.clear()
        result = trials(db_url, "sync", *sync_args(server))
        assert result.exit_code == 0, result.stderr
    assert len(held(db_url)) == total == version_count(db_url)
    assert duplicates(db_url) == 0
    runs = statuses(db_url)
    assert runs[0] == "ok" and set(runs[1:]) <= {"interrupted", "ok"}
    assert "interrupted" in runs[1:] or len(runs) < 3
