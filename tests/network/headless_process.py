"""``broadcaster headless`` as a real process, optionally inside a network namespace."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.participants import wait_for

ROOT = Path(__file__).resolve().parents[2]


class HeadlessProcess:
    """A running ``broadcaster headless`` whose JSON state lines are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.states: list[dict[str, Any]] = []
        self.stderr = b""
        self._reader = asyncio.ensure_future(self._read())
        self._err_reader = asyncio.ensure_future(self._read_err())

    @classmethod
    async def start(cls, *args: str, prefix: Sequence[str] = ()) -> HeadlessProcess:
        """Start ``prefix… python -m desktop headless args…`` (prefix: e.g. ``ip netns exec``)."""
        proc = await asyncio.create_subprocess_exec(
            *prefix, sys.executable, "-m", "desktop", "headless", "--connect-timeout", "10",
            *args,
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            event = json.loads(line)
            if event.get("event") == "state":
                self.states.append(event)

    async def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = await self.proc.stderr.read()

    @property
    def last(self) -> dict[str, Any]:
        """The latest state line (empty before the first)."""
        return self.states[-1] if self.states else {}

    @property
    def connection(self) -> str:
        """``connecting``, ``connected``, ``reconnecting``…"""
        return str(self.last.get("connection", ""))

    @property
    def publishing(self) -> bool:
        """Connected with camera and microphone published."""
        tracks = self.last.get("local_tracks", [])
        return self.connection == "connected" and isinstance(tracks, list) and len(tracks) >= 2

    async def until(self, predicate: Callable[[HeadlessProcess], bool], timeout_s: float) -> None:
        """Wait until ``predicate(self)`` holds; the failure shows the process's last words."""
        try:
            await wait_for(lambda: predicate(self), timeout_s)
        except AssertionError as error:
            raise AssertionError(
                f"headless never got there; last state {self.last}; "
                f"stderr {self.stderr.decode(errors='replace')[-2000:]}"
            ) from error

    async def stop(self, timeout_s: float = 30.0) -> int:
        """SIGINT, wait for the exit; returns its status."""
        if self.proc.returncode is None:
            self.proc.send_signal(2)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await asyncio.gather(self._reader, self._err_reader, return_exceptions=True)
        assert self.proc.returncode is not None
        return self.proc.returncode
