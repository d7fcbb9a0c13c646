"""The ``trials`` subcommands: thin click layers over ``harvester`` and ``parsers``.

Only this package (and ``cli.py``) prints or chooses exit codes.  Data goes to stdout;
warnings, errors and progress to stderr.
"""
