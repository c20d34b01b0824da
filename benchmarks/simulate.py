"""Simulator speed and memory: 20,000 customers x 90 days must take at most 60 s.

Run: python benchmarks/simulate.py [--customers 20000] [--days 90]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, header, peak_rss_mb
from features.simulation.behavior import SimConfig, simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    header(f"simulator: {args.customers} customers x {args.days} days")
    base_rss = peak_rss_mb()
    t0 = time.perf_counter()
    ds = simulate(SimConfig(customers=args.customers, days=args.days, seed=args.seed))
    secs = time.perf_counter() - t0
    n = len(ds.events)
    figure("wall time", secs, "s", "<= 60 s", secs <= 60)
    figure("events generated", n, "events")
    figure("throughput", n / secs, "events/s")
    figure("peak memory (process RSS)", peak_rss_mb(), "MiB")
    figure("peak memory above imports", peak_rss_mb() - base_rss, "MiB")


if __name__ == "__main__":
    main()
