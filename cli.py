"""The ``trials`` command line: a thin layer over ``harvester`` and ``parsers``.

Data goes to stdout; warnings, errors and progress go to stderr.  Exit status: 0 success,
1 partial (some input failed; the rest was processed), 2 usage error, 3 could not run,
4 no such trial or version.  The subcommands live in ``harvester/commands/``.
"""

from __future__ import annotations

import importlib

import click

from harvester import __version__

#: Each subcommand and where it lives; a module is imported only when its command runs, so
#: `trials show` does not pay for the HTML parser or HTTP.
COMMANDS = {
    "parse": "parse:parse", "import": "importing:import_", "reparse": "importing:reparse",
    "runs": "importing:runs", "sync": "syncing:sync", "fetch": "syncing:fetch",
    "show": "browse:show", "history": "browse:history", "diff": "browse:diff",
    "changes": "browse:changes", "search": "search:search", "similar": "similar:similar",
    "index": "similar:index", "compare": "compare:compare", "export": "export:export",
    "serve": "serving:serve", "mcp": "serving:mcp",
    "queries": "operate:queries", "status": "operate:status",
}

#: One line per command for `trials --help`, so the group's help imports no subcommand
#: module (tests/test_cli.py checks each against its command's own help).  A command
#: missing here is still listed: its module is imported for its help.
SUMMARIES = {
    "changes": ("What changed in the catalogue: new trials, status transitions, enrollment "
                "changes, results first posted, trials that disappeared."),
    "compare": "Two to 10 trials side by side, one column each, what differs marked.",
    "diff": "Field-level differences between two versions of a trial.",
    "export": "Export the catalogue, or a selection of it, to stdout or a file.",
    "fetch": "Fetch single studies from the API, or mirror pages by URL, into the catalogue.",
    "history": "List a trial's versions: number, when seen, source, registry date, what changed.",
    "import": "Import registry files, folders and bulk zips into the catalogue.",
    "index": "Bring the similarity and search indexes up to date (or rebuild them).",
    "parse": "Parse registry files into typed trial records and print them.",
    "queries": "List, show, rename or delete the saved sync queries.",
    "status": "The catalogue's health on one screen, for a person or a monitoring check.",
    "reparse": "Re-derive records from their stored raw payloads with the current parser.",
    "runs": "List the latest imports, syncs and reparses: when, what, and how they ended.",
    "search": ("Search the catalogue like the registry: every field, or one search area at a "
               "time (--cond, --intr, --titles, --outc, --spons, --locn, --id, as `trials "
               "sync` takes them), with the registry website's filters; best matches first."),
    "serve": ("Serve the catalogue, read-only: web pages for searching and reading trials "
              "(history, diffs, similar trials, comparisons, exports) and the registry's API "
              "v2 under /api/v2."),
    "mcp": "Serve the catalogue to AI assistants over the Model Context Protocol.",
    "show": "Show a trial's current record (ClinicalTrials.gov's own preferred over mirrors).",
    "similar": "List the trials most like a given one, each with a score and the reasons.",
    "sync": "Harvest every study matching a search into the catalogue.",
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
        if not any(p.name == "log_events_file" for p in command.params):
            from harvester.commands.config import log_options

            command.params.extend(log_options())
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            summary = SUMMARIES.get(name)
            if summary is None:
                command = self.get_command(ctx, name)
                summary = command.get_short_help_str(limit=1000) if command else ""
            rows.append((name, click.Command(name, help=summary).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if ctx.resilient_parsing:
        return value
    from harvester.commands.config import load

    found = load(value, set(COMMANDS))
    if found is not None:
        ctx.default_map = found
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trials")
@click.option("--config", envvar="TRIALS_CONFIG", metavar="FILE", expose_value=False,
              callback=_config,
              help="Config file (default: trials.toml in your user config directory): "
                   "option values by name; flags and environment variables override it.")
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
