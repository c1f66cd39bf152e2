"""stemcast: realtime stem separation server."""

__version__ = "0.1.0"
