"""How well the next-order date ranks who buys soon, on the simulator (issue 16, item 7).

At a cutoff (day 120 of 182), for customers with at least 3 purchase days: the policy's expected
next order (last purchase + mean gap, serving/policy/next_order.py) against what they did in the
next 62 days; BG/NBD's P(purchase within 14 days) (fitted on every buyer at the cutoff) for
comparison. AUC of "bought within 14 days" for -|days to the expected date| and for BG/NBD; the
7-day purchase rate of customers due in 1-3 days (the reminder window) against all of them.

Run: python benchmarks/next_order.py [--customers 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmarks._report import figure, header
from features import schema as s
from features.simulation.behavior import SimConfig, simulate
from features.transforms import customer_state_at
from training.baselines import bgnbd_summary
from training.customer_base import fit_bgnbd

BASE = ("purchase_days_total", "days_since_first_purchase", "hours_since_last_purchase")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    header(f"next-order date on the simulator: {args.customers} customers x 182 days")
    ds = simulate(SimConfig(customers=args.customers, days=182, seed=args.seed))
    cut = ds.start + pd.Timedelta(days=120)
    st = customer_state_at(ds.events, ds.customers, cut).set_index(s.CUSTOMER_ID)
    ev = ds.events
    later = ev[(ev[s.EVENT_TYPE] == s.EventType.PURCHASE) & (ev[s.EVENT_TS] > cut)]
    nxt = (later.groupby(s.CUSTOMER_ID)[s.EVENT_TS].min() - cut).dt.total_seconds() / 86_400
    buyers = st[st["purchase_days_total"] >= 1]
    x, t_x, T = bgnbd_summary({c: buyers[c].to_numpy(float) for c in BASE})
    ok = np.isfinite(x)
    cb = fit_bgnbd(x[ok], t_x[ok], T[ok])
    reg = st[(st["purchase_days_total"] >= 3) & st["mean_purchase_gap_days"].notna()]
    due = (reg["mean_purchase_gap_days"] - reg["hours_since_last_purchase"] / 24).to_numpy()
    real = nxt.reindex(reg.index).to_numpy()
    y = np.nan_to_num(real, nan=np.inf) <= 14
    xr, txr, Tr = bgnbd_summary({c: reg[c].to_numpy(float) for c in BASE})
    figure("customers with >= 3 purchase days", len(reg), "customers")
    figure("AUC, bought within 14 d: -|days to expected|", roc_auc_score(y, -np.abs(due)), "")
    figure("AUC, bought within 14 d: BG/NBD P(buy 14 d)",
           roc_auc_score(y, cb.p_purchase(14.0, xr, txr, Tr)), "")
    window = (due >= 1) & (due <= 3)
    week = np.nan_to_num(real, nan=np.inf) <= 7
    figure("due in 1-3 days", int(window.sum()), "customers")
    figure("  of whom bought within 7 days", week[window].mean() * 100, "%")
    figure("all of them: bought within 7 days", week.mean() * 100, "%")


if __name__ == "__main__":
    main()
