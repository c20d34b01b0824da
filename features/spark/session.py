"""The Spark session behind `NBA_ENGINE=spark` (docs/scale.md): one per process, made on demand.

pyspark is an optional extra (`uv sync --extra spark`, or the dev group) and needs Java 17+;
the embedded local engine needs neither, so nothing here is imported unless Spark is asked for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from features.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APP_NAME = "nba"


class SparkUnavailable(RuntimeError):
    """The Spark engine was asked for but pyspark or Java is missing (the message says which)."""


def spark_missing() -> str | None:
    """Why Spark cannot start on this machine, or None when pyspark and Java 17+ are present."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (uv sync --extra spark, or pip install 'nba-email[spark]')"
    java = (os.path.join(os.environ["JAVA_HOME"], "bin", "java")
            if os.environ.get("JAVA_HOME") else shutil.which("java"))
    if not java or not os.path.exists(java):
        return "Java is not installed (Spark needs Java 17 or later; set JAVA_HOME)"
    try:
        run = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Java at {java} does not run: {exc}"
    line = (run.stderr or run.stdout).splitlines()[0] if (run.stderr or run.stdout) else ""
    version = line.split('"')[1] if line.count('"') >= 2 else ""
    major = version.split(".")[0] if version else ""
    if major.isdigit() and int(major) < 17:
        return f"Java {version} at {java} is too old (Spark 4 needs 17 or later)"
    return None


def spark_session(settings: Settings) -> SparkSession:
    """The process's Spark session for `settings.spark_master` (created once, then reused).

    Arrow carries pandas frames between the JVM and the Python workers; the workers run this
    interpreter (on a cluster, set `spark.pyspark.python` in spark-defaults.conf instead);
    shuffle partitions default to twice the local cores. Anything else (memory, executors)
    comes from Spark's own configuration (`SPARK_CONF_DIR`/spark-defaults.conf), see
    docs/scale.md.
    """
    why = spark_missing()
    if why:
        raise SparkUnavailable(f"NBA_ENGINE=spark: {why}")
    from pyspark.sql import SparkSession

    master = settings.spark_master
    builder = (SparkSession.builder.appName(APP_NAME).master(master)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
               .config("spark.sql.legacy.parquet.nanosAsLong", "true")  # pandas' timestamps
               .config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # this venv, not PATH's python3
        builder = (builder.config("spark.pyspark.python", sys.executable)
                   .config("spark.pyspark.driver.python", sys.executable)
                   .config("spark.ui.enabled", "false")
                   .config("spark.sql.shuffle.partitions", str(2 * local_cores(master))))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def local_cores(master: str) -> int:
    """Cores of a `local[N]` / `local[*]` / `local` master (1 for anything else)."""
    if master.startswith("local[") and master.endswith("]"):
        inner = master[6:-1].split(",")[0]
        return (os.cpu_count() or 1) if inner == "*" else max(1, int(inner))
    return 1


def default_parallelism(settings: Settings) -> int:
    """How many partitions bulk jobs split customers into: the cluster's cores, at least 2."""
    return max(2, spark_session(settings).sparkContext.defaultParallelism)
