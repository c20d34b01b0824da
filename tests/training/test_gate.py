"""The honest gate: a model that loses to a baseline on the test period never ships; the
registered bundle scores with that baseline, says so, and can still be promoted."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from training.baselines import customer_base_baselines
from training.binary import MODEL, fit_binary, gate

FEATURES = ["noise", "hours_since_last_purchase", "purchase_days_total", "spend_total",
            "days_since_first_purchase"]


def frame(n: int, seed: int, driver: str) -> pd.DataFrame:
    """Churn labels driven by `driver`: "noise" (a pattern that will not last) or "recency"."""
    rng = np.random.default_rng(seed)
    recency = rng.uniform(1, 200, n)
    noise = rng.normal(0, 1, n)
    z = noise * 2.0 if driver == "noise" else (recency - 100) / 25
    return pd.DataFrame({
        "customer_id": [f"c{seed}_{i}" for i in range(n)], "noise": noise,
        "hours_since_last_purchase": recency * 24, "purchase_days_total": rng.integers(1, 9, n),
        "spend_total": rng.gamma(2, 50, n), "days_since_first_purchase": recency + 30,
        "label": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int),
    })


@pytest.fixture(scope="module")
def trained():
    """Shared by the tests: they gate copies (`dataclasses.replace`), never this model."""
    fit = frame(4000, 1, "noise")
    baselines = customer_base_baselines(label_is_lapse=True, horizon_days=60, cb=None)
    model, _, _ = fit_binary(fit, FEATURES, 60.0, None, baselines)
    return model


def test_a_model_that_beats_the_baselines_ships(trained) -> None:
    scorer, verdict = gate(trained, frame(2000, 2, "noise"))
    assert scorer == MODEL and "beats every baseline" in verdict


def test_churn_never_ships_losing_to_its_baseline(trained) -> None:
    test = frame(2000, 3, "recency")  # the learned pattern does not hold; recency does
    scorer, verdict = gate(trained, test)
    assert scorer == "recency" and "does not beat baseline recency" in verdict
    shipped = replace(trained, scorer=scorer)
    X = test[FEATURES].to_numpy(float)
    cols = {n: test[n].to_numpy(float) for n in shipped.baselines["recency"].inputs}
    np.testing.assert_allclose(shipped.predict_proba(X),
                               shipped.baselines["recency"].predict_proba(cols))
    assert not np.allclose(shipped.predict_proba(X), shipped.predict_model(X))
    assert trained.scorer == MODEL


def test_registered_baseline_bundle_is_flagged_and_promotable(trained, tmp_path) -> None:
    from features.settings import Settings
    from training.model_specs import SPECS
    from training.promote import promote
    from training.pyfunc import load_bundle
    from training.result import TrainResult
    from training.tracking import CHAMPION, configure, log_result

    settings = Settings.from_env(env={}, data_dir=tmp_path / "data")
    test = frame(1500, 4, "recency")
    scorer, verdict = gate(trained, test)
    shipped = replace(trained, scorer=scorer)
    y, X = test["label"].to_numpy(), test[FEATURES].to_numpy(float)
    from sklearn.metrics import roc_auc_score

    result = TrainResult(
        name="churn", model=shipped, primary_metric="test_auc",
        metrics={"test_auc": roc_auc_score(y, shipped.predict_model(X)),
                 "test_baseline_recency_auc": roc_auc_score(y, shipped.predict_proba(X))},
        scorer=scorer, verdict=verdict, eval_frame=test, input_example=test[FEATURES].head(3))
    assert result.beats_baselines() == (False, verdict)
    version = log_result(result, settings, {"data_dir": "test"})
    client = configure(settings)
    assert client.get_model_version(SPECS["churn"].registered, version.version).tags["scorer"] == (
        "recency")
    p = promote(client, "churn")
    assert p.promoted and "scores with baseline recency" in p.reason
    champion = load_bundle(f"models:/{SPECS['churn'].registered}@{CHAMPION}")
    np.testing.assert_allclose(champion.predict_frame(test), shipped.predict_proba(X))
    assert trained.scorer == MODEL
