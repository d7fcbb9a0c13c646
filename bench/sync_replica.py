"""A full sync of 20,000 studies from the loopback replica, then a nightly incremental run.

Run: ``python bench/sync_replica.py [--studies 20000] [--changed 0.01]``.

The replica runs in this process and serves every API v2 study of ``fixtures/`` repeated under
fresh NCT ids; ``trials sync`` runs in its own process with the politeness limit off, into a
fresh SQLite catalogue.  Reports studies per second end to end and the share of the sync's time
spent in HTTP, parsing and storing; then changes a share of the studies on the replica and
reports how many requests the incremental run makes (target: one per 1,000 changed studies,
plus one), with and without a move of the registry's data version.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bytecode import compile_project  # noqa: E402
from bench.parse_json import corpus  # noqa: E402
from harvester.serve import ReplicaServer, StudyStore  # noqa: E402


def studies(count: int) -> list[dict[str, Any]]:
    bases = [json.loads(data) for data in corpus()]
    out = []
    for i in range(count):
        study = copy.deepcopy(bases[i % len(bases)])
        study["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{i:07d}"
        updated = f"{2015 + i % 10}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        status = study["protocolSection"]["statusModule"]
        status["lastUpdatePostDateStruct"] = {"date": updated, "type": "ACTUAL"}
        status["lastUpdateSubmitDate"] = updated  # every real study has one
        out.append(study)
    return out


def sync(url: str, base: str, *extra: str) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "sync", "--db", url,
                          "--base-url", base, "--min-interval", "0", "--format", "json",
                          "--no-progress", *extra], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"sync failed ({out.returncode}): {out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout)
    result["wall"] = time.perf_counter() - started
    return result


def main() -> None:
    compile_project()  # as a user's installed copy: see bench/bytecode.py
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=20_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    store = StudyStore(studies(args.studies))
    with tempfile.TemporaryDirectory() as tmp, ReplicaServer(store) as server:
        url = f"sqlite:///{Path(tmp) / 'catalogue.sqlite'}"
        full = sync(url, server.base_url)
        assert full["received"] == args.studies == full["new"], full
        seconds = full["seconds"]
        other = seconds - full["http_seconds"] - full["parse_seconds"] - full["store_seconds"]
        print(f"full sync: {args.studies:,} studies in {full['pages']} pages, "
              f"{seconds:.1f} s → {args.studies / seconds:,.0f} studies/s "
              f"({args.studies / full['wall']:,.0f}/s counting process start-up)")
        print(f"  time: HTTP {full['http_seconds'] / seconds:.0%} (server included), "
              f"parsing {full['parse_seconds'] / seconds:.0%}, storing "
              f"{full['store_seconds'] / seconds:.0%}, other {other / seconds:.0%}")
        changed = store.ids()[:: max(1, round(1 / args.changed))][: int(args.studies *
                                                                    args.changed)]
        for nct in changed:
            study = copy.deepcopy(store.get(nct))
            assert study is not None
            study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
                "date": "2026-11-24", "type": "ACTUAL"}
            study["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
            store.add_version(study)
        for label, bump in (("same data version", False), ("data version moved", True)):
            if bump:
                for nct in changed:
                    study = copy.deepcopy(store.get(nct))
                    assert study is not None
                    study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
                        "date": "2026-11-25", "type": "ACTUAL"}
                    store.add_version(study)
                store.bump()
            server.faults.reset_counts()
            nightly = sync(url, server.base_url)
            api_requests = server.faults.count("/api/v2/")
            target = math.ceil(len(changed) / 1000) + 1
            print(f"incremental ({label}): {len(changed)} changed studies, "
                  f"{nightly['received']} received, {nightly['changed']} changed; "
                  f"{api_requests} API requests ({server.faults.count('/api/v2/studies')} "
                  f"to /studies…, target {target}), {nightly['requests']} in all "
                  f"(robots.txt included: the politeness limit is off)")


if __name__ == "__main__":
    main()
