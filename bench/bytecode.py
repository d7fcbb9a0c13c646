"""Compile the project's modules to bytecode once, as a user's installed copy has them.

Where the environment sets ``PYTHONDONTWRITEBYTECODE`` (this workplace's machines do),
Python never writes the ``__pycache__`` files, so every process the benches and the tests
start — each command timed, each import worker — compiles every project module it imports
again: about 0.3 G of a spawned worker's 1.0 G start-up instructions, which no user with an
ordinary Python pays after the first run.  :func:`compile_project` writes them (stale ones
only, atomically: two processes may race), whatever the environment says.
"""

from __future__ import annotations

import compileall
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def compile_project() -> None:
    for folder in ("harvester", "parsers", "bench"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    compileall.compile_file(ROOT / "cli.py", quiet=1)
