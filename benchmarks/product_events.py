"""Business-event triggers on the simulator: revenue, unsubscribes and emails sent over the
same simulated period, without triggers, with triggers decided through the policy, and with
every interested customer emailed regardless of the policy (consent, caps, quiet hours).

The world's own emails and purchases (the simulator's campaigns) are the baseline, identical in
every arm. Over the last `--days` of the world, price drops and restocks happen
(features/simulation/products.py); each trigger's audience (viewed or carted the product within the
window, not bought since) is computed from the events before it, the policy decides each
customer at the trigger's time from their features then (rules only: no trained models), and
the emails the policy sends count toward later caps. The trigger emails' effect is the known
expected response (features/simulation/products.py: purchase probability with and without the email,
unsubscribe risk), so the figures carry no sampling noise.

    uv run python benchmarks/product_events.py [--customers 5000] [--days 28] [--seed 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import schema as s
from features.online.product_events import (
    ProductState,
    detect_triggers,
    interested_customers,
    validate_product_events,
)
from features.simulation.behavior import SimConfig, simulate
from features.simulation.products import product_changes, trigger_response
from features.transforms import customer_items, customer_state_at


def baseline(ds, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, float]:
    """The world's own emails, revenue and unsubscribes in [start, end)."""
    ev = ds.events[(ds.events[s.EVENT_TS] >= start) & (ds.events[s.EVENT_TS] < end)]
    et = ev[s.EVENT_TYPE].astype(str)
    buys = ev[et == "purchase"]
    return {"emails": float((et == "email_sent").sum()),
            "revenue": float((buys[s.PRICE] * buys[s.QUANTITY]).sum()),
            "unsubscribes": float((et == "unsubscribe").sum())}


def features_at(ds, events: pd.DataFrame, customers: list[str], at: pd.Timestamp) -> list[dict]:
    """The policy's features for `customers` at `at`, as an online read would return them."""
    ev = events[events[s.CUSTOMER_ID].isin(customers) & (events[s.EVENT_TS] <= at)]
    cust = ds.customers[ds.customers[s.CUSTOMER_ID].isin(customers)]
    state = customer_state_at(ev, cust, at).set_index(s.CUSTOMER_ID)
    items = customer_items(ev, as_of=at).set_index(s.CUSTOMER_ID)
    out = []
    for c in customers:
        row = state.loc[c].to_dict()
        row.update(items.loc[c].to_dict() if c in items.index else {})
        out.append({k: (None if isinstance(v, float) and np.isnan(v) else v)
                    for k, v in row.items()})
    return out


def run(ds, changes: list[dict], start: pd.Timestamp, policy: bool) -> dict[str, float]:
    """Trigger emails in time order; returns their count and expected revenue / unsubscribes
    added to the world's."""
    from serving.policy import PolicyConfig, PolicyInputs, Scores, decide
    from serving.policy.inputs import Catalog, Product
    from serving.policy.product_events import ProductTrigger
    from serving.product_events import with_state

    cfg = PolicyConfig(control_share=0.0)
    prods = ds.products
    base = Catalog({str(r.product_id): Product(str(r.product_id), str(r.category), float(r.price),
                                               float(r.margin), bool(r.in_stock))
                    for r in prods.itertuples()}, [])
    truth = ds.truth.set_index(s.CUSTOMER_ID)
    state = {p.product_id: ProductState(p.price, p.in_stock) for p in base.products.values()}
    valid, _ = validate_product_events(changes, now=ds.end)
    window = pd.Timedelta(days=cfg.product_interest_days)
    events = ds.events
    sent_rows: list[dict] = []
    emails = revenue = unsubs = blocked = 0.0
    for change in valid:
        triggers, state = detect_triggers([change], state, cfg.price_drop_min)
        catalog = with_state(base, state)
        for t in triggers:
            aud = interested_customers(events, [t.product_id], t.at, window)
            if aud.empty:
                continue
            ids = aud[s.CUSTOMER_ID].tolist()
            feats = features_at(ds, events, ids, t.at)
            send = []
            for (c, interest), f in zip(zip(ids, aud["interest"], strict=True), feats,
                                        strict=True):
                if not policy:
                    send.append((c, interest, t.at))
                    continue
                trig = ProductTrigger(t.kind, t.product_id, t.price, t.old_price, interest)
                inp = PolicyInputs(c, t.at.to_pydatetime(), f, Scores(), product_trigger=trig)
                d = decide(inp, cfg, catalog, decision_id=f"{c}-{t.product_id}")
                if d.action.value == t.kind:
                    send.append((c, interest, pd.Timestamp(d.send_at)))
            if not send:
                continue
            who = [c for c, _, _ in send]
            carted = np.array([i == "cart" for _, i, _ in send])
            f_by = dict(zip(ids, feats, strict=True))
            e7 = np.array([(f_by[c].get("emails_sent_7d") or 0) if (f_by[c].get(
                "hours_since_last_email_sent") or 1e9) < 168 else 0 for c in who], float)
            resp = trigger_response(truth.loc[who].reset_index(), t.kind, t.drop, carted,
                                    e7, t.at)
            price = t.price or 0.0
            emails += len(send)
            blocked += sum(not (f_by[c].get("consent") or 0) or bool(f_by[c].get("unsubscribed"))
                           for c in who)
            revenue += float(((resp.p_buy_email - resp.p_buy_none) * price).sum())
            unsubs += float(resp.p_unsub_email.sum())
            sent_rows += [{s.CUSTOMER_ID: c, s.EVENT_TYPE: "email_sent", s.EVENT_TS: at,
                           s.CAMPAIGN_ID: t.kind} for c, _, at in send]
            events = pd.concat([events, pd.DataFrame(sent_rows[-len(send):])],
                               ignore_index=True).sort_values(s.EVENT_TS, kind="stable")
    return {"emails": emails, "revenue": revenue, "unsubscribes": unsubs,
            "no_consent": blocked}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=5_000)
    ap.add_argument("--products", type=int, default=500)
    ap.add_argument("--days", type=int, default=28, help="trigger period at the world's end")
    ap.add_argument("--drops", type=int, default=20)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = simulate(SimConfig(customers=args.customers, days=182, products=args.products,
                            seed=args.seed))
    end = ds.end
    start = end - pd.Timedelta(days=args.days)
    changes = product_changes(ds, start, end - pd.Timedelta(days=7), n_drops=args.drops,
                              seed=args.seed)
    base = baseline(ds, start, end)
    arms = {"no triggers": {k: 0.0 for k in (*base, "no_consent")},
            "triggers through the policy": run(ds, changes, start, policy=True),
            "triggers, every interested customer": run(ds, changes, start, policy=False)}
    n_drop = sum(c["event_type"] == "price_change" for c in changes)
    print(f"{args.customers} customers, {args.days} days, {len(changes)} product events "
          f"({n_drop} price changes, {len(changes) - n_drop} restocks), seed {args.seed}")
    print(f"{'arm':<38}{'emails':>9}{'revenue':>12}{'unsubscribes':>14}{'rev/email':>11}"
          f"{'to no consent':>15}")
    for name, extra in arms.items():
        tot = {k: base[k] + extra[k] for k in base}
        per = extra["revenue"] / extra["emails"] if extra["emails"] else 0.0
        print(f"{name:<38}{tot['emails']:>9,.0f}{tot['revenue']:>12,.0f}"
              f"{tot['unsubscribes']:>14,.1f}{per:>11.2f}{extra['no_consent']:>15,.0f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
