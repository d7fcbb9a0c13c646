"""Fetch: the one HTTP client, what to request from each registry, sync and history runs."""

#: Where the API lives; here rather than in ``ctgov`` so a command's options can name them
#: without importing the HTTP stack.
DEFAULT_BASE_URL = "https://clinicaltrials.gov"
BASE_URL_ENV = "TRIALS_CTGOV_URL"
