"""``trials serve``: the catalogue in a browser and through the registry's own API.

:func:`make_app` builds one read-only ASGI application (Starlette, Jinja2 templates) on a
catalogue: the HTML pages (:mod:`.pages`), the registry-compatible API under ``/api/v2``
(:mod:`.api`) and the bundled assets under ``/static`` (no CDN: it works offline).  Every
response carries a strict Content-Security-Policy; registry text is escaped by Jinja2's
autoescaping; only GET and HEAD are routed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from harvester import __version__
from harvester.catalogue import Catalogue
from harvester.serve.web import render
from harvester.serve.web.api import api_routes
from harvester.serve.web.context import ServerContext
from harvester.serve.web.forms import SearchForm
from harvester.serve.web.pages import REGISTRY, page_routes

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("Method Not Allowed", 405, headers={"Allow": "GET, HEAD",
                                                                **SECURITY_HEADERS})
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(version=__version__, registry=REGISTRY,
                       status_colour=render.status_colour)
    env.filters["enum"] = _enum_label
    env.filters["readable"] = _readable
    return Jinja2Templates(env=env)


def _enum_label(value: Any) -> str:
    """``ACTIVE_NOT_RECRUITING`` → ``Active, not recruiting``-ish: readable enum values."""
    if value is None or value == "":
        return "—"
    text = str(value)
    if text.startswith("PHASE") and text[5:].isdigit():
        return f"Phase {text[5:]}"
    if text == "EARLY_PHASE1":
        return "Early phase 1"
    if text == "NA":
        return "N/A"
    if len(text) <= 4 or not text.isupper():  # NIH, FED; or not an enum value at all
        return text
    return text.replace("_", " ").capitalize()


def _readable(value: Any) -> str:
    """A diff value as text: objects as ``key: value`` pairs, lists one item per ``;``."""
    if value is None:
        return "—"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_readable(v)}" for k, v in value.items()
                         if v not in (None, "", [], ()))
    if isinstance(value, list | tuple):
        return "; ".join(_readable(v) for v in value)
    return str(value)


def make_app(catalogue: Catalogue, search_form: SearchForm) -> Starlette:
    """The web server's application on ``catalogue`` (read-only); ``search_form`` is the
    search page's form (``harvester.commands._webform.search_form()``: the filters of
    ``trials search``)."""
    ctx = ServerContext(catalogue)
    templates = _templates()
    routes: list[Any] = [*api_routes(ctx), *page_routes(ctx, search_form, templates),
                         Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, middleware=[Middleware(_SecurityHeaders)])
    app.state.context = ctx
    return app


__all__ = ["CSP", "make_app"]
