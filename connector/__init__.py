"""revox-sync: rows in, calls out, results back."""

__version__ = "0.1.0"
