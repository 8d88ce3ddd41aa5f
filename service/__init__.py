"""datapoints: one HTTP service that collects data points in four wire formats."""

__version__ = "0.1.0"
