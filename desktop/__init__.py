"""Spaces Broadcaster: the desktop studio for hosts of live streaming events on LiveKit."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spaces-broadcaster")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
