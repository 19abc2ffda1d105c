"""The version of tunehouse (one place; ``tunehouse.__version__`` re-exports it)."""

__version__ = "0.1.0"
