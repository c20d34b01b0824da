"""Follow-ups, adaptive frequency and message intensity in closed loop on the simulator
(issue 16, items 2, 3 and 4).

A simulated world whose own ESP stops emailing `--days` days before its end; from then on the
decision policy (serving/policy, ground-truth intent and churn as its scores) decides every customer
every day and the simulated customers answer (features/simulation/email_loop.py). The same world and
the same luck for each arm: the policy without follow-ups and adaptive frequency, with each one,
with both (the defaults), and the defaults with the engagement tiers' content treatments (premium,
reactivation, both). Revenue is email-driven revenue after discounts; net subtracts 25 per
unsubscribe (the future value an unsubscribe costs, features/simulation/campaigns.py).

Run: python benchmarks/adaptive.py [--customers 3000] [--history 90] [--days 28] [--seed 7]
         [--only "both (defaults),+ premium"]
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
from features.simulation.email_loop import (
    TRUE_CHURN,
    TRUE_INTENT,
    LoopResult,
    Policy,
    run_loop,
)
from features.sources.dataset import Dataset
from features.transforms import ENTITY_TS, product_stats_rows
from serving.catalog import POPULARITY_COLUMNS, with_popularity
from serving.policy import Catalog, PolicyConfig, PolicyInputs, Product, Scores, decide
from serving.policy.decide import recommendations
from serving.policy.engagement import content_intensity
from serving.schemas import Action, Decision, OfferType

ARMS = {
    "neither": {"followups": False, "adaptive_frequency": False},
    "follow-ups": {"followups": True, "adaptive_frequency": False},
    "adaptive frequency": {"followups": False, "adaptive_frequency": True},
    "both (defaults)": {"followups": True, "adaptive_frequency": True},
    "+ premium": {"intensity_treatments": ("premium",)},
    "+ reactivation": {"intensity_treatments": ("reactivation",)},
    "+ both intensities": {"intensity_treatments": ("premium", "reactivation")},
}


def catalog_of(ds: Dataset, at: pd.Timestamp) -> Catalog:
    """The simulated catalog, best-sellers ranked by the popularity serving reads (the
    `product_stats` row of the day before `at`, serving/catalog.py)."""
    items = {str(r[s.PRODUCT_ID]): Product(str(r[s.PRODUCT_ID]), str(r[s.CATEGORY]),
                                           float(r[s.PRICE]), float(r[s.MARGIN]),
                                           bool(r[s.IN_STOCK]))
             for r in ds.products.to_dict("records")}
    past = ds.events[ds.events[s.EVENT_TS] < at]
    stats = product_stats_rows(past, ds.products, at - pd.Timedelta(days=1), at)
    last = stats[stats[ENTITY_TS] == stats[ENTITY_TS].max()]
    popularity = dict(zip(last[s.PRODUCT_ID].astype(str), sum(
        last[c].to_numpy(float) * w for c, w in POPULARITY_COLUMNS.items()), strict=True))
    return with_popularity(Catalog(items, []), popularity)


def true_affinity(ds: Dataset, catalog: Catalog) -> dict[str, list[tuple[str, float]]]:
    """Ground-truth tastes as the policy's affinity scores (as intent and churn are ground
    truth): the in-stock products of the customer's favourite category (simulator truth), by
    their popularity relative to the category's best-seller."""
    by_category: dict[str, list[tuple[str, float]]] = {}
    for pid in catalog.popular:
        prod = catalog.products[pid]
        by_category.setdefault(prod.category, []).append((pid, prod.popularity))
    scaled = {c: [(pid, v / max(items[0][1], 1e-9)) for pid, v in items]
              for c, items in by_category.items()}
    top = zip(ds.truth[s.CUSTOMER_ID], ds.truth["top_category"].astype(str), strict=True)
    return {cid: scaled.get(category, []) for cid, category in top}


def content(d: Decision, inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog
            ) -> tuple[str, float]:
    """The email's content treatment for the loop (`premium`, `reactivation`, "" for standard),
    and the price level of the products it leads with relative to the standard email's."""
    intensity = content_intensity(d.engagement_tier, d.action, cfg)
    if intensity is None:
        return "", 1.0
    standard, _ = recommendations(d.action, inp, cfg, catalog)

    def level(recs: list) -> float:
        prices = [catalog.products[r.product_id].price for r in recs[:cfg.featured_products]]
        return sum(prices) / len(prices) if prices else 0.0

    base = level(standard)
    ratio = level(d.recommendations) / base if base > 0 else 1.0
    return intensity, ratio


def policy(cfg: PolicyConfig, catalog: Catalog,
           affinity: dict[str, list[tuple[str, float]]]) -> Policy:
    """The serving policy over a day's feature rows: the emails it sends."""
    def decide_all(state: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
        out = []
        at = now.to_pydatetime()
        for row in state.to_dict("records"):
            scores = Scores(intent=row[TRUE_INTENT], churn=row[TRUE_CHURN],
                            affinity=affinity.get(row[s.CUSTOMER_ID], []))
            inp = PolicyInputs(row[s.CUSTOMER_ID], at, row, scores)
            d = decide(inp, cfg, catalog, decision_id=f"{row[s.CUSTOMER_ID]}-{now:%Y%m%d}")
            if d.action != Action.NONE:
                pct = d.offer.value / 100 if d.offer.type == OfferType.PERCENT_OFF else 0.0
                kind, ratio = content(d, inp, cfg, catalog)
                out.append({s.CUSTOMER_ID: d.customer_id, "send_at": d.send_at,
                            "action": d.action.value, "discount": pct, "content": kind,
                            "price_ratio": ratio})
        return pd.DataFrame(out, columns=[s.CUSTOMER_ID, "send_at", "action", "discount",
                                          "content", "price_ratio"])
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
    header(f"follow-ups, adaptive frequency, message intensity, closed loop: "
           f"{args.customers} customers, "
           f"{args.history} days of history, {args.days} days decided")
    total = args.history + args.days
    ds = simulate(SimConfig(customers=args.customers, days=total, seed=args.seed,
                            products=300, esp_days=args.history))
    start = ds.start + pd.Timedelta(days=args.history)
    catalog = catalog_of(ds, start)
    tastes = true_affinity(ds, catalog)
    base = PolicyConfig(control_share=0.0)  # the defaults; the intensity arms add to them
    print(f"  {'arm':<20} {'emails':>7} {'opens':>6} {'clicks':>6} {'buys':>6} "
          f"{'revenue':>10} {'unsubs':>6} {'net':>10}")
    results = {}
    for name in args.only.split(","):
        t = time.perf_counter()
        r = run_loop(ds, policy(replace(base, **ARMS[name]), catalog, tastes), start, args.days,
                     seed=args.seed)
        results[name] = r
        row(name, r, time.perf_counter() - t)
    for name, r in results.items():
        mix = ", ".join(f"{a} {n} ({r.revenue_by_action[a]:,.0f})"
                        for a, n in r.by_action.most_common())
        print(f"  {name}, emails (revenue) by action: {mix}")
        if r.by_content:
            print(f"  {name}, emails (revenue) by content: " + ", ".join(
                f"{x} {n} ({r.revenue_by_content[x]:,.0f})" for x, n in r.by_content.items()))


if __name__ == "__main__":
    main()
