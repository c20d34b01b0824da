"""Console output shared by the commands: stage messages, progress bars, user-facing errors."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from features.quiet import quiet_libraries  # noqa: F401  (commands import it from here)

console = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)


class UserError(Exception):
    """A problem the user can fix (bad input, missing data); printed as one line, exit code 2."""


# Exception types shown as one line, by module: a module never imported cannot have raised
# one, so `user_errors()` looks them up in `sys.modules` instead of importing them (Feast is
# seconds to import; `nba --help` must not pay for it).
_USER_ERROR_TYPES = {
    "features.sources.validation": "SchemaError",
    "features.sources.dataset": "DatasetError",
    "features.settings": "SettingsError",
    "features.online.store": "StoreUnavailable",
    "features.spark.session": "SparkUnavailable",
}


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types shown to the user as a one-line error instead of a traceback; only those
    of modules already imported (evaluate it when the exception has happened)."""
    loaded = (getattr(sys.modules[m], name) for m, name in _USER_ERROR_TYPES.items()
              if m in sys.modules)
    return (UserError, FileNotFoundError, *loaded)


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
