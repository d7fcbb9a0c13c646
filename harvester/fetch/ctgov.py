"""ClinicalTrials.gov API v2 (and the website's internal record-history endpoints)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from harvester.errors import FetchError, HttpStatusError
from harvester.fetch import BASE_URL_ENV, DEFAULT_BASE_URL
from harvester.fetch.http import HttpClient, Incomplete, Response
from harvester.fetch.params import (
    MAX_IDS_PER_REQUEST as MAX_IDS_PER_REQUEST,
)
from harvester.fetch.params import (
    MAX_PAGE_SIZE,
    search_params,
    split_ids,
    updated_since,
)

T = TypeVar("T")


def base_url() -> str:
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


class _Page(msgspec.Struct):
    studies: list[msgspec.Raw]
    totalCount: int | None = None
    nextPageToken: str | None = None


class _HistoryChange(msgspec.Struct):
    version: int
    date: str | None = None
    status: str | None = None


class _History(msgspec.Struct):
    changes: list[_HistoryChange] = []


class _HistoryVersion(msgspec.Struct):
    study: msgspec.Raw
    studyVersion: int | None = None


_PAGE = msgspec.json.Decoder(_Page)
_HISTORY = msgspec.json.Decoder(_History)
_HISTORY_VERSION = msgspec.json.Decoder(_HistoryVersion)
_RAW = msgspec.json.Decoder(msgspec.Raw)


def _whole(response: Response) -> bytes:
    """The body, once it is known to be whole, well-formed JSON (not cut short)."""
    _RAW.decode(response.content)
    return response.content


@dataclass(frozen=True)
class Page:
    studies: list[bytes]  # each study's JSON, cut out of the page verbatim
    total_count: int | None  # on the first page only
    next_token: str | None  # None on the last page


@dataclass(frozen=True)
class HistoryEntry:
    version: int  # 0-based: 0 is the first posted record
    date: str | None
    status: str | None


class CtgovApi:
    """The endpoints the harvester uses, over one :class:`HttpClient`."""

    def __init__(self, client: HttpClient, base: str | None = None) -> None:
        self.client = client
        self.base = (base or base_url()).rstrip("/")

    def _get(self, url: str, params: Mapping[str, str] | None, what: str,
             decode: Callable[[Response], T], *, allow_404: bool = False) -> T:
        """GET ``url`` and decode the body under the client's retry policy.

        A body that is not well-formed JSON was most likely cut short in transit (a complete
        HTTP message whose Content-Length matches the short body passes the client's own
        length check), so it is retried like a dropped connection; well-formed JSON of the
        wrong shape is final.
        """

        def checked(response: Response) -> T:
            try:
                return decode(response)
            except msgspec.ValidationError as exc:
                raise FetchError(f"{response.url}: not {what} ({exc})",
                                 url=response.url) from None
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                raise Incomplete(f"{response.url}: not {what} ({exc})") from None

        return self.client.fetch(url, checked, params, allow_404=allow_404)

    def version(self) -> dict[str, Any]:
        value = self.client.get_json(f"{self.base}/api/v2/version", probe=True)
        if not isinstance(value, dict) or "apiVersion" not in value:
            raise FetchError(f"{self.base}/api/v2/version: not an API version answer")
        return value

    def document(self, path: str) -> bytes:
        """A whole JSON document (``studies/metadata``, ``studies/enums``) as served."""
        return self._get(f"{self.base}/api/v2/{path}", None, "a JSON document", _whole)

    def pages(self, params: Mapping[str, str], *, page_size: int = MAX_PAGE_SIZE,
              sort: str | None = "LastUpdatePostDate:asc",
              first: Page | None = None) -> Iterator[Page]:
        """Every page of a search, following ``nextPageToken``; the first counts the total.
        ``first``: the first page, fetched already (by :mod:`harvester.fetch.quicksync`)."""
        query = {**params, "pageSize": str(min(page_size, MAX_PAGE_SIZE)),
                 "countTotal": "true", "format": "json"}
        if sort:
            query["sort"] = sort
        while True:
            if first is not None:
                page, first = first, None
            else:
                got = self._get(f"{self.base}/api/v2/studies", query, "a page of studies",
                                lambda r: _PAGE.decode(r.content))
                page = Page([bytes(s) for s in got.studies], got.totalCount,
                            got.nextPageToken)
            yield page
            if not page.next_token:
                return
            query = {k: v for k, v in query.items() if k != "countTotal"}
            query["pageToken"] = page.next_token

    def study(self, nct_id: str) -> bytes | None:
        """One study's JSON; None when the registry has no such study."""
        return self._get(f"{self.base}/api/v2/studies/{nct_id}", None, "a study",
                         lambda r: None if r.status == 404 else _whole(r), allow_404=True)

    def history(self, nct_id: str) -> list[HistoryEntry]:
        """The record's versions, from the website's internal (undocumented) endpoint."""
        history = self._get(f"{self.base}/api/int/studies/{nct_id}/history", None,
                            "a record history", lambda r: _HISTORY.decode(r.content))
        return [HistoryEntry(c.version, c.date, c.status) for c in history.changes]

    def history_version(self, nct_id: str, version: int) -> bytes:
        """The study JSON of one past version."""
        one = self._get(f"{self.base}/api/int/studies/{nct_id}/history/{version}", None,
                        "a study version", lambda r: _HISTORY_VERSION.decode(r.content))
        return bytes(one.study)


__all__ = ["BASE_URL_ENV", "DEFAULT_BASE_URL", "CtgovApi", "HistoryEntry", "HttpStatusError",
           "Page", "search_params",
           "split_ids", "updated_since"]
