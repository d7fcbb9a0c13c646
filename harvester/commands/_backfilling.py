"""``trials history --backfill --queue``: one worker of a backfill shared through the
catalogue (see :mod:`harvester.catalogue.workqueue`)."""

from __future__ import annotations

import os
import socket
from typing import Any, TextIO, cast

import click

from harvester.catalogue import Catalogue, workqueue
from harvester.catalogue.lock import writer_lock
from harvester.commands._common import EXIT_PARTIAL, http_client, say, to_json
from harvester.errors import UsageError


def work_queue(catalogue: Catalogue, nct_id: str | None, ids_file: str | None,
               enqueue_all: bool, base_url: str, network: dict[str, Any], *, wait: float,
               fmt: str) -> int:
    """Queue what was asked, then backfill pending trials until none is left; the exit
    status (1 when some trial's history could not all be fetched)."""
    from harvester.commands.syncing import read_ids
    from harvester.fetch.backfill import work_queue as work
    from harvester.fetch.ctgov import CtgovApi

    api = CtgovApi(http_client(**network), base_url)
    if catalogue.engine.dialect.name == "postgresql":  # every worker, one pace
        api.client.pacer = workqueue.SharedPace(catalogue.engine)
    wanted = [nct_id] if nct_id else []
    if ids_file is not None:
        try:
            with click.open_file(ids_file, encoding="utf-8") as file:
                wanted += read_ids(cast(TextIO, file))
        except OSError as exc:
            raise UsageError(f"--ids-file: cannot read {ids_file}: {exc.strerror}") from None
    worker = f"{os.getpid()}@{socket.gethostname()}"
    with writer_lock(catalogue.engine, wait=wait, shared=True):
        added = workqueue.enqueue(catalogue.engine, wanted, catalogue.clock())
        if enqueue_all:
            added += workqueue.enqueue_all(catalogue.engine, catalogue.clock())
        catalogue.mark_interrupted(catalogue.clock())  # runs whose process died
        run_id = catalogue.start_run("backfill", {"queue": True, "queued": added,
                                                  "worker": worker, "base_url": api.base})
        try:
            summary = work(catalogue, api, run_id=run_id, worker=worker,
                           on_problem=lambda message: say("error", message))
        except BaseException as exc:
            catalogue.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}",
                                 stats={**api.client.stats.__dict__})
            raise
        catalogue.finish_run(run_id, "partial" if summary.failed else "ok",
                             f"{summary.trials} trials, {summary.versions} past versions"
                             + (f"; {summary.failed} failed" if summary.failed else ""),
                             failed=summary.failed, stats={**api.client.stats.__dict__})
    left = workqueue.counts(catalogue.engine)
    if fmt in ("json", "jsonl"):
        click.echo(to_json({**summary.to_json(), "queued": added, "queue": left}))
    else:
        click.echo(f"run {run_id}: {summary.trials} trials backfilled, {summary.versions} "
                   f"past versions, {summary.failed} failed; queue: "
                   + ", ".join(f"{n} {state}" for state, n in sorted(left.items())))
    return EXIT_PARTIAL if summary.failed else 0
