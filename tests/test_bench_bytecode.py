"""bench/bytecode.py: after compile_project every project module has bytecode a new process
reads as valid (the magic number, and the source's own time and size), whatever
PYTHONDONTWRITEBYTECODE says."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

from bench.bytecode import ROOT, compile_project


def test_every_project_module_has_bytecode_that_matches_its_source() -> None:
    compile_project()
    sources = [*ROOT.glob("harvester/**/*.py"), *ROOT.glob("parsers/**/*.py"), ROOT / "cli.py"]
    assert len(sources) > 100
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        header = cached.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        flags, mtime, size = struct.unpack("<III", header[4:16])
        stat = source.stat()
        assert (flags, mtime, size) == (0, int(stat.st_mtime) & 0xFFFFFFFF,
                                        stat.st_size & 0xFFFFFFFF), source
