"""Customer-base model BG/NBD (Fader, Hardie & Lee 2005): who is still a customer, and how many
purchases each will make in the next `t` days, from three numbers per customer.

- `x`: repeat purchase days (distinct purchase days - 1),
- `t_x`: days from the first to the last purchase day,
- `T`: days from the first purchase to now.

Closed forms (likelihood, P(alive), expected purchases, P(no purchase in t)) as in pymc-marketing's
`BetaGeoModel` and the legacy `lifetimes` library, fitted by maximum likelihood with scipy.
Why not the library itself: pymc-marketing needs PyMC and PyTensor (790 MB, a C compiler at first
use, 5-15 s of imports) for four numbers that scipy fits in well under a second; the closed forms
are tested against pymc-marketing's own outputs (`tests/fixtures/bgnbd_reference.json`, made by
`tests/fixtures/make_bgnbd_reference.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class BGNBD:
    """Fitted BG/NBD parameters: purchase rates ~ Gamma(r, alpha) per day, drop-out after each
    purchase with probability p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    customers: int = 0  # how many customers the fit saw

    @property
    def params(self) -> tuple[float, float, float, float]:
        return self.r, self.alpha, self.a, self.b

    def log_likelihood(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return _loglik(self.params, *_arrays(x, t_x, T))

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Probability the customer has not dropped out by `T`."""
        r, alpha, a, b = self.params
        x, t_x, T = _arrays(x, t_x, T)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_div = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(
                a / (b + np.maximum(x, 1) - 1))
            return np.where(x == 0, 1.0, expit(-log_div))

    def expected_purchases(self, t: float, x: np.ndarray, t_x: np.ndarray,
                           T: np.ndarray) -> np.ndarray:
        """Expected purchase days in (T, T + t]."""
        r, alpha, a, b = self.params
        x, t_x, T = _arrays(x, t_x, T)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            num = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
                r + x, b + x, a + b + x - 1, t / (alpha + T + t))
            num *= (a + b + x - 1) / (a - 1)
            den = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
            out = num / den
        # a -> 1 makes the closed form 0/0; the limit is finite, so fall back to the P(alive) x
        # Gamma-Poisson mean, which it approaches
        bad = ~np.isfinite(out)
        if bad.any():
            rate = (r + x) / (alpha + T)
            out = np.where(bad, self.p_alive(x, t_x, T) * rate * t, out)
        return out

    def p_no_purchase(self, t: float, x: np.ndarray, t_x: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
        """Probability of no purchase in (T, T + t] (Fader & Hardie 2019, eq. 34)."""
        r, alpha, a, b = self.params
        x, t_x, T = _arrays(x, t_x, T)
        beta_rep = betaln(a, b + x)
        with np.errstate(divide="ignore", invalid="ignore"):
            k_e = np.where(x > 0, betaln(a + 1, np.maximum(b + x - 1, 1e-12))
                           - (r + x) * np.log(alpha + t_x), -np.inf)
        k_f = beta_rep - (r + x) * np.log(alpha + T + t)
        k_m = beta_rep - (r + x) * np.log(alpha + T)
        return np.exp(np.logaddexp(k_e, k_f) - np.logaddexp(k_e, k_m))

    def p_purchase(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Probability of at least one purchase in (T, T + t]."""
        return 1.0 - self.p_no_purchase(t, x, t_x, T)


def _arrays(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.asarray(x, dtype=np.float64), np.asarray(t_x, dtype=np.float64),
            np.asarray(T, dtype=np.float64))


def _loglik(params, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood (Fader, Hardie & Lee 2005, eq. 6, in logs)."""
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                      - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


class FitError(ValueError):
    """Too few customers (or repeat buyers) to fit a customer-base model."""


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, penalizer: float = 0.0,
              max_customers: int = 200_000, seed: int = 0) -> BGNBD:
    """Maximum-likelihood BG/NBD on customers with a first purchase (`T` > 0).

    Parameters are optimized on the log scale (bounded L-BFGS-B, then a short Nelder-Mead
    polish); identical
    (x, t_x, T) rows are fitted once with a weight, and very large bases are subsampled to
    `max_customers` (the four parameters are population averages).
    """
    x, t_x, T = _arrays(x, t_x, T)
    ok = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T) & (T > 0) & (x >= 0)
    x, t_x, T = x[ok], np.clip(t_x[ok], 0, None), T[ok]
    t_x = np.minimum(t_x, T)
    if len(x) < 20 or (x > 0).sum() < 5:
        raise FitError(f"BG/NBD needs at least 20 customers and 5 repeat buyers, got {len(x)} "
                       f"and {int((x > 0).sum())}")
    if len(x) > max_customers:
        keep = np.random.default_rng(seed).choice(len(x), max_customers, replace=False)
        x, t_x, T = x[keep], t_x[keep], T[keep]
    # identical customers (common with whole days) are one weighted row
    rows, weight = np.unique(np.column_stack([x, np.round(t_x, 3), np.round(T, 3)]), axis=0,
                             return_counts=True)
    ux, utx, uT = rows[:, 0], rows[:, 1], rows[:, 2]
    w = weight.astype(np.float64)
    total = w.sum()

    def nll(log_params: np.ndarray) -> float:
        params = np.exp(log_params)
        ll = (w * _loglik(params, ux, utx, uT)).sum() / total
        value = -ll + penalizer * float((params ** 2).sum())
        return value if np.isfinite(value) else 1e100

    start = np.log([1.0, max(float(np.mean(T)), 1.0), 1.0, 1.0])
    bounds = [(-12.0, 12.0)] * 4  # keeps degenerate fits (a, b -> 0 or inf) finite
    res = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    polish = minimize(nll, res.x, method="Nelder-Mead",
                      options={"maxiter": 400, "xatol": 1e-7, "fatol": 1e-12})
    best = polish.x if polish.fun <= res.fun else res.x
    r, alpha, a, b = (float(v) for v in np.exp(best))
    return BGNBD(r, alpha, a, b, customers=int(total))
