"""The ``trials`` command line: a thin layer over ``harvester`` and ``parsers``.

Data goes to stdout; warnings, errors and progress go to stderr.  Exit status: 0 success,
1 partial (some input failed; the rest was processed), 2 usage error, 3 could not run,
4 no such trial or version.  The subcommands live in ``harvester/commands/``.
"""

from __future__ import annotations

import importlib

import click

from harvester import __version__

#: Each subcommand and where it lives; a module is imported only when its command runs (or
#: for the group's --help), so `trials similar` does not pay for the HTML parser or HTTP.
COMMANDS = {
    "parse": "parse:parse", "import": "importing:import_", "reparse": "importing:reparse",
    "runs": "importing:runs", "sync": "syncing:sync", "fetch": "syncing:fetch",
    "show": "browse:show", "history": "browse:history", "diff": "browse:diff",
    "changes": "browse:changes", "search": "search:search", "similar": "similar:similar",
    "index": "similar:index", "compare": "compare:compare", "export": "export:export",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(f"harvester.commands.{module}"), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trials")
def main() -> None:
    """trial-harvester: clinical-trial records in one typed, versioned catalogue.

    \b
    Example:
      trials parse fixtures/mirror-veeva/NCT00557986.txt
      trials import fixtures/ctgov-history/ && trials history NCT06203210
      trials search tigit && trials similar NCT04585815
    """


if __name__ == "__main__":
    main()
