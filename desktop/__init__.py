"""Spaces Broadcaster: the desktop studio for hosts of live streaming events on LiveKit."""

# The one place the version is written (pyproject.toml reads it from here): asking
# importlib.metadata instead cost the studio's start-up about 0.1 s, and a bundled app or a
# source tree never installed has no metadata to ask.
__version__ = "0.1.0"

__all__ = ["__version__"]
