"""The `nba` command line: it works on a data directory and fails with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import RETAIL_SAMPLE


def nba(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_simulate_then_summary(tmp_path: Path) -> None:
    data = tmp_path / "d"
    r = nba("simulate", "--customers", "200", "--days", "20", "--products", "50", "--out",
            str(data))
    assert r.returncode == 0, r.stderr
    assert (data / "events.parquet").exists() and (data / "truth" / "customers.parquet").exists()
    r = nba("summary", "--data", str(data))
    assert r.returncode == 0, r.stderr
    assert "customers  200" in r.stdout and "open_rate" in r.stdout


def test_load_transactions_reports_rejects(tmp_path: Path) -> None:
    data = tmp_path / "retail"
    r = nba("load", "transactions", str(RETAIL_SAMPLE), "--out", str(data))
    assert r.returncode == 0, r.stderr
    assert "return: 761" in r.stdout and "customer_id:" in r.stdout
    assert (data / "rejects.csv").exists()


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    cases = [
        ("summary", "--data", str(tmp_path / "none")),
        ("load", "transactions", str(RETAIL_SAMPLE), "--out", str(tmp_path / "x"), "--map",
         "invoice=Nope"),
        ("load", "events", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "y")),
    ]
    for args in cases:
        r = nba(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, r.stderr


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "NBA_ONLINE_STORE": "memcached://x"}
    r = nba("summary", "--data", str(tmp_path), env=env)
    assert r.returncode == 2 and "NBA_ONLINE_STORE='memcached://x'" in r.stderr
