"""Per-process state derived from a fitted model to score it fast (merged boosters, solver
matrices): built on first use, never pickled, so a bundle stays exactly what was trained."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_KEY = "_serving_cache"


class ServingCache:
    """Mixin for model classes: `self.cached(name, build)` builds once per process."""

    def cached(self, name: str, build: Callable[[], T]) -> T:
        cache = self.__dict__.setdefault(_KEY, {})
        if name not in cache:
            cache[name] = build()
        return cache[name]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != _KEY}
