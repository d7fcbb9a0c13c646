"""trial-harvester: harvest clinical-trial registry records into a versioned catalogue."""

__version__ = "0.1.0"
