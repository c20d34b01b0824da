"""Learning what works: campaign simulation with known effects, the response model, off-policy
evaluation and the outcome join. Fixed seeds throughout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import TRUTH_PREFIX
from features.simulation.behavior import SimConfig, simulate
from features.simulation.campaigns import TREATMENTS, campaign_log, decision_times
from training.ope import evaluate, one_hot, uplift_curve
from training.outcomes import join_outcomes
from training.policy_eval import LEARNED, RANDOM, train_response
from training.response import LogError, LogSpec, prepare_log

SPEC = LogSpec(treatment="treatment", outcome="reward", propensity="propensity")


@pytest.fixture(scope="module")
def campaign() -> pd.DataFrame:
    ds = simulate(SimConfig(customers=3000, days=182, seed=7))
    return campaign_log(ds, decision_times(ds, 10), seed=0)


@pytest.fixture(scope="module")
def trained(campaign: pd.DataFrame):
    return train_response(campaign, SPEC, n_boot=300)


def test_campaign_log_is_randomized_with_known_effects(campaign: pd.DataFrame) -> None:
    share = campaign["treatment"].value_counts(normalize=True)
    for t, p in campaign.groupby("treatment")["propensity"].first().items():
        assert share[t] == pytest.approx(p, abs=0.02)  # drawn with the logged propensity
    truth = campaign[[TRUTH_PREFIX + t for t in TREATMENTS]].to_numpy()
    best = truth.argmax(axis=1)
    # heterogeneous effects: no single treatment is best for everyone, and sending nothing is
    # best for a real share (buy anyway, or annoyed into unsubscribing)
    shares = np.bincount(best, minlength=len(TREATMENTS)) / len(best)
    assert shares.max() < 0.7 and shares[0] > 0.1
    # the sampled outcomes follow the truth: observed mean reward per arm near the exact mean
    for j, t in enumerate(TREATMENTS):
        arm = campaign["treatment"] == t
        assert campaign.loc[arm, "reward"].mean() == pytest.approx(truth[arm, j].mean(),
                                                                   rel=0.1)


@pytest.mark.slow
def test_learned_policy_beats_every_single_treatment_and_random(trained) -> None:
    _, report = trained
    truth = report.truth
    singles = {t: truth[t] for t in TREATMENTS}
    assert truth[LEARNED] > max(singles.values()) + 0.1, truth
    assert truth[LEARNED] > truth[RANDOM] + 0.5
    assert truth[LEARNED] < truth["oracle"]


@pytest.mark.slow
def test_off_policy_intervals_contain_the_true_values(trained) -> None:
    _, report = trained
    for policy, est in report.estimates.items():
        for name, e in est.items():
            assert e.contains(report.truth[policy]), (policy, name, e, report.truth[policy])
            assert e.high - e.low < 2.5  # informative, not trivially wide


@pytest.mark.slow
def test_uplift_ranking_beats_random_targeting(trained) -> None:
    _, report = trained
    for t in TREATMENTS[1:]:
        assert report.curves[t].qini_coefficient > 0.05, (t, report.curves[t])


@pytest.mark.slow
def test_result_is_ready_for_mlflow(trained) -> None:
    result, _ = trained
    ok, why = result.beats_baselines()
    assert ok, why
    assert {"test_snips_value", "test_dr_value", "test_baseline_email_20_snips_value",
            "test_baseline_random_dr_value", "test_qini_email"} <= set(result.metrics)
    pred = result.model.predict_frame(result.input_example)
    assert {"expected_none", "uplift_email_10", "best_treatment"} <= set(pred.columns)


# ------------------------------------------------------------------------ estimators
def test_estimators_on_a_bandit_with_known_values() -> None:
    rng = np.random.default_rng(3)
    n, k = 20_000, 3
    x = rng.random(n)
    mean = np.column_stack([x, 1 - x, np.full(n, 0.45)])  # best arm depends on x
    prop = np.array([0.5, 0.3, 0.2])
    logged = rng.choice(k, n, p=prop)
    reward = rng.normal(mean[np.arange(n), logged], 0.2)
    target = one_hot(np.where(x > 0.5, 0, 1), k)
    true = float((target * mean).sum(axis=1).mean())
    est = evaluate(target, logged, prop[logged], reward, mu=mean, n_boot=200)
    for name in ("ips", "snips", "dr"):
        assert est[name].contains(true), (name, est[name], true)
    # DR with a perfect reward model is much tighter than IPS
    assert est["dr"].high - est["dr"].low < 0.6 * (est["ips"].high - est["ips"].low)
    # a wrong policy is estimated lower than the right one
    wrong = evaluate(one_hot(np.where(x > 0.5, 1, 0), k), logged, prop[logged], reward,
                     mu=mean, n_boot=50)
    assert wrong["snips"].high < est["snips"].low


def test_qini_of_a_perfect_ranking_is_positive_and_random_is_not() -> None:
    rng = np.random.default_rng(5)
    n = 10_000
    effect = rng.random(n) < 0.3  # 30% respond only when treated
    treated = rng.random(n) < 0.5
    y = (treated & effect).astype(float)
    perfect = uplift_curve(effect.astype(float) + rng.random(n) * 0.01, treated, y)
    random = uplift_curve(rng.random(n), treated, y)
    assert perfect.qini_coefficient > 0.05
    assert abs(random.qini_coefficient) < 0.02
    assert perfect.qini[-1] == pytest.approx(0.15, abs=0.02)  # overall uplift x treated share


# ------------------------------------------------------------------------ bad logs
@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.drop(columns=["treatment"]), "treatment column 'treatment' not in the log"),
    (lambda d: d.assign(reward="lots"), "outcome column 'reward' must be numeric"),
    (lambda d: d.assign(propensity=0.0), "propensity column 'propensity' must be numbers"),
    (lambda d: d.assign(treatment="email"), "control treatment 'none' never appears"),
    (lambda d: d.assign(treatment=None), "has 4 empty values"),
])
def test_bad_logs_are_named_errors(change, message: str) -> None:
    log = pd.DataFrame({"customer_id": list("abcd"), "treatment": ["none", "email"] * 2,
                        "propensity": 0.5, "reward": [0.0, 1.0, 2.0, 0.0], "x": [1, 2, 3, 4]})
    prepare_log(log, SPEC)  # the unchanged log is fine
    with pytest.raises(LogError, match=message.replace("(", r"\(")):
        prepare_log(change(log), SPEC)
    with pytest.raises(LogError, match="feature column\\(s\\) 'nope' not in the log"):
        prepare_log(log, LogSpec("treatment", "reward", features=("x", "nope")))


# ------------------------------------------------------------------------ outcome join
def test_outcomes_join_decisions_to_what_followed() -> None:
    t0 = pd.Timestamp("2026-03-01 10:00", tz="UTC")
    decisions = pd.DataFrame([
        {"decision_id": "d1", "customer_id": "c1", "decided_at": t0.isoformat(),
         "action": "cart_abandonment", "offer": {"type": "percent_off", "value": 10.0},
         "propensity": 0.8, "control_group": False, "reasons": [],
         "inputs": {"cart_open": 1, "purchases_90d": 2}, "scores": {"intent": 0.3}},
        {"decision_id": "d2", "customer_id": "c2", "decided_at": t0.isoformat(),
         "action": "none", "offer": {"type": "none", "value": 0}, "propensity": 1.0,
         "control_group": True, "reasons": ["control_group_holdout:browse_abandonment"],
         "inputs": {"cart_open": 0}, "scores": {}},
        {"decision_id": "d3", "customer_id": "c1", "decided_at": (t0 + pd.Timedelta(days=9))
         .isoformat(), "action": "browse_abandonment", "offer": {"type": "none"},
         "propensity": 1.0, "control_group": False, "reasons": [], "inputs": {}, "scores": {}},
    ])
    ev = pd.DataFrame({
        "customer_id": ["c1", "c1", "c1", "c1", "c2", "c2"],
        "event_type": ["purchase", "email_open", "purchase", "purchase", "purchase",
                       "product_view"],
        "timestamp": [t0 - pd.Timedelta(hours=1), t0 + pd.Timedelta(hours=2),
                      t0 + pd.Timedelta(days=2), t0 + pd.Timedelta(days=8),
                      t0 + pd.Timedelta(days=6, hours=23), t0 + pd.Timedelta(days=10)],
        "price": [99.0, np.nan, 20.0, 50.0, 30.0, np.nan], "quantity": [1, 0, 2, 1, 1, 0],
    })
    out = join_outcomes(decisions, ev, pd.Timedelta(days=7), control_share=0.1)
    assert list(out["decision_id"]) == ["d1", "d2"]  # d3's window is not over yet
    d1, d2 = out.iloc[0], out.iloc[1]
    assert d1["treatment"] == "email_10" and d2["treatment"] == "none"
    # before the decision and after the window do not count
    assert (d1["purchased"], d1["opened"], d1["revenue"]) == (1, 1, 40.0)
    assert (d2["purchased"], d2["revenue"]) == (1, 30.0)
    assert d1["propensity"] == pytest.approx(0.9 * 0.8)  # policy share x policy propensity
    assert d2["propensity"] == pytest.approx(0.1)  # held out: the control share
    assert d1["cart_open"] == 1 and d1["score_intent"] == 0.3
