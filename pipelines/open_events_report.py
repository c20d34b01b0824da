"""The demo report's lines for content at open and business-event triggers (a dry run: nothing
is written to the product state, the decision log or the live path)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pandas as pd

from features.settings import Settings
from serving.schemas import Decision

if TYPE_CHECKING:
    from serving.policy.open_content import OpenContent

OPEN_AFTER = timedelta(hours=2)  # the demo's email is opened this long after its send time
DEMO_DROP = 0.2  # the demo's price drop on the most viewed product


def email_to_open(decisions: list[Decision]) -> Decision | None:
    """The first email with an offer (its countdown shows), else the first email."""
    emails = [d for d in decisions if d.send_at is not None]
    return next((d for d in emails if d.offer.value), emails[0] if emails else None)


def open_line(email: Decision, o: OpenContent) -> str:
    """What the email shows when opened."""
    left = f"{o.offer_seconds_left / 3600:.0f} h left" if o.offer_seconds_left else "none"
    return (f"  content at open (+{OPEN_AFTER.total_seconds() / 3600:.0f} h): {email.customer_id} "
            f"{o.action.value}, headline {o.variant.value if o.variant else '-'}, offer "
            f"{o.offer.type.value} ({left}), products "
            f"{', '.join(r.product_id for r in o.recommendations[:3])}; {'; '.join(o.reasons)}")


def price_drop_line(product_id: str, interested: int, sent: int) -> str:
    """The demo price drop: its audience and the emails the policy would send."""
    return (f"  business event (dry run): price drop {DEMO_DROP:.0%} on {product_id} -> "
            f"{interested:,} interested customers -> {sent:,} price_drop emails (the others: "
            "consent, caps, control group or a better flow); simulator effect: docs/policy.md")


def open_and_events_lines(settings: Settings, decisions: list[Decision]) -> list[str]:
    """One email opened `OPEN_AFTER` its send time, and a `DEMO_DROP` price drop on the most
    viewed in-stock product of the interest window decided for its audience."""
    from serving.engine import DecisionEngine
    from serving.open_content import open_content

    lines: list[str] = []
    engine = DecisionEngine(settings, log_decisions=False)
    try:
        email = email_to_open(decisions)
        if email is not None:
            lines.append(open_line(email, open_content(engine, email.decision_id,
                                                       email.send_at + OPEN_AFTER)))
        lines += _price_drop_lines(settings, engine)
    finally:
        engine.close()
    return lines


def _price_drop_lines(settings: Settings, engine) -> list[str]:
    """The demo price drop decided for its audience (nothing when no product was viewed)."""
    from features.online.product_events import (
        ProductState,
        detect_triggers,
        interest_events,
        validate_product_events,
    )
    from features.sources.dataset import read_dataset
    from serving.product_events import audience_requests

    ds = read_dataset(settings.data_dir, with_truth=False)
    window = pd.Timedelta(days=engine.config.product_interest_days)
    views = ds.events[(ds.events["event_type"] == "product_view")
                      & (ds.events["timestamp"] > ds.end - window)]["product_id"]
    stock = {p for p, prod in engine.catalog.products.items() if prod.in_stock}
    pid = next((p for p in views.value_counts().index if p in stock), None)
    if pid is None:
        return []
    prod = engine.catalog.products[pid]
    changes, _ = validate_product_events([{
        "product_id": pid, "event_type": "price_change",
        "price": round(prod.price * (1 - DEMO_DROP), 2), "timestamp": ds.end.isoformat()}])
    triggers, _ = detect_triggers(changes, {pid: ProductState(prod.price, True)},
                                  engine.config.price_drop_min)
    events = interest_events(engine.live.history, [pid], ds.end - window)
    reqs, trigs, size = audience_requests(triggers, events, window)
    out = engine.decide_many(reqs, trigs) if reqs else []
    return [price_drop_line(pid, size, sum(d.action.value == "price_drop" for d in out))]
