"""Reason codes: every reason the policy emits parses back to one `Reason`, and docs/policy.md
lists every code."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from serving.policy import Catalog, PolicyConfig, PolicyInputs, Scores, decide
from serving.policy.exploration import Thompson
from serving.policy.open_content import render
from serving.policy.product_events import ProductTrigger
from serving.schemas import Decision, TriggerEvent
from tests.serving.test_policy import (
    AFFINITY,
    CATALOG,
    FOLLOW_UP_SCENARIOS,
    NOW,
    SCENARIOS,
    H,
    run,
)
from training.arm_stats import ArmStats, context_bucket
from training.reasons import Reason, find, parse

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"
PIDS = list(CATALOG.products)
# members no decision below can give: choose_offer's answer for `none`, which decide never asks
UNREACHABLE = {Reason.OFFER_NONE}


def _maybe(rng: random.Random, p: float, value: object) -> object:
    return value if rng.random() < p else None


def random_inputs(rng: random.Random, i: int) -> PolicyInputs:
    """A customer with a bit of everything (features, scores, triggers), some of it missing."""
    ago = NOW.timestamp()
    f = {"consent": rng.choice([1, 1, 1, 1, 0, None]), "unsubscribed": rng.choice([0] * 9 + [1]),
         "emails_sent_24h": rng.choice([0, 1]), "emails_sent_7d": rng.choice([0, 1, 2, 3, 6]),
         "cart_open": rng.choice([0, 1]), "cart_value": rng.choice([0.0, 80.0, 300.0]),
         "purchases_90d": rng.choice([0, 1, 5]), "spend_90d": rng.choice([0.0, 120.0, 800.0]),
         "purchases_30d": rng.choice([0, 1, 3]), "cart_adds_30d": rng.choice([0, 1, 4]),
         "days_since_signup": _maybe(rng, 0.9, rng.choice([0.5, 2.0, 30.0, 200.0])),
         "hours_since_last_view": _maybe(rng, 0.8, rng.uniform(0, 100)),
         "hours_since_last_cart_add": _maybe(rng, 0.6, rng.uniform(0, 100)),
         "hours_since_last_purchase": _maybe(rng, 0.7, rng.uniform(0, 1000)),
         "hours_since_last_site": _maybe(rng, 0.8, rng.uniform(0, 1500)),
         "last_email_sent_ts": _maybe(rng, 0.8, ago - rng.uniform(0, 200) * H),
         "last_purchase_ts": _maybe(rng, 0.4, ago - rng.uniform(-5, 100) * H),
         "utc_offset_hours": rng.choice([0.0, -5.0, 9.0]),
         "cart_products": rng.sample(PIDS, rng.choice([0, 1, 2])),
         "recent_purchases": rng.sample(PIDS, rng.choice([0, 1, 2])),
         "recent_views": rng.sample(PIDS, rng.choice([0, 1, 3])),
         "engagement_score": _maybe(rng, 0.7, rng.random()),
         "emails_since_last_open": _maybe(rng, 0.8, rng.choice([0, 1, 2, 6])),
         "hours_since_last_email_click": _maybe(rng, 0.4, rng.uniform(0, 100)),
         "hours_since_last_email_open": _maybe(rng, 0.5, rng.uniform(0, 100)),
         "purchase_days_total": rng.choice([0, 3, 8]),
         "mean_purchase_gap_days": _maybe(rng, 0.7, rng.uniform(5, 40)),
         "spend_per_purchase_day": _maybe(rng, 0.6, rng.uniform(10, 90)),
         "push_consent": rng.choice([0, 1, None]), "sms_consent": rng.choice([0, 1, None]),
         "last_push_sent_ts": _maybe(rng, 0.4, ago - rng.uniform(0, 200) * H),
         "push_sent_24h": rng.choice([0, 1]), "push_sent_7d": rng.choice([0, 3]),
         "last_sms_sent_ts": _maybe(rng, 0.4, ago - rng.uniform(0, 200) * H),
         "sms_sent_24h": rng.choice([0, 1]), "sms_sent_7d": rng.choice([0, 2])}
    last = f["last_email_sent_ts"]
    f["hours_since_last_email_sent"] = None if last is None else (ago - last) / H
    hours = np.asarray([rng.random() for _ in range(24)]) if rng.random() < 0.6 else None
    response = ({t: rng.uniform(0, 5) for t in ("none", "email", "email_10", "email_20")}
                if rng.random() < 0.3 else None)
    scores = Scores(intent=_maybe(rng, 0.9, rng.random() * 0.6),
                    churn=_maybe(rng, 0.85, rng.random()), hour_probs=hours,
                    affinity=AFFINITY[: rng.choice([0, 3, 7])], response=response,
                    purchases_12m=_maybe(rng, 0.5, rng.uniform(0, 6)))
    trigger = (TriggerEvent(event_type=rng.choice(["signup", "add_to_cart"]),
                            timestamp=NOW - timedelta(hours=rng.uniform(0, 5)))
               if rng.random() < 0.3 else None)
    product = (ProductTrigger(rng.choice(["price_drop", "back_in_stock"]), rng.choice(PIDS),
                              price=rng.choice([None, 20.0]), interest=rng.choice(["cart", "view"]))
               if rng.random() < 0.2 else None)
    return PolicyInputs(f"c{i}", NOW + timedelta(hours=rng.choice([0, 9, 11.5])), f, scores,
                        trigger=trigger, known=rng.random() > 0.05, degraded=rng.random() < 0.03,
                        consent_override=rng.choice([None] * 8 + [True, False]),
                        product_trigger=product)


def stored(d: Decision) -> dict:
    """The decision index's record of a decision (serving/decision_index.py)."""
    return {"action": d.action.value, "customer_id": d.customer_id,
            "recs": [[r.product_id, r.reason] for r in d.recommendations],
            "offer": [d.offer.type.value, d.offer.value], "decided_at": d.decided_at.isoformat(),
            "send_at": d.send_at.isoformat() if d.send_at else None,
            "variant": d.variant.value if d.variant else None}


def emitted_reasons() -> set[str]:
    """Every reason of the scenario tables and of a seeded sweep over configurations (decisions
    and content at open)."""
    reasons: set[str] = set()
    for _, features, kwargs, *_ in SCENARIOS:
        reasons |= set(run(features, **kwargs).reasons)
    for _, features, *_ in FOLLOW_UP_SCENARIOS:
        reasons |= set(run(features).reasons)
    base = PolicyConfig()
    configs = [base, replace(base, control_share=0.3), replace(base, explore_share=0.4),
               replace(base, cap_per_day=3, cap_per_week=10, min_expected_value=0.05,
                       control_share=0.0, next_order_reminders=True),
               replace(base, explore_method="thompson"),
               replace(base, intensity_treatments=("premium", "reactivation"),
                       control_share=0.0, min_expected_value=0.05)]
    rng = random.Random(7)
    for k, cfg in enumerate(configs):
        bandit = None
        if cfg.explore_method == "thompson":
            stats = ArmStats()
            for arm in cfg.explore_treatments:
                stats.add(context_bucket(random_inputs(rng, 0).features), arm, [1.0, 2.0])
            bandit = Thompson(stats, cfg.explore_treatments)
        for i in range(300):
            inp = random_inputs(rng, i)
            decision_id = f"{rng.getrandbits(128):032x}"
            d = decide(inp, cfg, CATALOG, decision_id=decision_id, bandit=bandit)
            reasons |= set(d.reasons)
            if d.action.value != "none" and i % 2 == 0:  # opened later, a product sold out
                gone = {p: replace(v, in_stock=False) if p == d.recommendations[-1].product_id
                        else v for p, v in CATALOG.products.items()} if k % 2 else CATALOG.products
                later = replace(random_inputs(rng, i), now=inp.now + timedelta(hours=50 * k))
                reasons |= set(render(decision_id, stored(d), later, cfg,
                                      Catalog(gone, CATALOG.popular)).reasons)
    return reasons


@pytest.fixture(scope="module")
def reasons() -> set[str]:
    return emitted_reasons()


def test_every_emitted_reason_parses_back_to_one_code(reasons: set[str]) -> None:
    codes = set()
    for r in sorted(reasons):
        code, args = parse(r)
        assert code.with_(*args) == r
        matching = [c for c in Reason if c.args(r) is not None]
        assert matching == [code], (r, matching)  # one code, whatever the order of the search
        codes.add(code)
    assert set(Reason) - codes == UNREACHABLE  # no code is stale


def test_parse_refuses_an_unknown_reason_and_find_skips_it() -> None:
    with pytest.raises(ValueError, match="unknown reason"):
        parse("candidate_welcome")  # a template without its parameters
    logged = ["made_up:x", "control_group_holdout:cart_abandonment"]
    assert find(logged, Reason.CONTROL_GROUP_HOLDOUT) == ("cart_abandonment",)
    assert find(logged, Reason.NO_CONSENT) is None
    with pytest.raises(ValueError, match="takes 1 arguments"):
        Reason.CONTROL_GROUP_HOLDOUT.with_()


def test_docs_list_every_reason_code() -> None:
    text = re.sub(r"```.*?```", "", DOC.read_text(), flags=re.DOTALL)  # code blocks
    documented = set(re.findall(r"`([^`\n]+)`", text))
    missing = [c.value for c in Reason if c.value not in documented]
    assert not missing, f"docs/policy.md does not list {missing}"
