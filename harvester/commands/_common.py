"""What the commands share: exit codes, messages, the --db and network options, progress,
error handling."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from harvester.catalogue.location import ENV_VAR
from harvester.errors import CatalogueError, HarvesterError, NotFoundError, UsageError

if TYPE_CHECKING:  # imported where used: `trials show` needs no HTTP and no SQLAlchemy
    from rich.console import Console

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
    import msgspec  # here: `trials show`'s table view does without it

    data = msgspec.json.encode(value)
    return (msgspec.json.format(data, indent=2) if pretty else data).decode()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


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


if TYPE_CHECKING:  # generic in click's stubs, not at run time in every click 8
    _Choice = click.Choice[str]
    ParamTypeBase = click.ParamType[Any]
else:
    _Choice, ParamTypeBase = click.Choice, click.ParamType

#: Old ``--format`` values kept for one release, and what they mean now.
FORMAT_ALIASES = {"text": "table"}


def deprecated(old: str, new: str) -> None:
    """The one note an old spelling gets (on stderr, never on stdout)."""
    click.echo(f"trials: warning: {old} is deprecated and goes in the next release; "
               f"use {new}", err=True)


class FormatChoice(_Choice):
    """``--format``: any case; an old value (``text``) still works, with a note."""

    def __init__(self, choices: tuple[str, ...], aliases: dict[str, str]) -> None:
        super().__init__(choices, case_sensitive=False)
        self.aliases = aliases

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        key = str(value).strip().lower()
        if key in self.aliases:
            deprecated(f"--format {key}", f"--format {self.aliases[key]}")
            return self.aliases[key]
        return super().convert(key, param, ctx)


def format_option(*choices: str, default: str = "table",
                  help: str = "Output format.") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--format``: ``table`` for people (the default where there is one); ``json``,
    ``jsonl``, ``csv`` for programs."""
    aliases = {old: new for old, new in FORMAT_ALIASES.items() if new in choices}
    return click.option("--format", "fmt", type=FormatChoice(choices, aliases),
                        default=default, show_default=True, help=help)


_DAY = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?$")


def period(value: str, option: str, *, end: bool) -> date:
    """A year, month or day: its first day, or its last with ``end`` (UsageError)."""
    m = _DAY.match(value.strip())
    try:
        if not m:
            raise ValueError
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        if day is not None:
            return date(year, int(month or 1), int(day))
        if month is not None:
            import calendar

            last = calendar.monthrange(year, int(month))[1]
            return date(year, int(month), last if end else 1)
        return date(year, 12, 31) if end else date(year, 1, 1)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a date (YYYY, YYYY-MM or "
                         "YYYY-MM-DD)") from None


class Day(ParamTypeBase):
    """A date given as a year, a month or a day: the period's first day, or its last with
    ``end`` (``--start-before 2020`` and ``--as-of 2020`` mean 2020-12-31)."""

    name = "date"

    def __init__(self, *, end: bool) -> None:
        self.end = end

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, date):
            return value
        option = param.opts[0] if param is not None and param.opts else "date"
        try:
            return period(str(value), option, end=self.end)
        except UsageError as exc:  # "--as-of: 'yesterday' is not a date (…)", as before
            raise click.UsageError(str(exc), ctx) from None


def as_of_option(help: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--as-of DATE``: the catalogue as the registry published it by DATE (a year, month
    or day: its last day)."""
    return click.option("--as-of", "as_of", type=Day(end=True), default=None, metavar="DATE",
                        help=help)


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
    from rich.console import Console

    console = Console(file=sys.stdout, soft_wrap=False)
    if not console.is_terminal:
        console.width = 160
    return console


@contextmanager
def progress_bar(total: int | None, label: str, *,
                 enabled: bool) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr when it is a terminal and ``enabled``; yields
    ``advance(n, total=None)`` (a total learnt on the way, like a search's count, is set)."""
    from rich.console import Console
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
    one release; using one prints a deprecation note on stderr):
    ``click.option("--cond", "--condition", cls=Aliased, hidden_names=("--condition",))``."""

    def __init__(self, *args: Any, hidden_names: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_names = hidden_names

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.hidden_names]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        if not self.hidden_names:
            return super().add_to_parser(parser, ctx)
        every, secondary = self.opts, self.secondary_opts
        try:  # the shown names, then the old ones as a parser option of their own
            self.opts = [o for o in every if o not in self.hidden_names]
            super().add_to_parser(parser, ctx)
            self.opts, self.secondary_opts = list(self.hidden_names), []
            super().add_to_parser(parser, ctx)
        finally:
            self.opts, self.secondary_opts = every, secondary
        new = self.opts[0] if self.opts[0] not in self.hidden_names else self.name
        for old in self.hidden_names:
            option = parser._long_opt.get(old) or parser._short_opt.get(old)
            if option is not None:
                option.process = _noting(option.process, old, new)


def _noting(process: Callable[..., None], old: str, new: str) -> Callable[..., None]:
    def noted(value: Any, state: Any) -> None:
        deprecated(old, new)
        process(value, state)

    return noted


def aliased_option(*names: str, hidden: tuple[str, ...] = (), **kwargs: Any) -> Callable[
        [Callable[P, R]], Callable[P, R]]:
    """``click.option`` with ``hidden`` old spellings (see :class:`Aliased`)."""
    return click.option(*names, *hidden, cls=Aliased, hidden_names=hidden, **kwargs)


def quiet_option(func: Callable[P, R]) -> Callable[P, R]:
    """``--quiet``/``-q``: no notes, warnings or progress on stderr; data and errors only."""
    return click.option("--quiet", "-q", is_flag=True,
                        help="Print nothing but the data and errors.")(func)


def limit_option(default: int = 20, *, hidden: tuple[str, ...] = (),
                 maximum: int | None = None,
                 help: str = "How many to show.") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--limit N``: how many rows a command lists."""
    return aliased_option("--limit", "limit", hidden=hidden,
                          type=click.IntRange(min=1, max=maximum), default=default,
                          show_default=True, help=help)


#: Help option names of every command.
HELP_NAMES = ["-h", "--help"]
