"""The Spark tests' shared session (`local[2]`, created once): they skip when pyspark or Java is
missing, and fail instead under NBA_REQUIRE_SERVICES=1 (CI), like the Redis/Postgres tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from features.settings import Settings


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from features.spark.session import spark_missing, spark_session

    why = spark_missing()
    if why:
        msg = f"Spark unavailable: {why}"
        if os.environ.get("NBA_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"NBA_REQUIRE_SERVICES=1 but {msg}")
        pytest.skip(msg)
    session = spark_session(Settings.from_env(env={}, engine="spark"))
    yield session
    session.stop()
