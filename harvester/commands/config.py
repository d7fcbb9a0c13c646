"""The config file and the log options every command takes.

**Config file**: ``trials.toml`` in the user config directory (``~/.config/trial-harvester/``
on Linux), or the file ``--config FILE`` (``trials --config FILE COMMAND …``) or
``$TRIALS_CONFIG`` names.  Its keys are option names (``min_interval`` or ``min-interval``):
top-level keys apply to every command that has that option, a ``[command]`` table to one
command only.  A flag on the command line overrides the file, and an option's environment
variable (``TRIALS_DB``, ``TRIALS_USER_AGENT``, …) overrides it too.  This goes through
click's ``default_map``, so an option added to any command later is settable from the file
with no change here (issue 12's ``timeout``, ``budget``, ``user_agent`` are).  Example::

    db = "/var/lib/trials/catalogue.sqlite"
    user_agent = "trials-nightly/1.0 (team@example.org)"
    min_interval = 1.0
    log_file = "/var/log/trials/trials.log"
    log_format = "json"

    [sync]
    wait = 600

**Logs**: ``--log-file FILE`` appends timestamped lines (what goes to stderr, and each run's
start and end); ``--log-format json`` makes each one a JSON object: time, level, run, query,
message.
"""

from __future__ import annotations

import json
import logging
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from harvester.errors import UsageError

CONFIG_ENV = "TRIALS_CONFIG"
#: Config keys whose option has another parameter name (``export --log`` is ``log_file``).
ALIASES = {"log_file": "log_events_file", "log_format": "log_events_format"}
LOGGER = logging.getLogger("trials")


def default_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("trial-harvester", appauthor=False) / "trials.toml"


class ConfigMap(dict[str, Any]):
    """A ``default_map`` for the ``trials`` group: each command gets the file's top-level
    keys and its own table."""

    def __init__(self, data: dict[str, Any], commands: set[str]) -> None:
        super().__init__()
        self.flat = {ALIASES.get(k, k): v for k, v in _keys(data).items()
                     if not isinstance(v, dict)}
        self.tables = {name: {ALIASES.get(k, k): v for k, v in _keys(v).items()}
                       for name, v in data.items() if isinstance(v, dict)}
        unknown = set(self.tables) - commands
        if unknown:
            raise UsageError(f"config file: [{', '.join(sorted(unknown))}] is not a command")

    def get(self, name: str, default: Any = None) -> Any:
        return {**self.flat, **self.tables.get(name, {})}


def _keys(data: dict[str, Any]) -> dict[str, Any]:
    return {k.replace("-", "_"): v for k, v in data.items()}


def load(path: str | None, commands: set[str]) -> ConfigMap | None:
    """The config file ``path`` names (it must exist), else the default one if it exists."""
    chosen = Path(path).expanduser() if path else default_path()
    if not chosen.is_file():
        if path:
            raise click.BadParameter(f"no such file: {chosen}", param_hint="--config")
        return None
    try:
        data = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{chosen}: {exc}", param_hint="--config") from None
    try:
        return ConfigMap(data, commands)
    except UsageError as exc:
        raise click.BadParameter(f"{chosen}: {exc}", param_hint="--config") from None


# --- logs ----------------------------------------------------------------------------------

class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds")
        where = " ".join(f"{k} {getattr(record, k)}" for k in ("run", "query")
                         if getattr(record, k, None) is not None)
        return f"{when} {record.levelname} {where + ': ' if where else ''}{record.getMessage()}"


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(), "run": getattr(record, "run", None),
            "query": getattr(record, "query", None), "message": record.getMessage(),
        }, ensure_ascii=False)


_STATE: dict[str, Any] = {"file": None, "format": "text"}


def _set(key: str) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            _STATE[key] = value
        _configure()
        return value

    return callback


def _configure() -> None:
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
        handler.close()
    if not _STATE["file"]:
        LOGGER.addHandler(logging.NullHandler())  # messages already went to stderr via say()
        return
    try:
        path = Path(_STATE["file"]).expanduser()
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot write {_STATE['file']}: {exc.strerror}",
                                 param_hint="--log-file") from None
    handler.setFormatter(_Json() if _STATE["format"] == "json" else _Text())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def log_options() -> list[click.Option]:
    """``--log-file`` and ``--log-format``, added to every command by the ``trials`` group."""
    return [
        click.Option(["--log-file", "log_events_file"], metavar="FILE", expose_value=False,
                     callback=_set("file"),
                     help="Append timestamped log lines to FILE (errors, warnings, runs)."),
        click.Option(["--log-format", "log_events_format"], type=click.Choice(["text", "json"]),
                     expose_value=False, is_eager=True, callback=_set("format"),
                     help="Log lines as text or one JSON object each (time, level, run, "
                          "query, message)."),
    ]


def event(level: int, message: str, *, run: int | None = None,
          query: str | None = None) -> None:
    if LOGGER.handlers:
        LOGGER.log(level, message, extra={"run": run, "query": query})
