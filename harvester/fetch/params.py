"""A search's parameters as the API takes them: checked, split in requests, narrowed to an
update window.  Free of the HTTP stack, so that a sync that finds nothing new
(:mod:`harvester.fetch.quicksync`) starts at once."""

from __future__ import annotations

import re
from collections.abc import Mapping

from harvester.errors import UsageError

MAX_PAGE_SIZE = 1000  # the API silently caps larger pages at this
#: NCT ids per request: ``filter.ids`` travels in the URL, and servers and proxies refuse
#: long ones (the API documents no limit; 8 KB is a common one).  100 ids are ~1.4 KB.
MAX_IDS_PER_REQUEST = 100
_NCT = re.compile(r"^NCT\d{8}$")


def search_params(*, cond: str | None = None, term: str | None = None,
                  intr: str | None = None, locn: str | None = None,
                  spons: str | None = None, titles: str | None = None,
                  status: tuple[str, ...] = (), ids: tuple[str, ...] = (),
                  advanced: str | None = None, outc: str | None = None,
                  id_: str | None = None) -> dict[str, str]:
    """The API's own search parameters, checked: statuses and NCT ids must be valid."""
    params = {f"query.{k}": v for k, v in (("cond", cond), ("term", term), ("intr", intr),
                                          ("locn", locn), ("spons", spons),
                                          ("titles", titles), ("outc", outc),
                                          ("id", id_)) if v}
    bad: list[str] = []
    if status:  # the record classes (pydantic) only when there is a status to check
        from harvester.records import Status

        bad = [s for s in status if s.upper() not in Status.__members__]
    if bad:
        raise UsageError(f"--status {', '.join(bad)}: not a status; use "
                         f"{', '.join(Status.__members__)}")
    if status:
        params["filter.overallStatus"] = ",".join(s.upper() for s in status)
    wrong = [i for i in ids if not _NCT.match(i.upper())]
    if wrong:
        raise UsageError(f"--ids {', '.join(wrong)}: not an NCT id (NCT and 8 digits)")
    if ids:
        params["filter.ids"] = ",".join(i.upper() for i in ids)
    if advanced:
        params["filter.advanced"] = advanced
    return params


def split_ids(params: Mapping[str, str], size: int | None = None) -> list[dict[str, str]]:
    """``params`` as the requests that together ask for all its ``filter.ids``, at most
    ``size`` (default :data:`MAX_IDS_PER_REQUEST`) ids each, in the ids' order: the same
    request when there are no more."""
    size = size or MAX_IDS_PER_REQUEST
    ids = [i for i in params.get("filter.ids", "").split(",") if i]
    if len(ids) <= size:
        return [dict(params)]
    return [{**params, "filter.ids": ",".join(ids[start:start + size])}
            for start in range(0, len(ids), size)]


def updated_since(params: Mapping[str, str], since: str) -> dict[str, str]:
    """``params`` narrowed to studies whose last update was posted on or after ``since``."""
    window = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
    out = dict(params)
    prior = out.get("filter.advanced")
    out["filter.advanced"] = f"({prior}) AND {window}" if prior else window
    return out
