"""Simulator speed and memory: 20,000 customers x 90 days must take at most 60 s.

With `--out DIR` the world is also written there (`write_simulated`: chunks of
`--chunk-customers`; a world no larger than one chunk is simulated whole), and `--read` reads
it back with `read_dataset`; run once per setting, since the peak memory is the process's.

Run: python benchmarks/simulate.py [--customers 20000] [--days 90] [--seed 7]
     [--out DIR [--chunk-customers 50000] [--read]]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, header, peak_rss_mb
from features.simulation.behavior import SimConfig, simulate
from features.simulation.chunked import CHUNK_CUSTOMERS, write_simulated
from features.sources.dataset import read_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--chunk-customers", type=int, default=CHUNK_CUSTOMERS)
    ap.add_argument("--read", action="store_true")
    args = ap.parse_args()
    cfg = SimConfig(customers=args.customers, days=args.days, seed=args.seed)
    header(f"simulator: {args.customers} customers x {args.days} days")
    base_rss = peak_rss_mb()
    t0 = time.perf_counter()
    if args.out is None:
        n = len(simulate(cfg).events)
    else:
        n = write_simulated(args.out, cfg, chunk_customers=args.chunk_customers)["events"]
    secs = time.perf_counter() - t0
    figure("wall time" + (" (simulate and write)" if args.out else ""), secs, "s",
           "<= 60 s", secs <= 60)
    figure("events generated", n, "events")
    figure("throughput", n / secs, "events/s")
    figure("peak memory (process RSS)", peak_rss_mb(), "MiB")
    figure("peak memory above imports", peak_rss_mb() - base_rss, "MiB")
    if args.out is not None and args.read:
        t0 = time.perf_counter()
        ds = read_dataset(args.out, with_truth=False)
        figure("read_dataset", time.perf_counter() - t0, "s")
        figure("events read", len(ds.events), "events")
        figure("peak memory after reading (process RSS)", peak_rss_mb(), "MiB")


if __name__ == "__main__":
    main()
