"""Waiting in tests: poll a condition until it holds, or fail saying what was awaited.

``wait_until`` (plain code) and ``wait_for`` (a coroutine, which lets the event loop run while it
waits) call ``predicate`` until it returns something true, and return that value. After
``timeout_s`` they raise ``AssertionError`` with one sentence naming what was awaited (``what``,
or the file and line of the predicate) and the last value seen: the predicate's own last value, or
``state()`` when given, since a bare ``False`` says little about why. A predicate that answers
``None`` for "not yet" gives back its value's type without ``None``.

The predicate is plain code: a condition that must itself await (a request to a server) keeps its
own loop in its test, paced for the server.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

INTERVAL_S = 0.05
"""Pause between two looks at the condition, unless a caller asks for another."""
DEFAULT_WAIT_S = 15.0
"""How long ``wait_for`` waits when not told (``tests.participants.wait_for``'s old default)."""


def _awaited(predicate: Callable[..., object], what: str | None) -> str:
    """``what``, or where the predicate was written (a lambda's line is the waiting call's)."""
    if what is not None:
        return what
    code = getattr(predicate, "__code__", None)
    if code is None:
        return f"{predicate!r} to hold"
    where = os.path.relpath(code.co_filename)
    name = getattr(predicate, "__name__", "<lambda>")
    subject = "the condition" if name == "<lambda>" else f"{name}()"
    return f"{subject} at {where}:{code.co_firstlineno} to hold"


def _timed_out(
    predicate: Callable[..., object],
    timeout_s: float,
    what: str | None,
    last: object,
    state: Callable[[], object] | None,
) -> str:
    seen = state() if state is not None else last
    awaited = _awaited(predicate, what)
    return f"timed out after {timeout_s:g} s waiting for {awaited}; last seen: {seen!r}"


def wait_until(
    predicate: Callable[[], T | None],
    timeout_s: float,
    what: str | None = None,
    *,
    state: Callable[[], object] | None = None,
    interval_s: float = INTERVAL_S,
) -> T:
    """Call ``predicate`` until it returns something true and return that; block meanwhile.

    ``what`` names what is awaited in the failure ("the recording to reach 2 s"); ``state``, when
    given, is called once on failure for the last value to report instead of the predicate's.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(_timed_out(predicate, timeout_s, what, value, state))
        time.sleep(interval_s)


async def wait_for(
    predicate: Callable[[], T | None],
    timeout_s: float = DEFAULT_WAIT_S,
    what: str | None = None,
    *,
    state: Callable[[], object] | None = None,
    tick: Callable[[], object] | None = None,
    interval_s: float = INTERVAL_S,
) -> T:
    """Await until ``predicate`` returns something true and return that; the loop runs meanwhile.

    ``tick``, when given, is called between two looks (``QApplication.processEvents`` in a Qt
    test, whose widgets repaint only then). ``what`` and ``state`` are as for ``wait_until``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(_timed_out(predicate, timeout_s, what, value, state))
        if tick is not None:
            tick()
        await asyncio.sleep(interval_s)
