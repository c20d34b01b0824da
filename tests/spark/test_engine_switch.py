"""The engine switch: settings, the CLI option, and clear errors (no Spark session needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.settings import Settings, SettingsError
from features.spark.session import local_cores, spark_missing
from pipelines.console import UserError


def test_engine_defaults_to_local_and_reads_the_environment() -> None:
    assert Settings.from_env(env={}).engine == "local"
    assert Settings.from_env(env={}).spark_master == "local[2]"
    s = Settings.from_env(env={"NBA_ENGINE": "spark", "NBA_SPARK_MASTER": "spark://h:7077"})
    assert (s.engine, s.spark_master) == ("spark", "spark://h:7077")
    assert Settings.from_env(env={"NBA_ENGINE": "spark"}, engine="local").engine == "local"


@pytest.mark.parametrize("env, message", [
    ({"NBA_ENGINE": "ray"}, "NBA_ENGINE='ray': expected local or spark"),
    ({"NBA_SPARK_MASTER": "local[x]"}, "NBA_SPARK_MASTER='local[x]'"),
    ({"NBA_SPARK_MASTER": "cluster"}, "NBA_SPARK_MASTER='cluster'"),
])
def test_bad_engine_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("[", r"\[")):
        Settings.from_env(env=env)


def test_local_cores() -> None:
    assert local_cores("local[3]") == 3
    assert local_cores("local") == 1
    assert local_cores("local[*]") >= 1


def test_spark_build_buckets_grow_with_the_events() -> None:
    from features.offline.spark_build import bucket_count

    assert bucket_count(2, 2_850_000) == 8  # 4 per core up to 100,000 customers x 30 days
    assert bucket_count(2, 28_400_000) == 57  # a million: at most 500,000 events per bucket
    assert bucket_count(16, 28_400_000) == 64


def test_missing_java_is_said(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    assert "Java is not installed" in (spark_missing() or "")


def test_spark_batch_score_refuses_csv(tmp_path: Path) -> None:
    from pipelines.spark_steps import spark_batch_score_step

    settings = Settings.from_env(env={}, data_dir=tmp_path, engine="spark")
    with pytest.raises(UserError, match="Parquet"):
        spark_batch_score_step(settings, tmp_path / "d.csv")


def test_cli_bad_engine_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "batch-score", "--data",
                          str(tmp_path), "--engine", "ray"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2
    assert "expected local or spark" in run.stderr + run.stdout
    assert "Traceback" not in run.stderr


def test_switching_engine_reapplies_but_keeps_the_online_rows(tmp_path: Path) -> None:
    from dataclasses import replace

    from pipelines import feature_steps as fs

    local = Settings.from_env(env={}, data_dir=tmp_path)
    local.feature_repo_dir.mkdir(parents=True)
    (local.feature_repo_dir / fs.APPLIED_MARK).write_text(fs._applied_fingerprint(local))
    (local.feature_repo_dir / fs.MATERIALIZED_MARK).write_text(fs._fingerprint(local))
    spark = replace(local, engine="spark")
    assert fs._marked(local, fs.APPLIED_MARK) and not fs._marked(spark, fs.APPLIED_MARK)
    assert fs._marked(spark, fs.MATERIALIZED_MARK)  # same online rows from either engine
