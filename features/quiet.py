"""Library chatter kept off the console: one set of rules for every process (commands, and
the worker processes features/ and pipelines/ start)."""

from __future__ import annotations


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
