"""Registries and mirrors: what to request and how to page.  The network policy itself lives
in :mod:`harvester.http`."""
