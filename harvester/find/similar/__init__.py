"""Similar trials: features, an incremental index in the catalogue, scores with reasons."""
