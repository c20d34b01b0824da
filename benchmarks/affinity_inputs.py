"""Which interactions should ALS learn from, given what serving folds in?

Serving recomputes a customer's factor from their online list features (recent views, open cart,
recent purchases: distinct products, the most recent ones; `training/affinity.py recent_items`),
while ALS is trained on every interaction of the lookback window with repeats summed (view 1,
cart 3, purchase 5). This compares, on the last three weekly snapshots of each dataset, the
served recall@10 (the fold-in path the API runs) and the fitted recall@10 of ALS trained on:

- `summed`: every interaction, repeats summed (what `nba train` does);
- `distinct`: each interaction type counted once per customer and product;
- `lists`: exactly what serving folds in at the snapshot (the list features), no skew at all;

next to popularity. Labels are the same for all: products interacted with in the next 7 days.

Run: uv run python benchmarks/affinity_inputs.py [DATA_DIR ...]
(default: the demo data and the UCI Online Retail log in ../shared/data, loaded first.)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import header

ROOT = Path(__file__).resolve().parents[1]
UCI = ROOT.parent / "shared" / "data" / "online_retail_uci" / "online_retail.csv.gz"


def variants():
    """name -> function(events, t0, t1) giving (customer, product, weight) training rows."""
    from features import schema as s
    from features.transforms import customer_items
    from training.affinity import recent_items
    from training.labels import INTERACTION_WEIGHTS, interactions

    def distinct(events, t0, t1):
        ev = events[(events[s.EVENT_TS] <= t1) & (events[s.EVENT_TS] > t0)]
        ev = ev[ev[s.EVENT_TYPE].astype(str).isin(list(INTERACTION_WEIGHTS))]
        ev = ev.drop_duplicates([s.CUSTOMER_ID, s.PRODUCT_ID, s.EVENT_TYPE])
        w = ev[s.EVENT_TYPE].astype(str).map(INTERACTION_WEIGHTS).astype(float)
        return (ev.assign(weight=w).groupby([s.CUSTOMER_ID, s.PRODUCT_ID], observed=True)
                ["weight"].sum().reset_index())

    def lists(events, t0, t1):
        del t0  # the lists have their own recency rules
        rows = [(r[s.CUSTOMER_ID], p, w)
                for r in customer_items(events[events[s.EVENT_TS] <= t1], as_of=t1)
                .to_dict("records") for p, w in recent_items(r).items()]
        return pd.DataFrame(rows, columns=[s.CUSTOMER_ID, s.PRODUCT_ID, "weight"])

    return {"summed": interactions, "distinct": distinct, "lists": lists}


def run(data: Path) -> None:
    import training.affinity as A
    from features import schema as s
    from features.sources.dataset import read_dataset
    from training.labels import AFFINITY_PLAN, affinity_labels
    from training.metrics import ranking_metrics

    ds = read_dataset(data, with_truth=False)
    ev, items = ds.events, ds.products[s.PRODUCT_ID].astype(str).to_numpy()
    summed = A.interactions
    print(f"\n## {data}  ({ds.start:%Y-%m-%d} .. {ds.end:%Y-%m-%d})")
    print(f"{'snapshot':<12}{'customers':>10}  " + "".join(
        f"{n + ' served/fitted':>26}" for n in variants()) + f"{'popularity':>12}")
    for t in AFFINITY_PLAN.times(ds.start, ds.end)[-3:]:
        customers, rel = A.relevant_sets(affinity_labels(ev, t))
        popular = A.popularity(ev, t)
        cells = []
        for fn in variants().values():
            A.interactions = fn  # fit_als reads its training rows through this name
            try:
                m = A.fit_als(ev, t, items, A.GRID[0]["factors"], A.GRID[0]["alpha"], popular)
            finally:
                A.interactions = summed
            served = A.served_recommendations(m, ev, t, customers, popular)
            fitted = m.recommend_known(customers)
            a, b = (ranking_metrics(recommended=r, relevant=rel, k=A.K)[f"recall_at_{A.K}"]
                    for r in (served, fitted))
            cells.append(f"{a:.4f} / {b:.4f}")
        pop = ranking_metrics(recommended=[popular[:A.K]] * len(customers), relevant=rel,
                              k=A.K)[f"recall_at_{A.K}"]
        print(f"{t:%Y-%m-%d}  {len(customers):>10}  " + "".join(f"{c:>26}" for c in cells)
              + f"{pop:>12.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data", nargs="*", type=Path)
    args = ap.parse_args()
    header("affinity: ALS training inputs vs what serving folds in (recall@10)")
    from pipelines.console import quiet_libraries

    quiet_libraries()
    dirs = list(args.data)
    if not dirs:
        tmp = Path(tempfile.gettempdir()) / "nba-bench-affinity"
        demo, uci = tmp / "demo", tmp / "uci"
        if not (demo / "manifest.json").exists():
            subprocess.run([sys.executable, "-m", "pipelines.cli", "simulate", "--out",
                            str(demo)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        if not (uci / "manifest.json").exists() and UCI.exists():
            subprocess.run([sys.executable, "-m", "pipelines.cli", "load", "transactions",
                            str(UCI), "--out", str(uci)], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
        dirs = [d for d in (demo, uci) if d.exists()]
    for d in dirs:
        run(d)


if __name__ == "__main__":
    main()
