"""What the commands share: exit codes, messages, the --db and network options, progress,
error handling."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
import msgspec
from rich.console import Console

from harvester.catalogue.location import ENV_VAR
from harvester.errors import CatalogueError, HarvesterError, NotFoundError, UsageError

if TYPE_CHECKING:  # imported where used: `trials show` needs no HTTP and no SQLAlchemy
    from harvester.catalogue import Catalogue
    from harvester.fetch.http import HttpClient

#: Exit statuses a scheduler can act on.
EXIT_OK = 0
EXIT_PARTIAL = 1  # ran, but some input failed or the result is incomplete
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_FAILED = 3  # could not run: catalogue unreachable, unreadable input, …
EXIT_NOT_FOUND = 4  # no such trial, version or run

P = ParamSpec("P")
R = TypeVar("R")


def to_json(value: Any, *, pretty: bool = False) -> str:
    """JSON for stdout (dates and times as ISO 8601)."""
    data = msgspec.json.encode(value)
    return (msgspec.json.format(data, indent=2) if pretty else data).decode()


def say(kind: str, message: str) -> None:
    click.echo(f"trials: {kind}: {message}", err=True)
    logger = logging.getLogger("trials")
    if not logger.handlers:  # no --log-file: the line above was the message; no second copy
        logger.addHandler(logging.NullHandler())
    logger.log(logging.WARNING if kind == "warning" else logging.ERROR, message)


def reporter(quiet: bool) -> Callable[[str], None]:
    """Route a harvester's problem messages to stderr: ``warning: …`` ones as warnings
    (silenced by ``--quiet``), everything else as errors (never silenced)."""

    def report(message: str) -> None:
        if message.startswith("warning: "):
            if not quiet:
                say("warning", message.removeprefix("warning: "))
        else:
            say("error", message)

    return report


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's exceptions into one line on stderr and an exit status."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except NotFoundError as exc:
            say("error", str(exc))
            sys.exit(EXIT_NOT_FOUND)
        except UsageError as exc:
            raise click.UsageError(str(exc)) from None
        except (CatalogueError, HarvesterError) as exc:
            say("error", str(exc))
            sys.exit(EXIT_FAILED)
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            # never print SQL statements or record data
            text = str(getattr(exc, "orig", None) or type(exc).__name__).strip()
            say("error", f"database error: {text.splitlines()[0] if text else type(exc).__name__}")
            sys.exit(EXIT_FAILED)

    return wrapper


def _is_database_error(exc: Exception) -> bool:
    """A SQLAlchemy error (only a command that loaded SQLAlchemy can raise one)."""
    sa = sys.modules.get("sqlalchemy.exc")
    return sa is not None and isinstance(exc, sa.SQLAlchemyError)


db_option = click.option(
    "--db", "db", envvar=ENV_VAR, default=None, metavar="PATH|URL",
    help="The catalogue: a SQLite file's path, or a database URL (sqlite:///PATH, "
         f"postgresql+psycopg://…); default: ${ENV_VAR}, else a SQLite file in your user "
         "data directory.")

wait_option = click.option(
    "--wait", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
    help="Seconds to wait for another writer of this catalogue to finish (default: refuse "
         "at once, naming it).")


def workers_option(help: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--workers N``: processes that parse (0: one per core; 1: this process only)."""
    return click.option("--workers", type=click.IntRange(min=0), default=0,
                        show_default=True, help=help)


#: The network options, by parameter name, and the config-file key that sets each (the
#: options' defaults come from the config file through click's ``default_map``).
NETWORK_CONFIG_KEYS = {"timeout": "timeout", "budget": "budget", "user_agent": "user_agent"}
DEFAULT_TIMEOUT = 60.0  # = harvester.fetch.http.DEFAULT_TIMEOUT (not imported: lazy HTTP)


def network_options(func: Callable[P, R]) -> Callable[P, R]:
    """--timeout, --budget and --user-agent: how long a request and a command may take,
    and who the client says it is."""
    func = click.option(
        "--user-agent", "user_agent", envvar="TRIALS_USER_AGENT", default=None, metavar="TEXT",
        help="User-Agent to send; add a contact (e.g. 'myproject/1.0 (me@example.org)'). "
             "Also $TRIALS_USER_AGENT.")(func)
    func = click.option(
        "--budget", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
        help="Stop sending requests after this many seconds in all (default: no limit); "
             "what was stored is kept and the next run resumes.")(func)
    return click.option(
        "--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT,
        show_default=True, metavar="SECONDS",
        help="Deadline of each request, connection and whole answer included (a server "
             "that stalls or trickles is cut off and the request retried).")(func)


def http_client(*, min_interval: float, retries: int, timeout: float = DEFAULT_TIMEOUT,
                budget: float | None = None, user_agent: str | None = None) -> HttpClient:
    """The HTTP client a command's options describe."""
    from harvester.fetch.http import DEFAULT_USER_AGENT, HttpClient

    return HttpClient(user_agent=user_agent or DEFAULT_USER_AGENT, min_interval=min_interval,
                      max_attempts=retries + 1, timeout=timeout, budget=budget)


def open_catalogue(db: str | None, *, create: bool = False) -> Catalogue:
    """The catalogue ``--db`` names.  Only commands that write pass ``create``: any other
    command given a catalogue that does not exist fails (exit 3) and creates nothing."""
    from harvester.catalogue import Catalogue

    return Catalogue.open(db, create=create)


def format_option(*choices: str, default: str = "table") -> Callable[[Callable[P, R]],
                                                                      Callable[P, R]]:
    return click.option("--format", "fmt", type=click.Choice(choices), default=default,
                        show_default=True, help="Output format.")


def parse_day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_moment(value: str, what: str) -> datetime:
    """A date or date-time; naive values are UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not a date or date-time (ISO 8601)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stdout_console() -> Console:
    """Tables on stdout: the terminal's width, or a wide page when piped to a file."""
    console = Console(file=sys.stdout, soft_wrap=False)
    if not console.is_terminal:
        console.width = 160
    return console


@contextmanager
def progress_bar(total: int | None, label: str, *,
                 enabled: bool) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr when it is a terminal and ``enabled``; yields
    ``advance(n, total=None)`` (a total learnt on the way, like a search's count, is set)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=sys.stderr)
    if not enabled or not console.is_terminal:

        def ignore(n: int, total: int | None = None) -> None:
            pass

        yield ignore
        return
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def advance(n: int, total: int | None = None) -> None:
            if total is not None:
                progress.update(task, total=total)
            progress.advance(task, n)

        yield advance


class Aliased(click.Option):
    """An option whose old spellings still work but are not shown in ``--help`` (kept for
    one release): ``click.option("--cond", "--condition", cls=Aliased, hidden_names=…)``."""

    def __init__(self, *args: Any, hidden_names: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_names = hidden_names

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.hidden_names]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def aliased_option(*names: str, hidden: tuple[str, ...] = (), **kwargs: Any) -> Callable[
        [Callable[P, R]], Callable[P, R]]:
    """``click.option`` with ``hidden`` old spellings (see :class:`Aliased`)."""
    return click.option(*names, *hidden, cls=Aliased, hidden_names=hidden, **kwargs)


def quiet_option(func: Callable[P, R]) -> Callable[P, R]:
    return click.option("--quiet", "-q", is_flag=True,
                        help="Print nothing but the data and errors.")(func)


def limit_option(default: int = 20, *, hidden: tuple[str, ...] = (),
                 maximum: int | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return aliased_option("--limit", "limit", hidden=hidden,
                          type=click.IntRange(min=1, max=maximum), default=default,
                          show_default=True, help="How many to show.")


#: Help option names of every command.
HELP_NAMES = ["-h", "--help"]
