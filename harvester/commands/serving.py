"""``trials serve`` (the web pages and the registry's API) and ``trials mcp`` (the MCP server)."""

from __future__ import annotations

import ipaddress
import socket

import click

from harvester.commands._common import (
    db_option,
    handles_errors,
    open_catalogue,
    quiet_option,
    say,
)

DEFAULT_PORT = 8765


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


@click.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but a loopback address exposes the "
                   "catalogue to the network (with a warning).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0: any free port).")
@quiet_option
@handles_errors
def serve(db: str | None, host: str, port: int, quiet: bool) -> None:
    """Serve the catalogue, read-only: web pages for searching and reading trials (history,
    diffs, similar trials, comparisons, exports) and the registry's API v2 under /api/v2.

    Everything is served locally (no CDN: it works offline).  Point a ClinicalTrials.gov
    client at http://HOST:PORT/api/v2/ to harvest the catalogue; asOf=DATE and the
    /studies/{nctId}/history, /diff and /similar paths are extensions.

    \b
    Examples:
      trials serve                       # http://127.0.0.1:8765/
      trials serve --db sqlite:///team.sqlite --port 9000
      trials sync --base-url http://127.0.0.1:8765 --cond melanoma --db sqlite:///copy.sqlite
    """
    import uvicorn

    from harvester.commands._webform import search_form
    from harvester.serve.web import make_app

    if not _is_loopback(host):
        say("warning", f"listening on {host}: anyone who can reach this machine can read "
                       "the catalogue (there is no login)")
    app = make_app(open_catalogue(db), search_form())
    if not quiet:
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"trials: serving on http://{shown}:{port}/ (Ctrl+C stops)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning" if quiet else "info",
                access_log=not quiet, server_header=False)


@click.command()
@db_option
@click.option("--http", "http", is_flag=True,
              help="Serve over streamable HTTP (at http://HOST:PORT/mcp) instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="With --http: address to listen on (a warning if not loopback).")
@click.option("--port", type=click.IntRange(0, 65535), default=8766, show_default=True,
              help="With --http: port to listen on.")
@handles_errors
def mcp(db: str | None, http: bool, host: str, port: int) -> None:
    """Serve the catalogue to AI assistants over the Model Context Protocol.

    Tools: search (words and every filter of `trials search`), get_study (optionally as of
    a date), history, diff, similar, compare, export (to a file, with its search log) and
    status.  Read-only on the catalogue.  Speaks stdio by default (what desktop assistants
    launch); --http serves streamable HTTP.

    \b
    Examples:
      trials mcp                                  # for an assistant's config: command + args
      trials mcp --http --port 8766               # http://127.0.0.1:8766/mcp
    """
    from harvester.commands._webform import search_form
    from harvester.serve.assistant import make_server

    server = make_server(open_catalogue(db), search_form())
    if not http:
        server.run("stdio")
        return
    if not _is_loopback(host):
        say("warning", f"listening on {host}: anyone who can reach this machine can query "
                       "the catalogue (there is no login)")
    click.echo(f"trials: MCP over streamable HTTP on http://{host}:{port}/mcp", err=True)
    server.run("streamable-http", host=host, port=port)
