"""The demo report's lines for content at open and business-event triggers (a dry run: nothing
is written to the product state, the decision log or the live path)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from features.settings import Settings
from serving.schemas import Decision


def open_and_events_lines(settings: Settings, decisions: list[Decision]) -> list[str]:
    """One email opened two hours after its send time, and a 20% price drop on the most viewed
    in-stock product of the last two weeks decided for its audience."""
    from features.online.product_events import (
        ProductState,
        detect_triggers,
        interest_events,
        validate_product_events,
    )
    from features.sources.dataset import read_dataset
    from serving.engine import DecisionEngine
    from serving.open_content import open_content
    from serving.product_events import audience_requests

    lines: list[str] = []
    engine = DecisionEngine(settings, log_decisions=False)
    try:
        email = next((d for d in decisions if d.send_at is not None and d.offer.value), None)
        email = email or next((d for d in decisions if d.send_at is not None), None)
        if email is not None:
            at = email.send_at + timedelta(hours=2)
            o = open_content(engine, email.decision_id, at)
            left = f"{o.offer_seconds_left / 3600:.0f} h left" if o.offer_seconds_left else "none"
            lines.append(f"  content at open (+2 h): {email.customer_id} {o.action.value}, "
                         f"headline {o.variant.value if o.variant else '-'}, offer "
                         f"{o.offer.type.value} ({left}), products "
                         f"{', '.join(r.product_id for r in o.recommendations[:3])}; "
                         f"{'; '.join(o.reasons)}")
        ds = read_dataset(settings.data_dir, with_truth=False)
        window = pd.Timedelta(days=engine.config.product_interest_days)
        views = ds.events[(ds.events["event_type"] == "product_view")
                          & (ds.events["timestamp"] > ds.end - window)]["product_id"]
        stock = {p for p, prod in engine.catalog.products.items() if prod.in_stock}
        pid = next((p for p in views.value_counts().index if p in stock), None)
        if pid is None:
            return lines
        prod = engine.catalog.products[pid]
        changes, _ = validate_product_events([{
            "product_id": pid, "event_type": "price_change", "price": round(prod.price * 0.8, 2),
            "timestamp": ds.end.isoformat()}])
        triggers, _ = detect_triggers(changes, {pid: ProductState(prod.price, True)},
                                      engine.config.price_drop_min)
        events = interest_events(engine.live.history, [pid], ds.end - window)
        reqs, trigs, size = audience_requests(triggers, events, window)
        out = engine.decide_many(reqs, trigs) if reqs else []
        sent = sum(d.action.value == "price_drop" for d in out)
        lines.append(f"  business event (dry run): price drop 20% on {pid} -> {size:,} "
                     f"interested customers -> {sent:,} price_drop emails (the others: "
                     "consent, caps, control group or a better flow); simulator effect: "
                     "docs/policy.md")
    finally:
        engine.close()
    return lines
