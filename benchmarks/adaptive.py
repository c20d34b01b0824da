"""Follow-ups and adaptive frequency in closed loop on the simulator (issue 16, items 2 and 4).

A simulated world whose own ESP stops emailing `--days` days before its end; from then on the
decision policy (serving/policy, ground-truth intent and churn as its scores) decides every customer
every day and the simulated customers answer (features/simulation/email_loop.py). The same world and
the same luck for each arm: the policy without follow-ups and adaptive frequency, with each one, and
with both (the defaults). Revenue is email-driven revenue after discounts; net subtracts 25 per
unsubscribe (the future value an unsubscribe costs, features/simulation/campaigns.py).

Run: python benchmarks/adaptive.py [--customers 3000] [--history 90] [--days 28] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from benchmarks._report import header
from features import schema as s
from features.simulation.behavior import SimConfig, simulate
from features.simulation.email_loop import TRUE_CHURN, TRUE_INTENT, LoopResult, Policy, run_loop
from features.sources.dataset import Dataset
from serving.policy import Catalog, PolicyConfig, PolicyInputs, Product, Scores, decide
from serving.schemas import Action, OfferType

ARMS = {
    "neither": {"followups": False, "adaptive_frequency": False},
    "follow-ups": {"followups": True, "adaptive_frequency": False},
    "adaptive frequency": {"followups": False, "adaptive_frequency": True},
    "both (defaults)": {"followups": True, "adaptive_frequency": True},
}


def catalog_of(ds: Dataset) -> Catalog:
    items = {str(r[s.PRODUCT_ID]): Product(str(r[s.PRODUCT_ID]), str(r[s.CATEGORY]),
                                           float(r[s.PRICE]), float(r[s.MARGIN]),
                                           bool(r[s.IN_STOCK]))
             for r in ds.products.to_dict("records")}
    return Catalog(items, [p for p, v in items.items() if v.in_stock][:50])


def policy(cfg: PolicyConfig, catalog: Catalog) -> Policy:
    """The serving policy over a day's feature rows: the emails it sends."""
    def decide_all(state: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
        out = []
        at = now.to_pydatetime()
        for row in state.to_dict("records"):
            scores = Scores(intent=row[TRUE_INTENT], churn=row[TRUE_CHURN])
            d = decide(PolicyInputs(row[s.CUSTOMER_ID], at, row, scores), cfg, catalog,
                       decision_id=f"{row[s.CUSTOMER_ID]}-{now:%Y%m%d}")
            if d.action != Action.NONE:
                pct = d.offer.value / 100 if d.offer.type == OfferType.PERCENT_OFF else 0.0
                out.append({s.CUSTOMER_ID: d.customer_id, "send_at": d.send_at,
                            "action": d.action.value, "discount": pct})
        return pd.DataFrame(out, columns=[s.CUSTOMER_ID, "send_at", "action", "discount"])
    return decide_all


def row(name: str, r: LoopResult, secs: float) -> None:
    print(f"  {name:<20} {r.emails:>7,} {r.opens:>6,} {r.clicks:>6,} {r.purchases:>6,} "
          f"{r.revenue:>10,.0f} {r.unsubscribes:>6,} {r.net:>10,.0f}   ({secs:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--history", type=int, default=90, help="days of ESP history before")
    ap.add_argument("--days", type=int, default=28, help="days the policy decides")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", default=",".join(ARMS))
    args = ap.parse_args()
    header(f"follow-ups and adaptive frequency, closed loop: {args.customers} customers, "
           f"{args.history} days of history, {args.days} days decided")
    total = args.history + args.days
    ds = simulate(SimConfig(customers=args.customers, days=total, seed=args.seed,
                            products=300, esp_days=args.history))
    start = ds.start + pd.Timedelta(days=args.history)
    catalog = catalog_of(ds)
    base = PolicyConfig(control_share=0.0)
    print(f"  {'arm':<20} {'emails':>7} {'opens':>6} {'clicks':>6} {'buys':>6} "
          f"{'revenue':>10} {'unsubs':>6} {'net':>10}")
    results = {}
    for name in args.only.split(","):
        t = time.perf_counter()
        r = run_loop(ds, policy(replace(base, **ARMS[name]), catalog), start, args.days,
                     seed=args.seed)
        results[name] = r
        row(name, r, time.perf_counter() - t)
    for name, r in results.items():
        mix = ", ".join(f"{a} {n} ({r.revenue_by_action[a]:,.0f})"
                        for a, n in r.by_action.most_common())
        print(f"  {name}, emails (revenue) by action: {mix}")


if __name__ == "__main__":
    main()
