"""Export throughput per format (trials per second) and peak memory, on generated catalogues.

Run: ``python bench/export_throughput.py [--trials 100000] [--db URL] [--formats csv,ris]``.

Builds (once, cached in ``/tmp``) catalogues of ``--trials`` generated trials and of a tenth
of that, with ``bench/import_catalogue.py``'s generator (every API v2 study of the fixtures,
repeated under fresh NCT ids), then exports each catalogue in every registered format
(:data:`harvester.export.EXPORTERS`, and ``csv --long`` as a zip) to a temporary file with
``trials export --keep-duplicates``, each in a fresh process so that its peak RSS is its own.
Prints trials per second, output size, peak RSS and the RSS before the export began (every
module loaded) per format and size, the CPU seconds the export used (its own and its workers': on a
shared machine the wall time says more about the load than the code), the CPU seconds of its
main thread alone (the critical path on two cores: xlsx deflates its sheets in a second
thread while the main thread renders; trials per second on a quiet machine approach trials
over these seconds), and the peak RSS
of its largest worker process (xlsx renders rows in workers): memory must stay flat, the
same at 100,000 trials as at 10,000.

``--db URL`` benchmarks that catalogue instead (built there if it holds fewer trials),
e.g. a PostgreSQL database, and only at its own size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bytecode import compile_project  # noqa: E402
from bench.import_catalogue import build_zip, measure  # noqa: E402
from bench.peaks import WorkerPeaks  # noqa: E402

CACHE = Path(tempfile.gettempdir())


def trials_in(url: str) -> int:
    from harvester.catalogue import Catalogue

    with Catalogue.open(url) as catalogue:
        return len(catalogue.trial_ids())


def ensure_catalogue(url: str, size: int) -> None:
    """Build a catalogue of ``size`` generated trials at ``url`` unless it holds them."""
    if trials_in(url) >= size:
        return
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / f"ctg-studies-{size}.json.zip"
        start = time.perf_counter()
        build_zip(archive, size)
        result = measure(url, archive, 0)
        print(f"built a catalogue of {size:,} trials in {time.perf_counter() - start:,.0f} s "
              f"({result['new']:,.0f} new)", flush=True)


def memory_mb(field: str) -> float:
    """This process's ``VmRSS`` or ``VmHWM`` (peak) in MB (Linux), else its peak RSS."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(url: str, fmt: str, out: str) -> None:
    """Run ``trials export`` in this process; print seconds, peak RSS, and the RSS before the
    export (every module loaded) as JSON."""
    import cli
    import harvester.export  # noqa: F401  (every exporter's libraries, before the baseline)

    # Every trial (the generated ones repeat a few studies: deduplication would drop most of
    # them; its cost is bench/export_dedupe.py's).
    args = ["export", "--db", url, "--no-progress", "--quiet", "-o", out, "--force",
            "--keep-duplicates"]
    args += ["--format", "csv", "--long"] if fmt == "csv-long" else ["--format", fmt]
    baseline = memory_mb("VmRSS")
    cpu_start = _cpu()
    main_start = time.thread_time()
    start = time.perf_counter()
    with WorkerPeaks() as peaks:  # the workers' own peaks (bench/peaks.py)
        cli.main(args, standalone_mode=False)
    seconds = time.perf_counter() - start
    main_cpu = time.thread_time() - main_start
    workers = peaks.largest_mb
    print(json.dumps({"seconds": seconds, "cpu": _cpu() - cpu_start, "main_cpu": main_cpu,
                      "peak_mb": memory_mb("VmHWM"),
                      "baseline_mb": baseline, "workers_mb": workers,
                      "bytes": Path(out).stat().st_size}))


def _cpu() -> float:
    """CPU seconds of this process and its (finished) worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(url: str, fmt: str, folder: Path) -> dict[str, float]:
    suffix = ".zip" if fmt == "csv-long" else f".{fmt}"
    out = folder / f"export{suffix}"
    done = subprocess.run([sys.executable, __file__, "--child", url, fmt, str(out)],
                          check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink()
    return result


def main() -> None:
    compile_project()  # as a user's installed copy: see bench/bytecode.py
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--db", help="benchmark this catalogue (built there if too small)")
    parser.add_argument("--formats", help="comma-separated (default: every format, csv-long)")
    parser.add_argument("--child", nargs=3, metavar=("URL", "FORMAT", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from harvester.export import EXPORTERS

    formats = args.formats.split(",") if args.formats else [*sorted(EXPORTERS), "csv-long"]
    if args.db:
        catalogues = [(args.trials, args.db)]
    else:
        catalogues = [(size, f"sqlite:///{CACHE / f'trials-export-bench-{size}.sqlite'}")
                      for size in sorted({max(args.trials // 10, 1), args.trials})]
    for size, url in catalogues:
        ensure_catalogue(url, size)
    with tempfile.TemporaryDirectory() as tmp:
        for _, url in catalogues:
            held = trials_in(url)
            print(f"\n{held:,} trials ({url.split('?')[0]}); load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
            print(f"{'format':10} {'trials/s':>10} {'seconds':>9} {'CPU s':>7} {'main s':>7} "
                  f"{'output MB':>10} {'peak RSS MB':>12} {'before MB':>10} {'worker MB':>10}")
            for fmt in formats:
                r = run(url, fmt, Path(tmp))
                print(f"{fmt:10} {held / r['seconds']:10,.0f} {r['seconds']:9.1f} "
                      f"{r['cpu']:7.1f} {r['main_cpu']:7.1f} "
                      f"{r['bytes'] / 1e6:10,.1f} {r['peak_mb']:12,.0f} "
                      f"{r['baseline_mb']:10,.0f} {r.get('workers_mb', 0):10,.0f}", flush=True)


if __name__ == "__main__":
    main()
