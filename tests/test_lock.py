"""The writer lock: one writer at a time, and a refused writer learns who holds it."""

from __future__ import annotations

import os
import re
import socket
import time

import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.lock import lock_holder, set_command, writer_lock
from harvester.errors import CatalogueBusyError
from tests.conftest import FIXTURES, trials

STUDY = FIXTURES / "ctgov-v2-json/studies"


def test_the_holder_is_recorded_and_cleared(db_url: str) -> None:
    set_command(["sync", "--all", "--db", "postgresql://u:secret@h/db"])
    with Catalogue.open(db_url) as catalogue:
        assert lock_holder(catalogue.engine) is None
        with writer_lock(catalogue.engine):
            holder = lock_holder(catalogue.engine)
            assert holder is not None
            assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
            assert holder.command == "trials sync --all --db …"  # no password shown
            assert holder.since is not None
        assert lock_holder(catalogue.engine) is None


def test_a_refused_writer_names_the_holder_and_how_long_it_waited(db_url: str) -> None:
    set_command(["import", "big.zip"])
    with Catalogue.open(db_url) as catalogue, writer_lock(catalogue.engine):
        with pytest.raises(CatalogueBusyError) as refused, writer_lock(catalogue.engine):
            pass
        assert f"PID {os.getpid()} on {socket.gethostname()}" in str(refused.value)
        assert "running 'trials import big.zip' since " in str(refused.value)
        assert "give --wait SECONDS" in str(refused.value)
        start = time.monotonic()
        for command in (["index"], ["import", str(STUDY)], ["reparse"]):
            busy = trials(db_url, *command, "--wait", "0.3")
            assert busy.exit_code == 3, command
            assert "another import or sync is writing to this catalogue: PID " in busy.stderr
            assert re.search(r"gave up after waiting 0\.\d s", busy.stderr)
        assert time.monotonic() - start >= 0.9


def test_wait_gets_the_lock_once_the_holder_is_done(db_url: str) -> None:
    with Catalogue.open(db_url) as catalogue:
        with writer_lock(catalogue.engine):
            pass
        with writer_lock(catalogue.engine, wait=1):
            pass
        assert lock_holder(catalogue.engine) is None
