"""The Starlette application and the services it runs."""

from stemcast.app.factory import create_app

__all__ = ["create_app"]
