"""Responses shaped like the real API's: compact JSON pages, Jackson-style /version, text errors."""

from __future__ import annotations

from dataclasses import dataclass, field

JSON = "application/json"
# Spring's default for a String body: what the real API sends with its 4xx messages.
TEXT = "text/plain;charset=UTF-8"


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = TEXT
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Data responses carry the dataset-scoped ETag and honour If-None-Match.
    etag: str | None = None


class ApiError(Exception):
    """A request the real API refuses: ``status`` and the plain-text ``message`` it answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        return Response(self.status, self.message.encode())


def unknown_parameter(name: str) -> ApiError:
    return ApiError(400, f"`{name}` is unknown parameter")


def invalid_value(param: str, value: str) -> ApiError:
    return ApiError(400, f"Invalid value in parameter `{param}`: `{value}`")


def json_response(body: bytes, etag: str | None = None) -> Response:
    return Response(200, body, JSON, etag=etag)


def page_body(total: int | None, studies: list[bytes], next_token: str | None) -> bytes:
    """A ``/studies`` page byte for byte as the API writes it.

    Compact JSON, keys ``totalCount``, ``studies``, ``nextPageToken`` in that order, a newline
    before each study and before the closing bracket, no trailing newline: a zero-hit page is
    ``{"totalCount":0,"studies":[\\n\\n]}``.
    """
    head = b'{"totalCount":%d,' % total if total is not None else b"{"
    tail = b',"nextPageToken":"%s"}' % next_token.encode() if next_token else b"}"
    return head + b'"studies":[\n' + b",\n".join(studies) + b"\n]" + tail


def version_body(api_version: str, data_timestamp: str) -> bytes:
    """``/version`` in Jackson's pretty-printer style (``"key" : value``), as served live."""
    return (
        f'{{\n  "apiVersion" : "{api_version}",\n  "dataTimestamp" : "{data_timestamp}"\n}}'
    ).encode()
