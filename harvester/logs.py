"""What this process is doing, for other processes and for machines: the command line shown
to a refused writer (without secrets), and the log events of ``--log-file``/``--log-format``.

Stdlib only, so that the ``trials`` group can use it before any subcommand is imported.
"""

from __future__ import annotations

#: The command line of this process as other writers are shown it (see :func:`set_command`).
COMMAND: list[str] = []
_SECRET_OPTIONS = ("--db", "--config")


def set_command(argv: list[str]) -> None:
    """Record the command line shown to other writers, without the values of options that
    may hold secrets (a database URL's password)."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append("…")
            hide_next = False
        elif arg in _SECRET_OPTIONS:
            shown.append(arg)
            hide_next = True
        elif arg.startswith(tuple(f"{o}=" for o in _SECRET_OPTIONS)):
            shown.append(arg.split("=", 1)[0] + "=…")
        elif "://" in arg and "@" in arg:  # a URL with credentials given some other way
            shown.append("…")
        else:
            shown.append(arg)
    COMMAND[:] = ["trials", *shown]
