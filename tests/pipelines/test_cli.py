"""The `nba` command line: it works on a data directory and fails with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RETAIL_SAMPLE


def nba(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_simulate_then_summary(tmp_path: Path) -> None:
    data = tmp_path / "d"
    r = nba("simulate", "--customers", "200", "--days", "20", "--products", "50", "--out",
            str(data), "--chunk-customers", "100")
    assert r.returncode == 0, r.stderr
    assert (data / "events.parquet").exists() and (data / "truth" / "customers.parquet").exists()
    assert json.loads((data / "manifest.json").read_text())["chunks"] == 2  # written in chunks
    r = nba("summary", "--data", str(data))
    assert r.returncode == 0, r.stderr
    assert "customers  200" in r.stdout and "open_rate" in r.stdout
    import os

    r = nba("summary", env={**os.environ, "NBA_DATA_DIR": str(data)})  # --data from its env var
    assert r.returncode == 0 and "customers  200" in r.stdout, r.stderr


@pytest.mark.slow
def test_load_transactions_reports_rejects(tmp_path: Path) -> None:
    data = tmp_path / "retail"
    r = nba("load", "transactions", str(RETAIL_SAMPLE), "--out", str(data))
    assert r.returncode == 0, r.stderr
    assert "return: 761" in r.stdout and "customer_id:" in r.stdout
    assert (data / "rejects.csv").exists()


@pytest.mark.slow
def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    cases = [
        ("summary", "--data", str(tmp_path / "none")),
        ("load", "transactions", str(RETAIL_SAMPLE), "--out", str(tmp_path / "x"), "--map",
         "invoice=Nope"),
        ("load", "events", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "y")),
        ("train", "--data", str(tmp_path / "none"), "--sample", "1.5"),
    ]
    for args in cases:
        r = nba(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, r.stderr


@pytest.mark.slow
def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "NBA_ONLINE_STORE": "memcached://x"}
    r = nba("summary", "--data", str(tmp_path), env=env)
    assert r.returncode == 2 and "NBA_ONLINE_STORE='memcached://x'" in r.stderr


def run_main(*args: str, capsys) -> tuple[int, str]:
    """`nba ARGS` in this process (no interpreter start-up): exit code and stderr."""
    import pytest

    from pipelines.cli import main

    old = sys.argv
    sys.argv = ["nba", *args]
    try:
        with pytest.raises(SystemExit) as done:
            main()
    finally:
        sys.argv = old
    return int(done.value.code or 0), capsys.readouterr().err


def test_unreadable_inputs_are_one_error_line(tmp_path: Path, capsys) -> None:
    import gzip

    garbage_pq = tmp_path / "x.parquet"
    garbage_pq.write_bytes(b"PAR1 not really parquet")
    garbage_gz = tmp_path / "x.csv.gz"
    garbage_gz.write_bytes(b"\x1f\x8bnot gzip at all")
    header_only = tmp_path / "h.csv"
    header_only.write_text("customer_id,event_type,timestamp\n")
    no_rows = tmp_path / "bad.csv.gz"
    with gzip.open(no_rows, "wt") as f:
        f.write("customer_id,event_type,timestamp\nc1,teleport,2026-01-01\n")
    cases = [
        (("load", "events", str(garbage_pq), "--out", str(tmp_path / "a")), "not a readable"),
        (("load", "events", str(garbage_gz), "--out", str(tmp_path / "b")), "not a readable"),
        (("load", "events", str(tmp_path), "--out", str(tmp_path / "c")), "is a directory"),
        (("load", "events", str(header_only), "--out", str(tmp_path / "d")), "no data rows"),
        (("load", "events", str(no_rows), "--out", str(tmp_path / "e")), "none of the 1 rows"),
        (("serve", "--data", str(tmp_path / "e"), "--host", "0.0.0.0"), "NBA_API_KEY"),
    ]
    for args, fragment in cases:
        code, err = run_main(*args, capsys=capsys)
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (args, err)
        assert fragment in err, (args, err)


def test_ingest_keeps_going_past_bad_lines(tmp_path: Path, sim_data_dir: Path) -> None:
    """A malformed JSON line, a non-object line and a boolean timestamp are rejected with a
    reason each; every other line is ingested."""
    import json
    import shutil
    from dataclasses import replace

    from features.settings import Settings
    from pipelines.feature_steps import ensure_features
    from pipelines.ingest import ingest, read_records

    data = tmp_path / "data"
    shutil.copytree(sim_data_dir, data)
    settings = replace(Settings.from_env(env={}, data_dir=data), feast_project="ingesttest")
    ensure_features(settings)
    good = {"customer_id": "c000001", "event_type": "search",
            "timestamp": "2026-01-20T10:00:00Z"}
    lines = [json.dumps(good), "{not json", "[1, 2]",
             json.dumps({**good, "timestamp": True}),
             json.dumps({**good, "timestamp": "2026-01-20T10:05:00Z"})]
    src = tmp_path / "events.jsonl"
    src.write_text("\n".join(lines) + "\n")
    summary = ingest(settings, read_records(str(src)), batch_size=2)
    assert (summary.accepted, summary.rejected) == (2, 3)
    assert summary.rejected_by_reason == {"json": 2, "timestamp": 1}
    rejects = (data / "live" / "rejects.jsonl").read_text()
    assert "line 2 is not valid JSON" in rejects and "line 3 is not a JSON object" in rejects


HEAVY = ("feast", "mlflow", "lightgbm", "bentoml", "implicit", "sklearn", "pandas", "sqlalchemy")
FAST_PATH = """
import sys
from pipelines.cli import main

for args in ({cases}):
    sys.argv = ["nba", *args]
    try:
        main()
    except SystemExit as done:
        assert done.code in (0, 2), (args, done.code)
print("imported:", *(m for m in {heavy} if m in sys.modules))
"""


def test_help_and_usage_errors_import_no_heavy_library() -> None:
    """`nba --help`, a command's help and an argument error answer without importing Feast,
    MLflow, LightGBM, BentoML or pandas (seconds each): the exit path resolves error types
    from modules already loaded."""
    cases = [["--help"], ["train", "--help"], ["load", "events", "--help"],
             ["features", "build", "--help"], ["summary", "--help"],
             ["train", "--no-such-option"],
             ["simulate", "--customers", "0"]]
    code = FAST_PATH.format(cases=", ".join(map(repr, cases)) + ",", heavy=HEAVY)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "imported:", r.stdout.splitlines()[-1]
    assert "Usage" in r.stderr and "No such option" in r.stderr
    assert "[env var: NBA_DATA_DIR]" in r.stdout  # --data's help names its env var


def test_train_on_too_short_data_is_one_error_line_per_model(tmp_path: Path) -> None:
    """Each model the data is too short for gives one `error: <model>: <reason>` line (before
    any feature is built), every model is tried, and the exit code is 2."""
    from features.simulation.behavior import SimConfig, simulate
    from features.sources.dataset import write_dataset

    data = tmp_path / "data"
    write_dataset(data, simulate(SimConfig(customers=60, days=3, products=20, seed=3)))
    r = nba("train", "--data", str(data))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert [ln.split(":")[1].strip() for ln in errors] == ["intent", "churn", "send_time",
                                                           "affinity"], r.stderr
    assert "the data covers 3 days; intent needs at least 35 days of history plus its " \
           "7-day horizon" in errors[0]
    assert not (data / "feature_store").exists()


def test_stated_history_is_what_the_splits_need() -> None:
    """The minimum a `SnapshotPlan` states is exactly where the time splits start to work."""
    import pandas as pd

    from training.labels import SnapshotPlan, snapshot_times
    from training.splits import SplitError, split_by_time, split_for_fit

    start = pd.Timestamp("2026-01-05", tz="UTC")
    day = pd.Timedelta(days=1)
    for h, e in ((7, 7), (60, 14), (10, 7), (7, 14)):
        for before, split in ((1, split_for_fit), (2, split_by_time)):
            plan = SnapshotPlan("m", h * day, e * day, before)
            for d in range(20, 180):
                end = start + d * day
                try:
                    split(snapshot_times(start, end, plan.horizon, plan.every), plan.horizon)
                    works = True
                except SplitError:
                    works = False
                assert (plan.problem(start, end) is None) == works, (h, e, before, d)
