"""Fetch: the one HTTP client, what to request from each registry, sync and history runs."""

import os

from harvester import __version__

#: Where the API lives; here rather than in ``ctgov`` so a command's options can name them
#: without importing the HTTP stack.
DEFAULT_BASE_URL = "https://clinicaltrials.gov"
BASE_URL_ENV = "TRIALS_CTGOV_URL"

# Says who is asking and why; a deployment should add a contact with --user-agent / the
# TRIALS_USER_AGENT environment variable (the project has no public home page to point to).
DEFAULT_USER_AGENT = os.environ.get("TRIALS_USER_AGENT") or (
    f"trial-harvester/{__version__} (clinical-trial registry harvester; python-requests)"
)
