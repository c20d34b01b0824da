"""Meta-learners for small treatment effects, cross-fitted, and the policy chosen among them.

Rows are cut into folds of customers. For each fold, models fitted on the other folds (with one
of them held out for early stopping) predict the fold, so every training row gets out-of-fold
(OOF) predictions from models that never saw its customer:

- outcome models mu_k(x) = E[net | x, treatment k] (one LightGBM per treatment): the T-learner,
  and the reward model of every doubly robust (DR) value below;
- S-learner: one LightGBM over the features plus the treatment (weighted by 1/propensity);
- X-learner (Kuenzel et al. 2019): per treatment, the imputed effects y - mu_0(x) on treated
  rows and mu_k(x) - y on control rows, each regressed on x, mixed by the arms' shares;
- DR-learner (Kennedy 2020): the doubly robust pseudo-outcome
  mu_k - mu_0 + [A=k]/e (y - mu_k) - [A=0]/e (y - mu_0), regressed on x.
X and DR regressions come at two granularities (leaves of at least 1% or 5% of the rows):
effects are a fraction of the outcome's noise, and coarse segments often generalize best.

The policy starts from the best single treatment (largest OOF DR value when everyone gets it;
the control unless a treatment for everyone is a confident gain over it) and gives another
treatment only where a learner's predicted gain over it exceeds a threshold.
Learner and threshold are chosen by OOF DR policy value; the chosen policy is kept only if its
OOF gain over the best single treatment is confident (one-sided 95% bound above zero), else the
model sends everyone the best single treatment. Why not causalml: docs/uplift.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

from training import lgbm_predict
from training.response import LogData, ResponseModel, _average, fold_of, linear_terms

OUTCOME_PARAMS = {
    "objective": "regression", "learning_rate": 0.05, "num_leaves": 16, "lambda_l2": 10.0,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1,
    "num_threads": 2, "deterministic": True,
}
GRANULARITY = {"": (8, 0.01), "_coarse": (4, 0.05)}  # suffix -> (leaves, min leaf share)
LEARNERS = ("s", "t", "x", "x_coarse", "dr", "dr_coarse")  # and "ensemble", their mean
MAX_ROUNDS, EARLY_STOP = 1000, 50
FOLDS, FOLDS_BIG, BIG_ROWS = 5, 3, 200_000
GAIN_QUANTILES = (0.0, 0.25, 0.5, 0.75)  # thresholds: quantiles of the positive predicted gains
CONFIDENCE_Z = 1.645  # one-sided 95%


@dataclass
class ArmOf:
    """An S-learner's booster evaluated with every row given treatment `arm` of `k`."""

    booster: lgb.Booster
    arm: int
    k: int

    def predict(self, X: np.ndarray) -> np.ndarray:
        onehot = np.zeros((len(X), self.k))
        onehot[:, self.arm] = 1.0
        return lgbm_predict.predict(self.booster, np.hstack([X, onehot]))


@dataclass
class NetOf:
    """A probability model of a binary outcome turned into net value for one treatment:
    value x p x (1 - revenue share) - fixed cost."""

    model: object
    value: float
    share: float = 0.0
    fixed: float = 0.0

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.value * _average([self.model], X) * (1 - self.share) - self.fixed


@dataclass
class Difference:
    """plus(x) - minus(x): a gain from two outcome models."""

    plus: object
    minus: object

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _average([self.plus], X) - _average([self.minus], X)

    def linear_terms(self, weight: float) -> list | None:
        plus, minus = linear_terms(self.plus, weight), linear_terms(self.minus, -weight)
        return None if plus is None or minus is None else plus + minus


@dataclass
class Mix:
    """The X-learner's effect: g * tau_control(x) + (1 - g) * tau_treated(x)."""

    on_control: lgb.Booster
    on_treated: lgb.Booster
    g: float

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.g * lgbm_predict.predict(self.on_control, X)
                + (1 - self.g) * lgbm_predict.predict(self.on_treated, X))

    def linear_terms(self, weight: float) -> list | None:
        on_c = linear_terms(self.on_control, weight * self.g)
        on_t = linear_terms(self.on_treated, weight * (1 - self.g))
        return None if on_c is None or on_t is None else on_c + on_t


@dataclass
class Candidate:
    name: str
    oof: np.ndarray  # [rows, treatments] OOF expected net value
    control_models: list = field(default_factory=list)
    uplift_models: dict[str, list] = field(default_factory=dict)


def _params(rows: int, leaves: int = 16, min_share: float = 0.005, seed: int = 7) -> dict:
    return {**OUTCOME_PARAMS, "num_leaves": leaves, "seed": seed,
            "min_data_in_leaf": max(20, int(min_share * rows))}


def _binary(params: dict) -> dict:
    return {**params, "objective": "binary"}


def _boost(X, y, w, rows, params, categorical, stop: np.ndarray) -> lgb.Booster:
    """LightGBM on `rows`, early-stopped on the `stop` share of them (a fixed random split by
    customer, so a customer's rows are on one side)."""
    train, valid = rows & ~stop, rows & stop
    dtrain = lgb.Dataset(X[train], y[train], weight=None if w is None else w[train],
                         categorical_feature=categorical or "auto", free_raw_data=False)
    dval = lgb.Dataset(X[valid], y[valid], weight=None if w is None else w[valid],
                       reference=dtrain)
    return lgb.train(params, dtrain, num_boost_round=MAX_ROUNDS, valid_sets=[dval],
                     callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])


@dataclass
class Fitted:
    """Every candidate learner fitted with cross-fitting on the training rows."""

    candidates: dict[str, Candidate]
    mu: np.ndarray  # [rows, treatments] OOF outcome models (the DR reward model)
    y: np.ndarray
    logged: np.ndarray
    propensity: np.ndarray
    groups: np.ndarray
    folds: int


def fit_candidates(data: LogData, rows: np.ndarray, group: str | None,
                   learners: tuple[str, ...] = LEARNERS, seed: int = 7) -> Fitted:
    """Cross-fit the outcome models and each learner in `learners` on `rows` (a mask).

    Outcome models are fitted once per pair of folds {f, g}, on the other folds. A row of fold
    f gets its out-of-fold outcome predictions from the pairs containing f, and the X- and
    DR-learners' fold-f models learn from targets built with the pair models that never saw
    fold f either: a row's own outcome never reaches its out-of-fold prediction, even through
    the first stage (which otherwise flatters two-stage learners at selection)."""
    idx = np.flatnonzero(rows)
    frame = data.frame.loc[idx].reset_index(drop=True)
    X = data.encoder.matrix(frame)
    y, a, e = data.net[idx], data.logged[idx], data.propensity[idx]
    k = len(data.treatments)
    n = len(idx)
    n_folds = FOLDS if n <= BIG_ROWS else FOLDS_BIG
    fold = fold_of(frame, group, n_folds, seed)
    stop = fold_of(frame, group, 7, seed + 1) == 0  # early-stopping share, by customer
    groups = (frame[group].astype(str).to_numpy() if group and group in frame.columns
              else np.arange(n).astype(str))
    cat = data.encoder.categorical
    # A binary outcome (bought or not) is modelled as a probability (log loss suits rare events
    # better than squared error), then turned into each treatment's net value.
    raw = data.outcome[idx]
    binary = bool(np.isin(raw, (0.0, 1.0)).all())
    costs = data.costs
    names = data.treatments

    def as_net(model, j: int):
        t = names[j]
        return NetOf(model, costs.value, costs.share.get(t, 0.0), costs.fixed.get(t, 0.0))

    pairs = [(f, g) for f in range(n_folds) for g in range(f + 1, n_folds)]
    pair_models: dict[tuple[int, int], list] = {}
    for f, g in pairs:
        outside = (fold != f) & (fold != g)
        models = []
        for j in range(k):
            arm = outside & (a == j)
            params = _params(int(arm.sum()), seed=seed + f * n_folds + g)
            if binary:
                models.append(as_net(_boost(X, raw, None, arm, _binary(params), cat, stop), j))
            else:
                models.append(_boost(X, y, None, arm, params, cat, stop))
        pair_models[(f, g)] = models

    def nuisance(f: int, g: int, rows_: np.ndarray) -> np.ndarray:
        """[rows, treatments] outcome predictions by the models that saw neither f nor g."""
        models = pair_models[(min(f, g), max(f, g))]
        return np.column_stack([_average([m], X[rows_]) for m in models])

    mu = np.zeros((n, k))
    for f in range(n_folds):
        pred = fold == f
        mu[pred] = np.mean([nuisance(f, g, pred) for g in range(n_folds) if g != f], axis=0)
    cands: dict[str, Candidate] = {}
    all_pairs = [pair_models[p] for p in pairs]
    if "t" in learners:
        cands["t"] = Candidate("t", mu.copy(), [m[0] for m in all_pairs], {
            t: [Difference(m[j], m[0]) for m in all_pairs] for j, t in enumerate(names) if j})
    if "s" in learners:
        cands["s"] = _s_learner(X, raw if binary else y, a, e, fold, n_folds, k, names, cat,
                                seed, stop, as_net if binary else None)
    for name in learners:
        if name.startswith(("x", "dr")):
            kind = name.split("_", 1)[0]
            leaves, share = GRANULARITY[name[len(kind):]]
            cands[name] = _effect_learner(kind, name, X, y, a, e, mu, fold, n_folds, names,
                                          [m[0] for m in all_pairs], nuisance, cat, leaves,
                                          share, seed, stop)
    if len(cands) > 1:
        cands["ensemble"] = _ensemble(list(cands.values()), names)
    return Fitted(cands, mu, y, a, e, groups, n_folds)


def _ensemble(cands: list[Candidate], names: list[str]) -> Candidate:
    """The mean of every learner's predictions: learners err in different ways on small
    effects, and their average has less variance than any of them."""
    def flat(models: list, share: int) -> list:
        return [m for m in models for _ in range(share)]

    # every learner weighs the same, whatever its number of fold models
    size = int(np.lcm.reduce([len(c.control_models) for c in cands]))
    return Candidate("ensemble", np.mean([c.oof for c in cands], axis=0),
                     [m for c in cands for m in flat(c.control_models,
                                                     size // len(c.control_models))],
                     {t: [m for c in cands for m in flat(c.uplift_models[t],
                                                         size // len(c.uplift_models[t]))]
                      for t in names[1:]})


def _s_learner(X, y, a, e, fold, n_folds, k, names, cat, seed, stop, as_net=None) -> Candidate:
    """One model over the features and the treatment; `as_net` turns a probability model of a
    binary outcome into net value."""
    oof = np.zeros((len(y), k))
    models: list[lgb.Booster] = []
    XS = np.hstack([X, np.eye(k)[a]])
    for f in range(n_folds):
        params = _params(len(y), seed=seed + f)
        models.append(_boost(XS, y, 1.0 / e, fold != f, _binary(params) if as_net else params,
                             cat, stop))

    def arm(m, j):
        return as_net(ArmOf(m, j, k), j) if as_net else ArmOf(m, j, k)

    for f, m in enumerate(models):
        pred = fold == f
        for j in range(k):
            oof[pred, j] = arm(m, j).predict(X[pred])
    return Candidate("s", oof, [arm(m, 0) for m in models], {
        t: [Difference(arm(m, j), arm(m, 0)) for m in models]
        for j, t in enumerate(names) if j})


def _effect_learner(kind, name, X, y, a, e, mu, fold, n_folds, names, control_models,
                    nuisance, cat, leaves, share, seed, stop) -> Candidate:
    """X- or DR-learner: per treatment an effect model over x; E[net] = mu_0 + effect. The
    fold-f model's targets use outcome models that never saw fold f."""
    n, k = mu.shape
    oof = np.zeros((n, k))
    oof[:, 0] = mu[:, 0]
    uplift: dict[str, list] = {}
    targets = []  # per fold: outcome predictions for every row outside it
    for f in range(n_folds):
        m_f = np.full((n, k), np.nan)
        for g in range(n_folds):
            if g != f:
                m_f[fold == g] = nuisance(f, g, fold == g)
        targets.append(m_f)
    for j in range(1, k):
        pair = (a == 0) | (a == j)
        params = _params(int(pair.sum()), leaves, share, seed)
        g_share = float((a == j).sum() / max(pair.sum(), 1))  # share treated among the pair
        models = []
        for f in range(n_folds):
            fit, m_f = fold != f, targets[f]
            if kind == "dr":
                phi = (m_f[:, j] - m_f[:, 0] + (a == j) / e * (y - m_f[:, j])
                       - (a == 0) / e * (y - m_f[:, 0]))
                model = _boost(X, phi, None, fit, params, cat, stop)
            else:
                d1, d0 = y - m_f[:, 0], m_f[:, j] - y
                model = Mix(_boost(X, d0, None, fit & (a == 0), params, cat, stop),
                            _boost(X, d1, None, fit & (a == j), params, cat, stop), g_share)
            models.append(model)
            pred = fold == f
            oof[pred, j] = mu[pred, 0] + _average([model], X[pred])
        uplift[names[j]] = models
    return Candidate(name, oof, list(control_models), uplift)


def dr_contributions(mu: np.ndarray, y: np.ndarray, logged: np.ndarray, propensity: np.ndarray,
                     choice: np.ndarray) -> np.ndarray:
    """Per-row doubly robust value of a deterministic policy (`choice` per row)."""
    rows = np.arange(len(y))
    hit = logged == choice
    return mu[rows, choice] + hit / propensity * (y - mu[rows, choice])


@dataclass
class Selection:
    learner: str
    threshold: float
    best_single: str
    confident: bool
    gain: float  # OOF DR value gain of the chosen policy over the best single treatment
    gain_low: float  # its one-sided 95% lower bound
    values: dict[str, float]  # "learner@quantile" and "single:<t>" -> OOF DR value per row
    reason: str
    thresholds: dict[str, float] = field(default_factory=dict)  # each learner's best one


def _group_se(diff: np.ndarray, groups: np.ndarray) -> float:
    codes = np.unique(groups, return_inverse=True)[1]
    sums = np.bincount(codes, weights=diff)
    g = len(sums)
    return float(np.sqrt(g * sums.var()) / len(diff)) if g > 1 else float("inf")


def select(fitted: Fitted, treatments: list[str]) -> Selection:
    """Best single treatment, then the learner and threshold with the largest OOF DR value;
    kept only if its gain over the best single treatment is confident."""
    mu, y, a, e = fitted.mu, fitted.y, fitted.logged, fitted.propensity
    n, k = mu.shape
    singles = {j: dr_contributions(mu, y, a, e, np.full(n, j)) for j in range(k)}
    values = {f"single:{treatments[j]}": float(v.mean()) for j, v in singles.items()}
    b = max(singles, key=lambda j: singles[j].mean())
    note = ""
    if b != 0:  # the control is the default: a treatment for everyone must be a confident gain
        diff = singles[b] - singles[0]
        low = float(diff.mean() - CONFIDENCE_Z * _group_se(diff, fitted.groups))
        if low <= 0:
            note = (f" ({treatments[b]} for everyone is not confidently better than "
                    f"{treatments[0]}: 95% lower bound {low:+.4g})")
            b = 0
    best = (float(singles[b].mean()), None, float("inf"))
    thresholds: dict[str, float] = {}
    for name, cand in fitted.candidates.items():
        gain = cand.oof.max(axis=1) - cand.oof[:, b]
        positive = gain[gain > 0]
        own = (-np.inf, float("inf"))
        for q in GAIN_QUANTILES:
            delta = float(np.quantile(positive, q)) if len(positive) and q > 0 else 0.0
            choice = np.where(gain > delta, cand.oof.argmax(axis=1), b)
            v = float(dr_contributions(mu, y, a, e, choice).mean())
            values[f"{name}@q{q:g}"] = v
            own = max(own, (v, delta))
            if v > best[0]:
                best = (v, name, delta)
        thresholds[name] = own[1]
    base = singles[b].mean()
    if best[1] is None:
        return Selection(next(iter(fitted.candidates)), float("inf"), treatments[b], False, 0.0,
                         0.0, values, f"no learner's policy beats {treatments[b]} for everyone "
                         f"out of fold{note}", thresholds)
    cand = fitted.candidates[best[1]]
    gain = cand.oof.max(axis=1) - cand.oof[:, b]
    choice = np.where(gain > best[2], cand.oof.argmax(axis=1), b)
    diff = dr_contributions(mu, y, a, e, choice) - singles[b]
    se = _group_se(diff, fitted.groups)
    low = float(diff.mean() - CONFIDENCE_Z * se)
    if low <= 0:
        return Selection(best[1], float("inf"), treatments[b], False, float(best[0] - base), low,
                         values, f"{best[1]}'s policy gains {best[0] - base:+.4g} per row over "
                         f"{treatments[b]} for everyone out of fold, not confidently (95% lower "
                         f"bound {low:+.4g}): everyone gets {treatments[b]}{note}", thresholds)
    return Selection(best[1], best[2], treatments[b], True, float(best[0] - base), low, values,
                     f"{best[1]} (gain threshold {best[2]:.4g}) gains {best[0] - base:+.4g} per "
                     f"row over {treatments[b]} for everyone out of fold (95% lower bound "
                     f"{low:+.4g}){note}", thresholds)


def build_model(data: LogData, fitted: Fitted, sel: Selection, outcome: str) -> ResponseModel:
    cand = fitted.candidates[sel.learner]
    means = {t: float(np.average(fitted.y[fitted.logged == j],
                                 weights=1 / fitted.propensity[fitted.logged == j]))
             if (fitted.logged == j).any() else 0.0 for j, t in enumerate(data.treatments)}
    return ResponseModel(treatments=list(data.treatments), encoder=data.encoder,
                         outcome=outcome, learner=sel.learner,
                         control_models=cand.control_models, uplift_models=cand.uplift_models,
                         best_single=sel.best_single, threshold=sel.threshold,
                         costs=data.costs, means=means)
