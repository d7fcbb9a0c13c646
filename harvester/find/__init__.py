"""Use: full-text search, similar trials and trials side by side."""
