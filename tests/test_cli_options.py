"""One command line: every command's options, walked, and the shared ones checked to be
spelled and to behave alike (same names, same value syntax, same choices, same default).

The commands are loaded through the group (`cli.COMMANDS`, lazily imported), so a command
added later is walked too; its options are parsed with click's own ``make_context`` (no
command runs, no catalogue is opened).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import click
import pytest
from click.testing import CliRunner

from cli import COMMANDS, main
from harvester.commands._common import Aliased

FORMATS = {"table", "json", "jsonl", "csv", "md"}  # what --format may offer for people/programs
#: Where --format's default is not "table", and why.
FORMAT_DEFAULTS = {
    "parse": "json",  # a converter of registry files: its output is the record, for a pipe
    "export": None,  # the exporters' names, default from the suffix of -o
}
#: Options whose default legitimately differs between commands, and why.
OWN_DEFAULTS = {
    "--limit": "a page of search hits (20) is longer than a page of similar trials (10)",
    "--port": "serve and mcp listen on different ports by default",
    "--source": "import/parse: detect; show: the preferred source",
}
#: Commands that must have each shared option (a command that loses one fails here).
MUST_HAVE = {
    "--format": {"parse", "import", "runs", "sync", "fetch", "show", "history", "diff",
                 "changes", "search", "similar", "compare", "export", "queries", "status"},
    "--quiet": {"import", "sync", "fetch", "search", "similar", "index", "export", "serve"},
    "--as-of": {"show", "history", "diff", "compare", "search", "similar", "export",
                "changes", "queries"},
    "--limit": {"search", "similar", "runs"},
    "--db": set(COMMANDS) - {"parse"},
    "--status": {"sync", "search", "similar", "export"},
}


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(main, info_name="trials")
    found = {name: main.get_command(ctx, name) for name in main.list_commands(ctx)}
    return {name: command for name, command in found.items() if command is not None}


COMMAND_OBJECTS = _commands()


def _options(command: click.Command) -> dict[str, click.Option]:
    """Each option by its first long name."""
    found = {}
    for param in command.params:
        if isinstance(param, click.Option):
            longs = [o for o in param.opts if o.startswith("--")]
            found[longs[0] if longs else param.opts[0]] = param
    return found


def _parse(name: str, *args: str) -> dict[str, Any]:
    """The values ``trials NAME ARGS`` would run with."""
    command = COMMAND_OBJECTS[name]
    needed = [p for p in command.params if isinstance(p, click.Argument) and p.required]
    parent = click.Context(main, info_name="trials")
    ctx = command.make_context(name, [*args, *(["NCT00000001"] if needed else [])],
                               parent=parent)
    return ctx.params


def _shown(option: click.Option) -> tuple[str, ...]:
    hidden = getattr(option, "hidden_names", ())
    return tuple(sorted(o for o in (*option.opts, *option.secondary_opts) if o not in hidden))


def _signature(option: click.Option) -> tuple[Any, ...]:
    choices = tuple(getattr(option.type, "choices", ()) or ())
    return (_shown(option), type(option.type).__name__, option.multiple, option.is_flag,
            option.count, choices)


def _default(option: click.Option) -> Any:
    """The default, with click's "not given" and None alike (both mean none)."""
    return None if option.default is None or "UNSET" in repr(option.default) \
        else option.default


def test_every_command_is_walked() -> None:
    assert set(COMMAND_OBJECTS) == set(COMMANDS) and len(COMMANDS) >= 19


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_dash_h_is_help_with_an_example(name: str) -> None:
    result = CliRunner().invoke(main, [name, "-h"], prog_name="trials")
    assert result.exit_code == 0, result.output
    assert f"Usage: trials {name}" in result.output
    assert "Example" in result.output


def test_shared_options_are_spelled_and_typed_alike() -> None:
    by_name: dict[str, dict[str, click.Option]] = defaultdict(dict)
    for name, command in COMMAND_OBJECTS.items():
        for option_name, option in _options(command).items():
            by_name[option_name][name] = option
    differ = []
    for option_name, holders in sorted(by_name.items()):
        if len(holders) < 2:
            continue
        kinds = {name: _signature(o) for name, o in holders.items()}
        if option_name == "--format":  # checked by the next test: choices per command
            continue
        if len(set(kinds.values())) > 1:
            differ.append(f"{option_name}: {kinds}")
        defaults = {name: _default(o) for name, o in holders.items()}
        if option_name not in OWN_DEFAULTS and len({repr(v) for v in defaults.values()}) > 1:
            differ.append(f"{option_name} defaults: {defaults}")
    assert not differ, "\n".join(differ)


def test_must_have_options_are_there() -> None:
    missing = [f"{name} {option}" for option, names in MUST_HAVE.items() for name in names
               if option not in _options(COMMAND_OBJECTS[name])]
    assert not missing


@pytest.mark.parametrize("name", sorted(MUST_HAVE["--format"]))
def test_format_is_table_for_people_and_json_for_programs(name: str) -> None:
    option = _options(COMMAND_OBJECTS[name])["--format"]
    choices = set(getattr(option.type, "choices", ()))
    if name == "export":  # the exporters
        assert {"jsonl", "csv"} <= choices and "text" not in choices
        return
    assert choices <= FORMATS and {"table", "json"} <= choices, choices
    assert option.default == FORMAT_DEFAULTS.get(name, "table")
    assert _parse(name, "--format", "JSON")["fmt"] == "json"  # any case


@pytest.mark.parametrize("name", ["changes", "diff", "fetch", "sync"])
def test_the_old_format_text_is_table_with_a_note(name: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert _parse(name, "--format", "text")["fmt"] == "table"
    assert "--format text is deprecated" in capsys.readouterr().err
    assert "text" not in str(_options(COMMAND_OBJECTS[name])["--format"].type)


@pytest.mark.parametrize("name", sorted(MUST_HAVE["--status"]))
def test_status_takes_commas_any_case_on_every_command(name: str) -> None:
    values = _parse(name, "--status", "recruiting,Not yet recruiting", "--status", "COMPLETED")
    assert values["status"] == ("RECRUITING", "NOT_YET_RECRUITING", "COMPLETED")
    with pytest.raises(click.UsageError, match="--status: 'FINISHED' is not one of"):
        _parse(name, "--status", "finished")


LIST_FILTERS = {"--phase": ("2, phase 1/2,III", ("PHASE2", "PHASE1", "PHASE3")),
                "--study-type": ("interventional", ("INTERVENTIONAL",)),
                "--funder": ("nih,Industry", ("NIH", "INDUSTRY")),
                "--age-group": ("older_adult, child", ("OLDER_ADULT", "CHILD"))}


@pytest.mark.parametrize("option", sorted(LIST_FILTERS))
def test_list_filters_take_commas_any_case_wherever_they_are(option: str) -> None:
    given, expected = LIST_FILTERS[option]
    holders = [n for n, c in COMMAND_OBJECTS.items() if option in _options(c)]
    assert {"search", "similar", "export"} <= set(holders)
    for name in holders:
        dest = _options(COMMAND_OBJECTS[name])[option].name
        assert dest is not None
        assert _parse(name, option, given)[dest] == expected, name


@pytest.mark.parametrize("name", sorted(MUST_HAVE["--as-of"]))
def test_as_of_is_a_year_a_month_or_a_day_everywhere(name: str) -> None:
    assert _parse(name, "--as-of", "2020")["as_of"] == date(2020, 12, 31)
    assert _parse(name, "--as-of", "2024-02")["as_of"] == date(2024, 2, 29)
    assert _parse(name, "--as-of", "2024-02-03")["as_of"] == date(2024, 2, 3)
    with pytest.raises(click.UsageError, match="--as-of: 'yesterday' is not a date"):
        _parse(name, "--as-of", "yesterday")


@pytest.mark.parametrize("name", sorted(MUST_HAVE["--quiet"]))
def test_quiet_is_quiet_or_q(name: str) -> None:
    assert _parse(name, "-q")["quiet"] is True
    assert _parse(name)["quiet"] is False


@pytest.mark.parametrize("name", sorted(MUST_HAVE["--limit"]))
def test_limit_is_a_positive_count(name: str) -> None:
    assert _parse(name, "--limit", "5")["limit"] == 5
    with pytest.raises(click.BadParameter):
        _parse(name, "--limit", "0")


def _aliases() -> list[tuple[str, str, str]]:
    return [(name, option.opts[0], old) for name, command in COMMAND_OBJECTS.items()
            for option in command.params if isinstance(option, Aliased)
            for old in option.hidden_names]


@pytest.mark.parametrize(("name", "new", "old"), _aliases())
def test_old_spellings_are_hidden_and_still_work_with_a_note(
        name: str, new: str, old: str, capsys: pytest.CaptureFixture[str]) -> None:
    value = "5" if new == "--limit" else "2020-01-01" if "date" in new or "updated" in new \
        else "lung"
    assert _parse(name, old, value) == _parse(name, new, value)
    assert f"{old} is deprecated" in capsys.readouterr().err
    help_text = CliRunner().invoke(main, [name, "--help"]).output
    assert f"{old} " not in help_text and f"{old}," not in help_text


def test_there_are_old_spellings_to_check() -> None:
    assert {("similar", "--top"), ("search", "--condition")} <= {(n, o) for n, _, o in
                                                                 _aliases()}
