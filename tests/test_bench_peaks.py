"""bench/peaks.py: a started process's peak memory is its own, not its parent's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.peaks import WorkerPeaks

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                reason="VmHWM is Linux's")


def _touch(size: int) -> bytearray:
    block = bytearray(size)
    block[::4096] = b"\1" * len(range(0, size, 4096))  # every page resident
    return block


def test_a_child_reports_its_own_peak_where_ru_maxrss_reports_its_parent_s() -> None:
    block = _touch(400 * MB)  # this process's peak now holds 400 MB more
    del block
    code = textwrap.dedent("""
        import json, resource, sys
        sys.path.insert(0, sys.argv[1])
        from bench.peaks import own_peak_mb
        print(json.dumps([own_peak_mb(),
                          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
    """)
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], check=True,
                         capture_output=True, text=True).stdout
    own, inherited = json.loads(out)
    assert inherited >= 400  # the parent's high-water mark, carried across exec
    assert own < 100  # an interpreter and one small module


def test_worker_peaks_sees_each_worker_s_own_peak_while_it_runs() -> None:
    code = "import time; b = bytearray(150 * 2**20); b[::4096] = b'\\1' * len(b[::4096]); " \
           "time.sleep(1)"
    with WorkerPeaks(every=0.05) as peaks:
        small = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
        big = subprocess.Popen([sys.executable, "-c", code])
        assert big.wait() == 0 and small.wait() == 0
    assert 150 <= peaks.largest_mb < 200  # its own: not this process's peak added
