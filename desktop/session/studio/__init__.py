"""The studio: every command the window sends, in one place, with no Qt and no widgets.

:class:`Studio` (``root.py``) is the composition root; each concept it commands is a
coordinator of its own in this package. Everything imported from ``desktop.session.studio``
before the split is still importable from here.
"""

from desktop.session.studio.connection import CONNECTION_TEST_TIMEOUT_S, check_connection
from desktop.session.studio.program import ProgramInfo
from desktop.session.studio.recording import RecordingPlace
from desktop.session.studio.root import Studio
from desktop.session.studio.summary import StreamSummary

__all__ = [
    "CONNECTION_TEST_TIMEOUT_S",
    "ProgramInfo",
    "RecordingPlace",
    "StreamSummary",
    "Studio",
    "check_connection",
]
