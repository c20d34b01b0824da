"""Console output shared by the commands: stage messages, progress bars, user-facing errors."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

console = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)


class UserError(Exception):
    """A problem the user can fix (bad input, missing data); printed as one line, exit code 2."""


def quiet_libraries() -> None:
    """Keep library chatter (deprecations, MLflow info logs, download bars) off the console."""
    import logging
    import os
    import warnings

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit ALS: BLAS threads cost 10x
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    for name in ("mlflow", "alembic", "feast", "urllib3", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.captureWarnings(True)  # libraries that force their warnings on still go to logging
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*experimental feature.*")
    warnings.filterwarnings("ignore", message=".*python_model.*")
    warnings.filterwarnings("ignore", message=".*noload.*")
    warnings.filterwarnings("ignore", message=".*OpenBLAS.*")
    warnings.filterwarnings("ignore", message=".*Cannot write empty dataframe.*")
    # SQLAlchemy's SADeprecationWarning subclasses DeprecationWarning: ignored above without
    # importing SQLAlchemy (half a second) on every command.


# Exception types shown as one line, by module: a module never imported cannot have raised
# one, so `user_errors()` looks them up in `sys.modules` instead of importing them (Feast is
# seconds to import; `nba --help` must not pay for it).
_USER_ERROR_TYPES = {
    "features.validation": "SchemaError",
    "features.dataset": "DatasetError",
    "features.settings": "SettingsError",
    "features.store": "StoreUnavailable",
    "features.spark_session": "SparkUnavailable",
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
