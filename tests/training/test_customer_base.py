"""BG/NBD closed forms and fit against pymc-marketing's numbers (tests/fixtures/
bgnbd_reference.json, made by tests/fixtures/make_bgnbd_reference.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import FIXTURES
from training.customer_base import BGNBD, FitError, fit_bgnbd


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((FIXTURES / "bgnbd_reference.json").read_text())


@pytest.fixture(scope="module")
def customers(ref: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = ref["customers"]
    return (np.array(c["frequency"], float), np.array(c["recency"], float),
            np.array(c["T"], float))


def test_closed_forms_equal_pymc_marketing(ref: dict, customers) -> None:
    x, t_x, T = customers
    m = BGNBD(**ref["params"])
    h = ref["horizon_days"]
    fixed = ref["fixed_params"]
    np.testing.assert_allclose(m.expected_purchases(h, x, t_x, T), fixed["expected_purchases"],
                               rtol=1e-9)
    np.testing.assert_allclose(m.p_alive(x, t_x, T), fixed["p_alive"], rtol=1e-9)
    repeat = x > 0
    np.testing.assert_allclose(m.p_no_purchase(h, x, t_x, T)[repeat],
                               np.array(fixed["p_no_purchase"])[repeat], rtol=1e-9)


def test_no_repeat_purchase_case_by_simulation(ref: dict, customers) -> None:
    """For x = 0, pymc-marketing 0.19.2 keeps the drop-out term of repeat buyers in P(no purchase
    in t) (BG/NBD drops out only after a repeat purchase), so that case is checked against a
    Monte Carlo of the model itself instead."""
    x, t_x, T = customers
    m = BGNBD(**ref["params"])
    i = int(np.flatnonzero(x == 0)[0])
    rng = np.random.default_rng(0)
    lam = rng.gamma(m.r, 1 / m.alpha, 2_000_000)
    first_gap = rng.exponential(1 / lam)
    quiet = first_gap > T[i]  # no repeat purchase by T (alive: no purchase, no drop-out chance)
    mc = float((first_gap[quiet] > T[i] + 90).mean())
    assert m.p_no_purchase(90, x[i:i + 1], t_x[i:i + 1], T[i:i + 1])[0] == pytest.approx(
        mc, abs=0.003)


def test_maximum_likelihood_equals_the_map_fit_with_flat_priors(ref: dict, customers) -> None:
    fit = fit_bgnbd(*customers)
    for k, v in ref["map_flat_priors"].items():
        assert getattr(fit, k) == pytest.approx(v, rel=2e-3), k
    # and the fit is a maximum: nudging any parameter lowers the likelihood
    best = fit.log_likelihood(*customers).sum()
    for k in ("r", "alpha", "a", "b"):
        params = dict(zip(("r", "alpha", "a", "b"), fit.params, strict=True))
        params[k] *= 1.05
        assert BGNBD(**params).log_likelihood(*customers).sum() < best


def test_predictions_behave() -> None:
    m = BGNBD(0.8, 60.0, 0.5, 3.0)
    T = np.full(3, 100.0)
    x, t_x = np.array([5.0, 5.0, 0.0]), np.array([95.0, 20.0, 0.0])
    alive = m.p_alive(x, t_x, T)
    assert alive[0] > alive[1] and alive[2] == 1.0  # a recent buyer is more likely alive
    assert (np.diff(m.expected_purchases(np.array([30.0, 60.0, 90.0]), x[:1], t_x[:1],
                                         T[:1])) > 0).all()
    p = m.p_purchase(90, x, t_x, T)
    assert ((p > 0) & (p < 1)).all() and p[0] > p[1]


def test_too_few_customers_is_a_clear_error() -> None:
    with pytest.raises(FitError, match="at least 20 customers"):
        fit_bgnbd(np.zeros(5), np.zeros(5), np.ones(5))
