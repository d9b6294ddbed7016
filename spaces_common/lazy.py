"""Modules imported on first use, so a process pays only for what it reaches.

The studio's first window needs none of LiveKit, PyAV, aiohttp or the keyring; importing them
up front cost about a second of its start-up. A module written as

    if TYPE_CHECKING:
        from livekit import api
    else:
        api = lazy_module("livekit.api")

is type-checked as the real module and imported the first time one of its names is read. The
desktop app and the backend both use it; it lives in neither, so neither imports the other for it.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LazyModule(types.ModuleType):
    """Stands for a module and imports it when one of its attributes is first read.

    It is not put into ``sys.modules``: whether the real module has been imported stays
    visible there (the start-up test relies on it).
    """

    def __getattr__(self, name: str) -> Any:
        # Only called for names the stand-in itself lacks, i.e. every name of the real module.
        module = sys.modules.get(self.__name__) or importlib.import_module(self.__name__)
        return getattr(module, name)


def lazy_module(name: str) -> Any:
    """A stand-in for the module ``name`` that imports it on first use (see the module doc)."""
    return LazyModule(name)


class LazyMapping(Mapping[K, V]):
    """A read-only mapping that ``build`` makes on first use.

    For tables whose keys or values are a lazily imported module's constants: defining them
    at import time would import the module.
    """

    def __init__(self, build: Callable[[], Mapping[K, V]]) -> None:
        self._build = build
        self._built: Mapping[K, V] | None = None

    def _mapping(self) -> Mapping[K, V]:
        if self._built is None:
            # Two threads may both build it: they build equal tables, and either is kept.
            self._built = self._build()
        return self._built

    def __getitem__(self, key: K) -> V:
        return self._mapping()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())
