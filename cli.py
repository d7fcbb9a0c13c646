"""The ``trials`` command line: a thin layer over ``harvester`` and ``parsers``.

Data goes to stdout; warnings, errors and progress go to stderr.  Exit status: 0 success,
1 partial (some input failed; the rest was processed), 2 usage error, 3 could not run,
4 no such trial or version.  The subcommands live in ``harvester/commands/``.
"""

from __future__ import annotations

import click

from harvester import __version__
from harvester.commands import (
    browse,
    compare,
    export,
    importing,
    parse,
    search,
    similar,
    syncing,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trials")
def main() -> None:
    """trial-harvester: clinical-trial records in one typed, versioned catalogue.

    \b
    Example:
      trials parse fixtures/mirror-veeva/NCT00557986.txt
      trials import fixtures/ctgov-history/ && trials history NCT06203210
    """


for command in (parse.parse, importing.import_, importing.reparse, importing.runs,
                syncing.sync, syncing.fetch, browse.show, browse.history, browse.diff,
                browse.changes, search.search, similar.similar, similar.index,
                compare.compare, export.export):
    main.add_command(command)


if __name__ == "__main__":
    main()
