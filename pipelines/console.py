"""Console output shared by the commands: stage messages, progress bars, user-facing errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)


class UserError(Exception):
    """A problem the user can fix (bad input, missing data); printed as one line, exit code 2."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types shown to the user as a one-line error instead of a traceback."""
    from features.dataset import DatasetError
    from features.settings import SettingsError
    from features.store import StoreUnavailable
    from features.validation import SchemaError

    return (UserError, SchemaError, DatasetError, SettingsError, FileNotFoundError,
            StoreUnavailable)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Print a stage as it starts and how long it took."""
    console.print(f"[bold]>[/bold] {name} ...")
    t0 = time.perf_counter()
    yield
    console.print(f"  done in {time.perf_counter() - t0:.1f}s")


def step(message: str) -> None:
    """A sub-step inside a stage (used as a progress callback)."""
    console.print(f"  - {message}")
