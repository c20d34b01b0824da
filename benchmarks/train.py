"""Training benchmark: `nba train` for all models on the default demo data must take <= 5 min.

Simulates the demo dataset (5,000 customers x 182 days, seed 7) unless --data points at one,
builds features if missing (timed separately), then times training + MLflow logging of all
four models, in a fresh process as a user would run it.

Run: python benchmarks/train.py [--data DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, header


def nba(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipelines.cli", *args], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    header("nba train, all models, demo data")
    data = args.data or Path(tempfile.mkdtemp(prefix="nba-train-")) / "data"
    if not (data / "events.parquet").exists():
        figure("simulate (5,000 x 182 days)", nba("simulate", "--customers", "5000", "--days",
                                                  "182", "--out", str(data)), "s")
    figure("features build + apply + materialize", nba("features", "build", "--data", str(data))
           + nba("features", "apply", "--data", str(data))
           + nba("features", "materialize", "--data", str(data)), "s")
    secs = nba("train", "--data", str(data))
    figure("nba train (4 models, MLflow logging)", secs, "s", "<= 300 s", secs <= 300)


if __name__ == "__main__":
    main()
