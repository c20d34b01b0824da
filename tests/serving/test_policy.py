"""Table-driven policy tests: one scenario per row, checked on action, offer, products, time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from serving.policy import Catalog, PolicyConfig, PolicyInputs, Product, Scores, decide
from serving.policy.control import in_control_group
from serving.schemas import Action, OfferType, TriggerEvent, Variant

NOW = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 14:00 UTC, customer in UTC+0
H = 3600.0
CFG = PolicyConfig(control_share=0.0)
CATALOG = Catalog(
    products={
        "cart1": Product("cart1", "shoes", 80.0, 0.40, True),
        "a1": Product("a1", "home", 30.0, 0.35, True),
        "a2": Product("a2", "home", 25.0, 0.35, True),
        "a3": Product("a3", "home", 20.0, 0.35, True),
        "b1": Product("b1", "toys", 15.0, 0.12, True),
        "gone": Product("gone", "toys", 15.0, 0.30, False),
        "bought": Product("bought", "books", 10.0, 0.30, True),
        "pop1": Product("pop1", "garden", 12.0, 0.30, True),
        "pop2": Product("pop2", "pet", 9.0, 0.30, True),
        "pop3": Product("pop3", "beauty", 11.0, 0.30, True),
    },
    popular=["pop1", "pop2", "pop3", "a1"],
)
AFFINITY = [("a1", 0.9), ("gone", 0.85), ("a2", 0.8), ("a3", 0.7), ("bought", 0.65),
            ("b1", 0.6), ("pop3", 0.5)]


def customer(**over) -> dict:
    """A known, consenting customer with nothing going on."""
    f = {"consent": 1, "unsubscribed": 0, "emails_sent_24h": 0, "emails_sent_7d": 0,
         "cart_open": 0, "cart_value": 0.0, "cart_items": 0, "purchases_90d": 2,
         "spend_90d": 120.0, "purchases_30d": 1, "cart_adds_30d": 1, "days_since_signup": 200.0,
         "hours_since_last_view": 500.0, "hours_since_last_cart_add": None,
         "hours_since_last_purchase": 600.0, "hours_since_last_site": 100.0,
         "last_email_sent_ts": NOW.timestamp() - 48 * H, "last_purchase_ts": None,
         "utc_offset_hours": 0.0, "cart_products": [], "recent_purchases": ["bought"]}
    f.update(over)
    last = f.get("last_email_sent_ts")  # the request-time feature the engine derives from it
    since = None if last is None else (NOW.timestamp() - last) / H
    f.setdefault("hours_since_last_email_sent", since)
    return f


def run(features: dict, intent: float | None = 0.2, churn: float | None = 0.1,
        trigger: TriggerEvent | None = None, cfg: PolicyConfig = CFG, known: bool = True,
        hour_probs=None, affinity=AFFINITY, consent: bool | None = None, now=NOW,
        customer_id: str = "c1"):
    inp = PolicyInputs(customer_id, now, features, Scores(intent, churn, hour_probs, affinity),
                       trigger=trigger, known=known, consent_override=consent)
    return decide(inp, cfg, CATALOG, decision_id="d1")


OPEN_CART = {"cart_open": 1, "cart_value": 80.0, "cart_items": 1,
             "hours_since_last_cart_add": 0.5, "hours_since_last_view": 0.6,
             "cart_products": ["cart1"]}

SCENARIOS = [
    # name, features, kwargs, expected action, reason that must appear
    ("abandoned cart", customer(**OPEN_CART), {}, Action.CART_ABANDONMENT,
     "candidate_cart_abandonment:open_cart"),
    ("recent views, no cart", customer(hours_since_last_view=3.0), {},
     Action.BROWSE_ABANDONMENT, "candidate_browse_abandonment:recent_views"),
    ("recent purchase", customer(hours_since_last_purchase=20.0, hours_since_last_view=21.0),
     {"intent": 0.3}, Action.POST_PURCHASE_CROSS_SELL, "candidate_post_purchase_cross_sell"),
    ("inactive, high churn", customer(hours_since_last_site=40 * 24.0), {"churn": 0.8},
     Action.RE_ENGAGEMENT, "candidate_re_engagement:inactive_high_churn"),
    ("new signup", customer(days_since_signup=0.1, purchases_90d=0, spend_90d=0.0), {},
     Action.WELCOME, "candidate_welcome:new_signup"),
    ("nothing going on", customer(), {}, Action.NONE, "no_candidate"),
    ("unsubscribed", customer(unsubscribed=1, **OPEN_CART), {}, Action.NONE, "unsubscribed"),
    ("no consent", customer(consent=0, **OPEN_CART), {}, Action.NONE, "no_consent"),
    ("daily cap reached", customer(emails_sent_24h=1, last_email_sent_ts=NOW.timestamp() - 5 * H,
                                   **OPEN_CART), {}, Action.NONE, "cap_day_reached"),
    ("weekly cap reached", customer(emails_sent_7d=3, **OPEN_CART), {}, Action.NONE,
     "cap_week_reached"),
    ("stored daily count is stale: last email 30 h ago",
     customer(emails_sent_24h=1, last_email_sent_ts=NOW.timestamp() - 30 * H, **OPEN_CART), {},
     Action.CART_ABANDONMENT, "candidate_cart_abandonment"),
    ("worth too little", customer(hours_since_last_view=3.0, spend_90d=2.0, purchases_90d=1),
     {"intent": 0.01}, Action.NONE, "below_value_threshold"),
    ("unknown customer", {}, {"known": False, "intent": None, "churn": None, "affinity": []},
     Action.NONE, "unknown_customer_cold_start"),
    ("unknown customer signs up with consent", {},
     {"known": False, "consent": True, "trigger": TriggerEvent(event_type="signup"),
      "affinity": []}, Action.WELCOME, "recs_popular_cold_start"),
]


@pytest.mark.parametrize(("name", "features", "kwargs", "action", "reason"), SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_scenarios(name, features, kwargs, action, reason) -> None:
    d = run(features, **kwargs)
    assert d.action == action, (name, d.reasons)
    assert any(r.startswith(reason) for r in d.reasons), (name, d.reasons)
    if action == Action.NONE:
        assert d.send_at is None and d.variant is None and d.offer.type == OfferType.NONE
    else:
        assert d.send_at is not None and d.send_at >= NOW and d.variant is not None


def test_cart_then_purchase_suppresses_the_abandonment_flow() -> None:
    added = NOW - timedelta(hours=2)
    after_purchase = customer(hours_since_last_view=2.1, hours_since_last_purchase=1.0,
                              last_purchase_ts=(NOW - timedelta(hours=1)).timestamp())
    d = run(after_purchase, trigger=TriggerEvent(event_type="add_to_cart", timestamp=added,
                                                 product_id="cart1"))
    assert d.action not in (Action.CART_ABANDONMENT, Action.BROWSE_ABANDONMENT)
    # and without the purchase, the same trigger gets the reminder
    d = run(customer(**OPEN_CART), trigger=TriggerEvent(event_type="add_to_cart",
                                                        timestamp=added, product_id="cart1"))
    assert d.action == Action.CART_ABANDONMENT


def test_purchase_after_trigger_is_named_when_views_would_trigger_browse() -> None:
    t = NOW - timedelta(hours=3)
    f = customer(hours_since_last_view=2.0, hours_since_last_purchase=2.5,
                 last_purchase_ts=(NOW - timedelta(hours=2.5)).timestamp())
    d = run(f, trigger=TriggerEvent(event_type="product_view", timestamp=t))
    assert "suppressed_browse_abandonment:purchased_after_trigger" in d.reasons


def test_cold_start_gets_popular_items() -> None:
    d = run({}, known=False, intent=None, churn=None, affinity=[])
    assert [r.product_id for r in d.recommendations][:3] == ["pop1", "pop2", "pop3"]
    assert {r.reason for r in d.recommendations} == {"popular"}


def test_high_intent_gets_no_discount_and_urgency() -> None:
    d = run(customer(**OPEN_CART), intent=0.6)
    assert d.offer.type == OfferType.NONE and "offer_none_high_intent" in d.reasons
    assert d.variant == Variant.URGENCY


@pytest.mark.parametrize(("intent", "variant"), [(0.5, Variant.URGENCY),
                                                 (0.15, Variant.COMPARISON),
                                                 (0.04, Variant.EDUCATIONAL)])
def test_variant_by_intent_tier(intent: float, variant: Variant) -> None:
    d = run(customer(**OPEN_CART), intent=intent)
    assert d.action == Action.CART_ABANDONMENT and d.variant == variant


def test_discount_grows_with_churn_and_is_capped_by_margin() -> None:
    low = run(customer(**OPEN_CART), intent=0.15, churn=0.05)
    high = run(customer(**OPEN_CART), intent=0.15, churn=0.9)
    assert low.offer.type == high.offer.type == OfferType.PERCENT_OFF
    assert high.offer.value > low.offer.value
    assert high.offer.value / 100 <= 0.40 - CFG.min_margin_after_discount + 1e-9
    thin = replace(CATALOG, products={**CATALOG.products,
                                      "cart1": Product("cart1", "shoes", 80.0, 0.14, True)})
    inp = PolicyInputs("c1", NOW, customer(**OPEN_CART), Scores(0.15, 0.9, None, AFFINITY))
    d = decide(inp, CFG, thin, decision_id="d2")
    assert d.offer.type != OfferType.PERCENT_OFF or d.offer.value <= 4


def test_recommendations_filter_and_diversify() -> None:
    d = run(customer(**OPEN_CART))
    ids = [r.product_id for r in d.recommendations]
    assert ids[0] == "cart1" and d.recommendations[0].reason == "in_cart"
    assert "gone" not in ids and "bought" not in ids
    cats = [CATALOG.products[i].category for i in ids if i != "cart1"]
    assert max(cats.count(c) for c in set(cats)) <= CFG.max_per_category
    assert "a3" not in ids  # third "home" item dropped for diversity
    assert len(ids) == CFG.n_recommendations


def test_send_time_moves_to_best_hour_and_out_of_quiet_hours() -> None:
    probs = np.full(24, 0.01)
    probs[16] = 0.5  # best hour 16:00 UTC, inside the browse window (15:00-17:00)
    d = run(customer(hours_since_last_view=3.0), hour_probs=probs)
    assert d.send_at.hour == 16 and "send_at_best_hour" in d.reasons
    late = NOW.replace(hour=22, minute=30)
    d = run(customer(**OPEN_CART), now=late)
    assert d.send_at.hour == 7 and "quiet_hours_shift" in d.reasons  # 07:00 next morning
    tokyo = run(customer(utc_offset_hours=9.0, **OPEN_CART))  # 23:00 local in Tokyo
    assert (tokyo.send_at.hour + 9) % 24 == 7


def test_min_gap_since_last_email_delays_the_send() -> None:
    cfg = replace(CFG, cap_per_day=3)
    f = customer(emails_sent_24h=1, last_email_sent_ts=NOW.timestamp() - 2 * H, **OPEN_CART)
    d = run(f, cfg=cfg)
    assert d.action == Action.CART_ABANDONMENT and "min_gap_delay" in d.reasons
    assert d.send_at >= NOW + timedelta(hours=10)


def test_control_group_is_stable_flagged_and_holds_out() -> None:
    cfg = replace(CFG, control_share=0.3)
    ids = [f"c{i}" for i in range(2000)]
    members = [c for c in ids if in_control_group(c, cfg)]
    assert 0.25 < len(members) / len(ids) < 0.35
    assert members == [c for c in ids if in_control_group(c, cfg)]  # deterministic
    d = run(customer(**OPEN_CART), cfg=cfg, customer_id=members[0])
    assert d.action == Action.NONE and d.control_group
    assert "control_group_holdout:cart_abandonment" in d.reasons
    outsider = next(c for c in ids if c not in members)
    assert run(customer(**OPEN_CART), cfg=cfg, customer_id=outsider).action != Action.NONE


def test_missing_features_use_defaults_with_a_reason() -> None:
    f = customer(**OPEN_CART)
    del f["emails_sent_24h"], f["spend_90d"]
    d = run(f)
    assert "missing_features_defaulted" in d.reasons
    assert d.action == Action.CART_ABANDONMENT


def test_every_decision_explains_itself() -> None:
    for _, features, kwargs, _, _ in SCENARIOS:
        d = run(features, **kwargs)
        assert d.reasons and all(isinstance(r, str) and r for r in d.reasons)
        assert d.decision_id == "d1" and d.customer_id


# ------------------------------------------------------------------------ response model
def run_response(response: dict[str, float], features: dict | None = None,
                 cfg: PolicyConfig = CFG, decision_id: str = "d1"):
    inp = PolicyInputs("c1", NOW, features or customer(**OPEN_CART),
                       Scores(0.2, 0.1, None, AFFINITY, response))
    return decide(inp, cfg, CATALOG, decision_id=decision_id)


def test_response_model_sends_nothing_when_no_treatment_gains() -> None:
    d = run_response({"none": 9.0, "email": 8.5, "email_10": 8.0})  # buys anyway
    assert d.action == Action.NONE
    assert "response_model_no_gain:cart_abandonment" in d.reasons
    assert d.scores["expected_none"] == 9.0


def test_response_model_picks_the_offer_with_the_largest_gain() -> None:
    d = run_response({"none": 2.0, "email": 3.0, "email_10": 4.5, "email_20": 4.0})
    assert d.action == Action.CART_ABANDONMENT
    assert d.offer.type == OfferType.PERCENT_OFF and d.offer.value == 10
    assert "response_model_best:email_10:+2.50" in d.reasons
    d = run_response({"none": 2.0, "email": 3.0, "email_10": 2.5})
    assert d.offer.type == OfferType.NONE and "offer_none_response_model" in d.reasons


def test_response_model_discount_still_respects_the_margin_floor() -> None:
    # cart1 has a 40% margin; 35% off would leave less than the 10% floor
    d = run_response({"none": 1.0, "email": 2.0, "email_35": 5.0})
    assert d.action == Action.CART_ABANDONMENT and d.offer.type == OfferType.NONE
    assert "offer_none_response_model_email_35_exceeds_margin" in d.reasons


def test_without_exploration_every_decision_is_certain() -> None:
    assert run(customer(**OPEN_CART)).propensity == 1.0


def test_exploration_logs_the_probability_of_what_was_given() -> None:
    import random
    from collections import Counter

    from training.treatments import treatment_of

    cfg = replace(CFG, explore_share=0.4)
    response = {"none": 2.0, "email": 3.0, "email_10": 4.5, "email_20": 4.0}
    n = 4000
    got, props = Counter(), {}
    rng = random.Random(0)
    for _ in range(n):
        d = run_response(response, cfg=cfg, decision_id=f"{rng.getrandbits(128):032x}")
        t = treatment_of(d.action, d.offer)
        got[t] += 1
        assert props.setdefault(t, d.propensity) == d.propensity  # same for the same case
        assert any(r.startswith("explore:") for r in d.reasons) or t == "email_10"
    # greedy email_10: 0.6 + 0.4/4; every other arm 0.4/4; frequencies match what is logged
    assert props["email_10"] == pytest.approx(0.7)
    assert props["none"] == props["email"] == props["email_20"] == pytest.approx(0.1)
    assert sum(props.values()) == pytest.approx(1.0)
    for t, p in props.items():
        assert got[t] / n == pytest.approx(p, abs=0.025), (t, got[t] / n)


def test_exploration_never_overrides_eligibility_or_the_control_group() -> None:
    cfg = replace(CFG, explore_share=1.0)
    d = run(customer(unsubscribed=1, **OPEN_CART), cfg=cfg)
    assert d.action == Action.NONE and d.propensity == 1.0
    held = next(f"c{i}" for i in range(1000)
                if in_control_group(f"c{i}", replace(cfg, control_share=0.2)))
    d = run(customer(**OPEN_CART), cfg=replace(cfg, control_share=0.2), customer_id=held)
    assert d.control_group and d.action == Action.NONE and d.propensity == 1.0


def test_thompson_sampling_follows_its_posterior_and_logs_it() -> None:
    """Thompson sampling in a bucket where email_10 clearly earns most: it is sent most often,
    every arm keeps a chance while uncertain, and the logged propensity of each treatment is
    the frequency at which it is given."""
    import random
    from collections import Counter

    from serving.policy.exploration import Thompson
    from training.arm_stats import ArmStats, context_bucket
    from training.treatments import treatment_of

    cfg = replace(CFG, explore_method="thompson")
    features = customer(**OPEN_CART)
    bucket = context_bucket(features)
    rng = np.random.default_rng(0)
    stats = ArmStats()
    for arm, mean, n in (("none", 2.0, 40), ("email", 3.0, 40), ("email_10", 6.0, 40),
                         ("email_20", 4.5, 15)):
        stats.add(bucket, arm, rng.normal(mean, 6.0, n))
    bandit = Thompson(stats, cfg.explore_treatments)
    got, props = Counter(), {}
    ids = random.Random(1)
    n = 3000
    for _ in range(n):
        inp = PolicyInputs("c1", NOW, features, Scores(0.2, 0.1, None, AFFINITY))
        d = decide(inp, cfg, CATALOG, decision_id=f"{ids.getrandbits(128):032x}",
                   bandit=bandit)
        t = treatment_of(d.action, d.offer)
        got[t] += 1
        assert props.setdefault(t, d.propensity) == d.propensity
        assert any(r.startswith(f"thompson:{t}:") for r in d.reasons) or t == "email"
    assert got.most_common(1)[0][0] == "email_10"
    assert sum(props.values()) == pytest.approx(1.0, abs=1e-6)
    for t, p in props.items():
        assert got[t] / n == pytest.approx(p, abs=0.03), (t, got[t] / n, p)
    # the same decision id gives the same treatment (replayable)
    again = decide(PolicyInputs("c1", NOW, features, Scores(0.2, 0.1, None, AFFINITY)), cfg,
                   CATALOG, decision_id="ab" * 16, bandit=bandit)
    assert again.reasons == decide(PolicyInputs("c1", NOW, features, Scores(
        0.2, 0.1, None, AFFINITY)), cfg, CATALOG, decision_id="ab" * 16, bandit=bandit).reasons


# ------------------------------------------------------------------ follow-ups (issue 16, item 2)
def last_email(hours_ago: float, **over) -> dict:
    """A customer whose last email went out `hours_ago` (one email since their last open)."""
    return customer(**{"last_email_sent_ts": NOW.timestamp() - hours_ago * H,
                       "emails_since_last_open": 1, **over})


FOLLOW_UP_SCENARIOS = [
    # name, features, expected action, reason that must appear
    ("clicked the last email", last_email(30, hours_since_last_email_open=29,
                                          hours_since_last_email_click=29,
                                          recent_views=["a2", "b1"]),
     Action.FOLLOW_UP_CLICKED, "candidate_follow_up_clicked:clicked_last_email"),
    ("opened, no click", last_email(30, hours_since_last_email_open=29),
     Action.FOLLOW_UP_OPENED, "candidate_follow_up_opened:opened_no_click"),
    ("not opened in 48 h", last_email(50), Action.FOLLOW_UP_IGNORED,
     "candidate_follow_up_ignored:not_opened_48h"),
    ("not opened yet (30 h)", last_email(30), Action.NONE, "no_candidate"),
    ("ignored follow-up is not followed up again", last_email(50, emails_since_last_open=2),
     Action.NONE, "followup_stopped:ignored_again"),
    ("purchased since the email: cross-sell instead",
     last_email(50, hours_since_last_email_open=49, hours_since_last_purchase=20.0,
                hours_since_last_view=21.0),
     Action.POST_PURCHASE_CROSS_SELL, "followup_stopped:purchased"),
    ("email too old to follow up", last_email(100, hours_since_last_email_open=99),
     Action.NONE, "no_candidate"),
    ("an open cart outranks a follow-up", last_email(30, hours_since_last_email_open=29,
                                                     **OPEN_CART),
     Action.CART_ABANDONMENT, "candidate_follow_up_opened:opened_no_click"),
    ("caps hold for follow-ups", last_email(30, hours_since_last_email_open=29,
                                            emails_sent_7d=3), Action.NONE, "cap_week_reached"),
]


@pytest.mark.parametrize(("name", "features", "action", "reason"), FOLLOW_UP_SCENARIOS,
                         ids=[s[0] for s in FOLLOW_UP_SCENARIOS])
def test_follow_up_scenarios(name, features, action, reason) -> None:
    d = run(features)
    assert d.action == action, (name, d.reasons)
    assert reason in d.reasons, (name, d.reasons)
    if action in (Action.FOLLOW_UP_CLICKED, Action.FOLLOW_UP_OPENED, Action.FOLLOW_UP_IGNORED):
        assert d.send_at >= NOW + timedelta(hours=12) and d.expected_values[action.value] > 0.5


def test_follow_up_content_follows_what_the_customer_did() -> None:
    clicked = run(FOLLOW_UP_SCENARIOS[0][1])
    assert [r.product_id for r in clicked.recommendations][:2] == ["a2", "b1"]
    assert clicked.recommendations[0].reason == "recently_viewed"
    assert "recs_followup_viewed" in clicked.reasons
    opened = run(FOLLOW_UP_SCENARIOS[1][1])  # alternatives: not what the last email led with
    plain = run(customer(hours_since_last_view=3.0))
    assert opened.recommendations[0].product_id != plain.recommendations[0].product_id
    assert opened.recommendations[0].product_id == "pop3" and "recs_alternative" in opened.reasons
    ignored = run(FOLLOW_UP_SCENARIOS[2][1])  # intent 0.2 -> comparison, so another subject
    assert ignored.variant == Variant.EDUCATIONAL
    assert "variant_educational_alternative_subject" in ignored.reasons


def test_the_ignored_window_is_a_setting() -> None:
    """NBA_FOLLOWUP_IGNORED_HOURS=24: an email unopened for 30 h is ignored (48 h: not yet)."""
    from features.settings import Settings

    settings = Settings.from_env(env={"NBA_FOLLOWUP_IGNORED_HOURS": "24"})
    short = replace(PolicyConfig.from_settings(settings), control_share=0.0)
    customers = {hours: last_email(hours) for hours in (20, 30, 50)}
    default = {h: run(f).action for h, f in customers.items()}
    shorter = {h: run(f, cfg=short) for h, f in customers.items()}
    assert default == {20: Action.NONE, 30: Action.NONE, 50: Action.FOLLOW_UP_IGNORED}
    assert {h: d.action for h, d in shorter.items()} == {
        20: Action.NONE, 30: Action.FOLLOW_UP_IGNORED, 50: Action.FOLLOW_UP_IGNORED}
    assert "candidate_follow_up_ignored:not_opened_24h" in shorter[30].reasons


def test_follow_ups_can_be_switched_off() -> None:
    d = run(FOLLOW_UP_SCENARIOS[0][1], cfg=replace(CFG, followups=False))
    assert d.action == Action.NONE and "no_candidate" in d.reasons


# ------------------------------------------------------- engagement tiers (issue 16, item 3)
@pytest.mark.parametrize(("score", "tier", "intensity"), [
    (0.8, "high", "premium"), (0.3, "medium", "standard"), (0.05, "low", "reactivation")])
def test_engagement_tier_sets_intensity_and_is_shown(score, tier, intensity) -> None:
    d = run(customer(engagement_score=score, **OPEN_CART))
    assert d.engagement_tier == tier and d.intensity == intensity
    assert f"engagement_{tier}:{intensity}" in d.reasons and d.scores["engagement"] == score


def test_no_engagement_data_means_no_tier() -> None:
    d = run(customer(**OPEN_CART))
    assert d.engagement_tier is None and d.intensity is None and "engagement" not in d.scores
    assert not any(r.startswith("engagement_") for r in d.reasons)


# ----------------------------------------------------- adaptive frequency (issue 16, item 4)
def emailed(n_7d: int, **over) -> dict:
    """An open cart; `n_7d` emails this week, the last 30 h ago (the daily cap is clear)."""
    return customer(**{"emails_sent_7d": n_7d, "last_email_sent_ts": NOW.timestamp() - 30 * H,
                       **OPEN_CART, **over})


@pytest.mark.parametrize(("features", "action", "reason"), [
    (emailed(1, engagement_score=0.8), Action.CART_ABANDONMENT, "engagement_high:premium"),
    (emailed(2, engagement_score=0.8), Action.CART_ABANDONMENT, "engagement_high:premium"),
    (emailed(2, engagement_score=0.3), Action.CART_ABANDONMENT, "engagement_medium:standard"),
    (emailed(2, engagement_score=0.05), Action.NONE, "cap_week_adaptive:low_engagement"),
    (emailed(1, engagement_score=0.05), Action.CART_ABANDONMENT, "engagement_low"),
    (emailed(1, engagement_score=0.8, emails_since_last_open=8),  # unopened, but visiting
     Action.CART_ABANDONMENT, "engagement_high"),
    (emailed(2), Action.CART_ABANDONMENT, "candidate_cart_abandonment"),  # no data: global
    (emailed(3, engagement_score=0.8), Action.NONE, "cap_week_reached"),  # never above global
], ids=["high 1", "high 2", "medium 2", "low 2", "low 1", "unopened but visiting",
        "no engagement data", "global cap"])
def test_adaptive_weekly_cap_follows_engagement_and_fatigue(features, action, reason) -> None:
    d = run(features)
    assert d.action == action, d.reasons
    assert any(r.startswith(reason) for r in d.reasons), d.reasons


def test_saturated_customers_get_one_email_a_week() -> None:
    """Five emails in a row unopened and no visit for a week: one email a week, whatever the
    tier (a re-engagement candidate here)."""
    away = {"hours_since_last_site": 40 * 24.0, "emails_since_last_open": 5,
            "engagement_score": 0.8}
    this_week = customer(emails_sent_7d=1, last_email_sent_ts=NOW.timestamp() - 30 * H, **away)
    d = run(this_week, churn=0.8)
    assert d.action == Action.NONE and "cap_week_adaptive:saturated" in d.reasons
    quiet_week = customer(emails_sent_7d=0, last_email_sent_ts=NOW.timestamp() - 200 * H, **away)
    assert run(quiet_week, churn=0.8).action == Action.RE_ENGAGEMENT
    fewer = customer(emails_sent_7d=1, last_email_sent_ts=NOW.timestamp() - 30 * H,
                     **{**away, "emails_since_last_open": 4})
    assert run(fewer, churn=0.8).action == Action.RE_ENGAGEMENT


def test_adaptive_frequency_off_keeps_the_global_cap() -> None:
    cfg = replace(CFG, adaptive_frequency=False)
    assert run(emailed(2, engagement_score=0.05), cfg=cfg).action == Action.CART_ABANDONMENT
    assert "cap_week_reached" in run(emailed(3, engagement_score=0.8), cfg=cfg).reasons


# ------------------------------------------------------ next order date and value (item 7)
def regular(days_to_next: float, **over) -> dict:
    """A customer with 5 purchase days 30 days apart, the next expected in `days_to_next`."""
    return customer(**{"purchase_days_total": 5, "mean_purchase_gap_days": 30.0,
                       "hours_since_last_purchase": (30.0 - days_to_next) * 24,
                       "spend_per_purchase_day": 40.0, **over})


REMIND = replace(CFG, next_order_reminders=True)


def run_base(features: dict, purchases_12m: float | None = None, p_alive: float | None = None,
             cfg: PolicyConfig = REMIND, churn: float = 0.3):
    scores = Scores(0.2, churn, None, AFFINITY, purchases_12m=purchases_12m, p_alive=p_alive)
    return decide(PolicyInputs("c1", NOW, features, scores), cfg, CATALOG, decision_id="d1")


def test_re_engagement_is_timed_before_the_expected_next_order() -> None:
    d = run_base(regular(2.0))
    assert d.action == Action.RE_ENGAGEMENT, d.reasons
    assert "candidate_re_engagement:next_order_due" in d.reasons
    assert d.scores["next_order_days"] == pytest.approx(2.0)
    assert d.send_at < NOW + timedelta(days=2)  # lands before the expected date passes
    for ahead in (10.0, 0.5, -3.0):  # not yet due, too late to land before it, overdue
        d = run_base(regular(ahead))
        assert d.action == Action.NONE and d.scores["next_order_days"] == pytest.approx(ahead)
    assert run_base(regular(2.0, purchase_days_total=2)).action == Action.NONE  # too few
    assert run_base(regular(2.0), cfg=CFG).action == Action.NONE  # off by default


def test_next_order_value_and_p_alive_are_in_the_scores() -> None:
    d = run_base(regular(10.0), purchases_12m=6.0, p_alive=0.9)
    assert d.scores["next_order_value_12m"] == pytest.approx(6.0 * 40.0)
    assert d.scores["p_alive"] == pytest.approx(0.9)
    d = run_base(customer())  # no customer-base model, irregular history: nothing shown
    assert not {"next_order_days", "next_order_value_12m", "p_alive"} & set(d.scores)


def test_scorer_gives_bgnbd_purchases_and_p_alive_from_the_champion() -> None:
    from types import SimpleNamespace

    from serving.scoring import Scorer
    from training.customer_base import BGNBD

    cb = BGNBD(r=0.6, alpha=12.0, a=0.8, b=2.5)
    scorer = Scorer(bundles={"intent": SimpleNamespace(customer_base=cb)})
    frequent = {"purchase_days_total": 8, "days_since_first_purchase": 200.0,
                "hours_since_last_purchase": 5 * 24.0}
    lapsed = {**frequent, "hours_since_last_purchase": 150 * 24.0}
    got = scorer.customer_base([frequent, lapsed, {}])
    want = cb.expected_purchases(365.0, np.array([7.0]), np.array([195.0]), np.array([200.0]))
    assert got[0][0] == pytest.approx(float(want[0]))
    assert got[0][0] > got[1][0] > 0 and 1 >= got[0][1] > got[1][1] > 0
    assert got[2] == (None, None)  # no purchase yet
    assert Scorer().customer_base([frequent]) == [(None, None)]  # no customer-base model
