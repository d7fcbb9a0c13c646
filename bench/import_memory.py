"""Peak memory of importing one file of many studies: it must not grow with the studies.

Run: ``python bench/import_memory.py [--page 100000] [--array 300000] [--jsonl 100000]``.

Writes an API list page (``{"studies": [...]}``), a JSON array export and a JSON Lines file
of small real-shaped studies under fresh NCT ids, imports each into an empty SQLite
catalogue in its own process (``trials import --workers 1``), and prints the file size, the
time and the peak RSS of the importing process.  Target (issue 12): under 300 MB for a page of
100k studies and an array of 300k (before streaming: 862 MB and ~1.1 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def study(n: int) -> dict[str, object]:
    return {"protocolSection": {
        "identificationModule": {"nctId": f"NCT{90_000_000 + n:08d}",
                                 "briefTitle": f"Study {n} of a bulk file"},
        "statusModule": {"overallStatus": "COMPLETED"},
        "conditionsModule": {"conditions": ["Asthma"]}}}


def write(path: Path, kind: str, count: int) -> None:
    with path.open("w") as f:
        if kind == "jsonl":
            for n in range(count):
                f.write(json.dumps(study(n)) + "\n")
            return
        f.write('{"studies": [' if kind == "page" else "[")
        for n in range(count):
            f.write(("," if n else "") + json.dumps(study(n)))
        f.write("]}" if kind == "page" else "]")


def measure(path: Path, folder: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of importing ``path`` in a fresh process."""
    db = f"sqlite:///{folder / (path.stem + '.sqlite')}"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "import", str(path), "--db",
                             db, "--workers", "1", "--no-progress", "--quiet"], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"import of {path} failed with exit status {proc.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.bytecode import compile_project

    compile_project()  # as a user's installed copy: see bench/bytecode.py
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=int, default=100_000)
    parser.add_argument("--array", type=int, default=300_000)
    parser.add_argument("--jsonl", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"{'input':<8} {'studies':>8} {'MB':>7} {'seconds':>8} {'peak RSS MB':>12}")
        for kind, count in (("page", args.page), ("array", args.array),
                            ("jsonl", args.jsonl)):
            if not count:
                continue
            path = folder / f"{kind}.json"
            write(path, kind, count)
            seconds, peak = measure(path, folder)
            print(f"{kind:<8} {count:>8,} {path.stat().st_size / 2**20:>7.1f} "
                  f"{seconds:>8.1f} {peak:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
