"""The exception tree of trial-harvester.

Every error the library raises on purpose is a :class:`HarvesterError`; library errors
(``json``, ``lxml``, ``pydantic``, ``requests``, ``sqlalchemy`` …) are translated into one of
these at the boundary where they occur, so callers only ever catch this tree.  Only the CLI
turns them into messages and exit codes.

::

    HarvesterError
    ├── ParseError              a payload could not be read into a TrialRecord
    │   ├── UnknownSourceError  the payload's format could not be recognised
    │   └── InputTooLargeError  the payload is above the size limit and was refused
    ├── CatalogueError          the catalogue cannot be opened, read or written
    │   ├── NotFoundError       no such trial or version in the catalogue
    │   ├── CatalogueBusyError  another writer holds the catalogue's lock
    │   └── StorageError        the database failed under us (disk full, read-only, gone)
    ├── UsageError              the caller asked for something impossible (bad option, …)
    ├── ExportError             an export could not be written (disk full, no permission, …)
    └── FetchError              a URL could not be fetched (network failure, retries exhausted)
        └── HttpStatusError     the server refused the request with a final 4xx status
            └── RefusedError    HTTP 403: refused, possibly blocked (with what to try)

Warnings (not errors) use :class:`UnknownVocabularyWarning`: a registry value that is not in
API v2's vocabulary is kept as written and a warning is issued.
"""

from __future__ import annotations


class HarvesterError(Exception):
    """Base class of every error trial-harvester raises on purpose."""


class ParseError(HarvesterError):
    """A payload could not be parsed into a record.

    ``source_name`` names the file (or zip entry, URL …) and ``record`` the study within it
    (an NCT id or a position such as ``studies[3]``) when known; ``field`` names the part of
    the payload that was wrong when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source_name: str | None = None,
        record: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source_name = source_name
        self.record = record
        self.field = field

    def located(self, source_name: str) -> ParseError:
        """Return a copy of this error that names ``source_name`` (keeps the subclass)."""
        err = type(self).__new__(type(self))
        ParseError.__init__(
            err, self.message, source_name=source_name, record=self.record, field=self.field
        )
        return err

    def __str__(self) -> str:
        where = [p for p in (self.source_name, self.record) if p]
        prefix = ": ".join(where)
        detail = f"{self.message} (field {self.field})" if self.field else self.message
        return f"{prefix}: {detail}" if prefix else detail


class UnknownSourceError(ParseError):
    """The payload is not ClinicalTrials.gov JSON, legacy XML or a Veeva page."""


class InputTooLargeError(ParseError):
    """The payload is larger than the configured limit and was refused unread."""


class CatalogueError(HarvesterError):
    """The catalogue cannot be opened, read or written (database errors end up here)."""


class NotFoundError(CatalogueError):
    """No such trial, version or run in the catalogue."""


class CatalogueBusyError(CatalogueError):
    """Another import or sync is writing to the catalogue."""


class StorageError(CatalogueError):
    """The database failed under a command: disk full, read-only file system, locked or
    damaged file, a server that went away.  The message is one line naming the catalogue and
    the cause; what was committed before stays, the transaction under way is rolled back."""


class UsageError(HarvesterError):
    """The caller asked for something that cannot be done (bad option value, …)."""


class ExportError(HarvesterError):
    """An export could not be written (disk full, no permission, …); nothing was left under
    the output's name."""


class UnknownVocabularyWarning(UserWarning):
    """A registry value is not in API v2's vocabulary; it was kept as written."""


class FetchError(HarvesterError):
    """A URL could not be fetched: retries exhausted (429, 5xx, timeouts, dropped
    connections, truncated bodies), or a failure no retry can fix (bad URL, TLS error).

    ``url`` names what was being fetched when known.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class HttpStatusError(FetchError):
    """The server answered with an error status that retrying will not change (400, 404 …).

    ``message`` is the server's own text (API v2 errors are ``text/plain``), whitespace-
    collapsed and cut to 500 characters.
    """

    def __init__(self, status: int, url: str, message: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {message}", url=url)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple[type[HttpStatusError], tuple[int, str, str]]:
        # The default pickling replays args=(str,) into __init__, which takes three.
        return (type(self), (self.status, self.url or "", self.message))


#: What to try when a server refuses us with 403 (ClinicalTrials.gov's CDN blocks some clients).
REFUSED_HINT = ("refused by the server (possibly blocked); try: a contact address in the "
                "User-Agent (--user-agent or TRIALS_USER_AGENT), another network through "
                "HTTPS_PROXY, or a lower rate (--min-interval)")


class RefusedError(HttpStatusError):
    """HTTP 403: the server (or a CDN or firewall before it) refused this client.  Not
    retried; the message says what to try."""

    def __init__(self, status: int, url: str, message: str) -> None:
        super().__init__(status, url, message)
        detail = f" (server said: {message})" if message else ""
        self.args = (f"HTTP {status} from {url}: {REFUSED_HINT}{detail}",)
