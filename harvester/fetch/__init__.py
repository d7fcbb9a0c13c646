"""Fetch: the one HTTP client, what to request from each registry, sync and history runs."""
