from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    """Once, before any test starts a process (not in each xdist worker): the project's
    bytecode written, so that each worker process and command the tests start reads it
    instead of compiling every module again where ``PYTHONDONTWRITEBYTECODE`` is set
    (bench/bytecode.py)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        from bench.bytecode import compile_project

        compile_project()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def trials(db: str | None, command: str, *args: str | Path) -> Result:
    """Run ``trials COMMAND [--db DB] ARGS…``; an unexpected exception fails the test."""
    argv = [command, *(["--db", db] if db else []), *map(str, args)]
    result = CliRunner().invoke(cli.main, argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


POSTGRES_ENV = "TRIALS_TEST_POSTGRES_URL"


@contextmanager
def empty_catalogue(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a fresh catalogue: a SQLite file in ``folder``, or a new PostgreSQL
    schema (skipped without ``TRIALS_TEST_POSTGRES_URL``), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'catalogue.sqlite'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL catalogue tests skipped")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty catalogue URL: a SQLite file, or a new schema on the test PostgreSQL."""
    with empty_catalogue(request.param, tmp_path) as url:
        yield url
