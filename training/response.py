"""Campaign logs for response (uplift) models: columns, costs, features that cannot leak, and
the model bundle serving loads.

A log is one row per customer and decision: the treatment taken, its propensity (uniform when
absent), an outcome measured after it, and pre-treatment features. The model learns the
expected **net value** of every treatment (outcome x value, minus the treatment's costs) and
a policy that leaves the best single treatment only where a gain is confident
(training/uplift_learners.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.feature_rows import column
from features.transforms import RESPONSE_FEATURES
from training import lgbm_predict
from training.serving_cache import ServingCache

# Never features by default: outcomes recorded next to the chosen one would leak it.
OUTCOME_COLUMNS = frozenset({"opened", "clicked", "purchased", "unsubscribed", "revenue",
                             "reward", "converted", "outcome", "propensity"})
# Whole column names (lower case, letters and digits only) that say "measured after": a
# foreign log's `visit` or `conversion` is never a default feature.
OUTCOME_NAMES = frozenset({
    "visit", "visits", "visited", "conversion", "conversions", "converted", "convert", "spend",
    "spent", "revenue", "sales", "purchase", "purchased", "purchases", "buy", "bought", "order",
    "ordered", "click", "clicked", "clicks", "open", "opened", "opens", "unsubscribe",
    "unsubscribed", "churn", "churned", "response", "responded", "outcome", "reward", "profit",
    "label", "target", "y", "result", "success", "redeemed", "redemption", "propensity",
    "pscore", "propensityscore"})
BALANCE_SMD = 0.1  # a standardized mean difference between arms above this ...
BALANCE_Z = 4.0  # ... and this far from zero marks a column as measured after the treatment
MAX_CATEGORIES = 200  # more frequent levels kept per text column; the rest share one code


class LogError(ValueError):
    """A campaign log that cannot be used as given (message names the column and problem)."""


@dataclass(frozen=True)
class Costs:
    """What a treatment costs, in the outcome's money: a fixed amount per send plus a share of
    the revenue it brings (a discount). `value` turns one unit of outcome into money (a
    purchase worth 10). Net value of a row = value x outcome x (1 - share) - fixed."""

    fixed: dict[str, float] = field(default_factory=dict)
    share: dict[str, float] = field(default_factory=dict)
    value: float = 1.0

    @staticmethod
    def parse(text: str | None, value: float = 1.0) -> Costs:
        """`email=0.10,email_10=0.10+10%`: per treatment a fixed cost and/or a percentage of
        revenue (`10%` alone, `0.1+10%`, `0.25`)."""
        fixed: dict[str, float] = {}
        share: dict[str, float] = {}
        for part in (text or "").split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise LogError(f"--cost {part.strip()!r}: expected treatment=cost, e.g. "
                               "email=0.10 or email_10=0.10+10%")
            name, spec = (p.strip() for p in part.rsplit("=", 1))
            for term in filter(None, (t.strip() for t in spec.split("+"))):
                m = re.fullmatch(r"(\d+(?:\.\d+)?)(%?)", term)
                if not m:
                    raise LogError(f"--cost {name}={spec}: {term!r} is not a number or a "
                                   "percentage")
                if m.group(2):
                    share[name] = share.get(name, 0.0) + float(m.group(1)) / 100
                else:
                    fixed[name] = fixed.get(name, 0.0) + float(m.group(1))
        if any(v >= 1 for v in share.values()):
            raise LogError("--cost: a revenue share must be below 100%")
        if value <= 0:
            raise LogError(f"--value {value}: must be positive")
        return Costs(fixed, share, value)

    def net(self, outcome: np.ndarray, treatments: np.ndarray) -> np.ndarray:
        """Net value per row given its treatment name."""
        t = pd.Series(treatments, dtype=object)
        share = t.map(self.share).fillna(0.0).to_numpy(dtype=float)
        fixed = t.map(self.fixed).fillna(0.0).to_numpy(dtype=float)
        return self.value * np.asarray(outcome, dtype=float) * (1 - share) - fixed

    def check(self, treatments: list[str]) -> None:
        unknown = sorted((set(self.fixed) | set(self.share)) - set(treatments))
        if unknown:
            raise LogError(f"--cost names treatment(s) {', '.join(map(repr, unknown))} not in "
                           f"the log (treatments: {', '.join(treatments)})")

    def describe(self) -> str:
        parts = [f"{t}={self.fixed.get(t, 0):g}" + (f"+{self.share[t]:.0%}" if t in self.share
                                                     else "")
                 for t in sorted(set(self.fixed) | set(self.share))]
        return (", ".join(parts) or "none") + (f"; outcome value {self.value:g}"
                                               if self.value != 1 else "")


@dataclass(frozen=True)
class LogSpec:
    """Which columns of a campaign log hold what."""

    treatment: str
    outcome: str
    propensity: str | None = None  # None: uniform over the treatments seen
    features: tuple[str, ...] | None = None  # None: chosen by `default_features`
    control: str = "none"
    group: str | None = "customer_id"  # rows of one customer stay on one side of the split
    costs: Costs = field(default_factory=Costs)


@dataclass
class FeatureEncoder:
    """Feature columns to a float matrix: numbers and booleans as they are, text as integer
    codes of the categories seen in training (LightGBM treats those as categorical; unknown
    levels are missing). It travels with the model, so serving encodes the same way."""

    names: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @staticmethod
    def fit(df: pd.DataFrame, names: list[str]) -> FeatureEncoder:
        cats = {}
        for c in names:
            if _is_text(df[c]):
                counts = df[c].astype(str).value_counts()
                cats[c] = sorted(counts.index[:MAX_CATEGORIES].tolist())
        return FeatureEncoder(list(names), cats)

    @property
    def categorical(self) -> list[int]:
        return [i for i, n in enumerate(self.names) if n in self.categories]

    def matrix(self, df: pd.DataFrame) -> np.ndarray:
        cols = []
        for c in self.names:
            if c in self.categories:
                codes = pd.Categorical(df[c].astype(str).where(df[c].notna()),
                                       categories=self.categories[c]).codes.astype(float)
                cols.append(np.where(codes < 0, np.nan, codes))
            else:
                cols.append(pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64))
        return np.column_stack(cols) if cols else np.zeros((len(df), 0))

    def row_matrix(self, rows: list[dict]) -> np.ndarray:
        """The same from feature dicts (serving), a column at a time: text mapped to codes,
        numbers as floats, missing or unreadable values as NaN."""
        index = {c: {v: float(i) for i, v in enumerate(cats)}
                 for c, cats in self.categories.items()}
        out = np.full((len(rows), len(self.names)), np.nan)
        for j, c in enumerate(self.names):
            values = column(rows, c)
            if c in index:
                codes = index[c]
                out[:, j] = [np.nan if v is None else codes.get(str(v), np.nan) for v in values]
            else:
                out[:, j] = _floats(values)
        return out


def _floats(values: list) -> np.ndarray | list[float]:
    """Values as floats, None (or one that is not a number) as NaN."""
    try:
        floats = np.array(values, dtype=np.float64)  # None is NaN here
        if floats.ndim == 1:  # not lists that happen to have one length
            return floats
    except (TypeError, ValueError):
        pass
    out = []
    for v in values:
        try:
            out.append(np.nan if v is None else float(v))
        except (TypeError, ValueError):
            out.append(np.nan)
    return out


def _is_text(col: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _weighted_smd(x: np.ndarray, arm: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Standardized mean difference between two arms (weights 1/propensity) and its z."""
    ok = np.isfinite(x)
    a, b = ok & arm, ok & ~arm
    if a.sum() < 2 or b.sum() < 2:
        return 0.0, 0.0
    ma, mb = np.average(x[a], weights=w[a]), np.average(x[b], weights=w[b])
    va = np.average((x[a] - ma) ** 2, weights=w[a])
    vb = np.average((x[b] - mb) ** 2, weights=w[b])
    sd = np.sqrt((va + vb) / 2)
    if sd <= 0:
        return 0.0, 0.0
    se = np.sqrt(va / a.sum() + vb / b.sum())
    return float(abs(ma - mb) / sd), float(abs(ma - mb) / se) if se > 0 else 0.0


def imbalance(df: pd.DataFrame, column: str, logged: np.ndarray, propensity: np.ndarray
              ) -> tuple[float, float]:
    """The largest standardized difference of `column` between any arm and the control
    (text columns: over their most frequent levels), weighted by 1 / propensity. Randomization
    balances what was measured before the treatment; an outcome is not balanced."""
    w = 1.0 / propensity
    col = df[column]
    if _is_text(col):
        top = col.astype(str).value_counts().index[:20]
        series = [(col.astype(str) == v).to_numpy(dtype=float) for v in top]
    else:
        series = [pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)]
    worst = (0.0, 0.0)
    for k in np.unique(logged):
        if k == 0:
            continue
        pair = (logged == 0) | (logged == k)
        for x in series:
            smd, z = _weighted_smd(x[pair], logged[pair] == k, w[pair])
            if smd > worst[0]:
                worst = (smd, z)
    return worst


def default_features(df: pd.DataFrame, spec: LogSpec, logged: np.ndarray,
                     propensity: np.ndarray, exclude: tuple[str, ...] = ()
                     ) -> tuple[list[str], dict[str, str]]:
    """Features of a log when none are named: the online policy's features for our own
    decision logs; for any other log every column except the named roles, outcome names,
    identifiers and columns whose distribution differs between arms. Returns the features and
    the excluded columns with why (printed and logged)."""
    if all(c in df.columns for c in RESPONSE_FEATURES):
        return list(RESPONSE_FEATURES), {}
    named = {spec.treatment, spec.outcome, spec.propensity, spec.group, *exclude}
    features, excluded = [], {}
    for c in df.columns:
        if c in named:
            continue
        col = df[c]
        if c in OUTCOME_COLUMNS or _norm(c) in OUTCOME_NAMES:
            excluded[c] = "named like an outcome"
        elif _norm(c) == "id" or str(c).lower().endswith(("_id", " id")) or (
                not pd.api.types.is_float_dtype(col) and col.nunique() == len(col) > 50):
            excluded[c] = "an identifier (one value per row)"
        elif col.isna().all() or col.nunique(dropna=True) <= 1:
            excluded[c] = "constant"
        else:
            smd, z = imbalance(df, c, logged, propensity)
            if smd > BALANCE_SMD and z > BALANCE_Z:
                excluded[c] = (f"differs between arms (standardized difference {smd:.2f}, "
                               f"z {z:.1f}): measured after the treatment?")
            else:
                features.append(c)
    return features, excluded


@dataclass
class LogData:
    frame: pd.DataFrame
    treatments: list[str]  # control first
    features: list[str]
    logged: np.ndarray  # treatment index per row
    propensity: np.ndarray
    outcome: np.ndarray  # as logged
    net: np.ndarray  # net value: outcome x value - costs of the logged treatment
    encoder: FeatureEncoder
    costs: Costs
    excluded: dict[str, str] = field(default_factory=dict)  # column -> why not a feature

    def matrix(self, rows: np.ndarray | None = None) -> np.ndarray:
        frame = self.frame if rows is None else self.frame.loc[rows]
        return self.encoder.matrix(frame)


def prepare_log(df: pd.DataFrame, spec: LogSpec, exclude: tuple[str, ...] = (),
                treatments: list[str] | None = None,
                encoder: FeatureEncoder | None = None) -> LogData:
    """Validate a campaign log against `spec`; raise LogError naming any bad column.
    `treatments` and `encoder` (a trained model's) fix the treatment order and features."""
    cols = list(df.columns)
    for role, col in (("treatment", spec.treatment), ("outcome", spec.outcome),
                      ("propensity", spec.propensity)):
        if col is not None and col not in df.columns:
            raise LogError(f"{role} column {col!r} not in the log (columns: {', '.join(cols)})")
    if df.empty:
        raise LogError("the log has no rows")
    treat = df[spec.treatment]
    if treat.isna().any():
        raise LogError(f"treatment column {spec.treatment!r} has {int(treat.isna().sum())} "
                       "empty values")
    treat = treat.astype(str)
    seen = sorted(treat.unique())
    if spec.control not in seen:
        raise LogError(f"control treatment {spec.control!r} never appears in "
                       f"{spec.treatment!r} (values: {', '.join(seen[:10])}); pass --control")
    if len(seen) < 2:
        raise LogError(f"treatment column {spec.treatment!r} has a single value {seen[0]!r}")
    if treatments is not None:
        unknown = [t for t in seen if t not in treatments]
        if unknown:
            raise LogError(f"treatment(s) {', '.join(map(repr, unknown[:5]))} in "
                           f"{spec.treatment!r} are unknown to the model (it knows "
                           f"{', '.join(treatments)})")
    else:
        treatments = [spec.control, *[t for t in seen if t != spec.control]]
    spec.costs.check(treatments)
    outcome = pd.to_numeric(df[spec.outcome], errors="coerce")
    if outcome.isna().any():
        bad = df.loc[outcome.isna(), spec.outcome].head(3).tolist()
        raise LogError(f"outcome column {spec.outcome!r} must be numeric; "
                       f"{int(outcome.isna().sum())} rows are not (e.g. {bad})")
    if spec.propensity is None:
        prop = np.full(len(df), 1.0 / len(treatments))
    else:
        p = pd.to_numeric(df[spec.propensity], errors="coerce")
        if p.isna().any() or (p <= 0).any() or (p > 1).any():
            raise LogError(f"propensity column {spec.propensity!r} must be numbers in (0, 1]; "
                           f"{int((p.isna() | (p <= 0) | (p > 1)).sum())} rows are not")
        prop = p.to_numpy(dtype=float)
    index = {t: i for i, t in enumerate(treatments)}
    logged = treat.map(index).to_numpy(dtype=np.int64)
    frame = df.reset_index(drop=True)
    excluded: dict[str, str] = {}
    if encoder is not None:
        features = list(encoder.names)
        missing = [f for f in features if f not in df.columns]
        if missing:
            raise LogError(f"feature column(s) {', '.join(map(repr, missing))} the model needs "
                           f"are not in the log (columns: {', '.join(cols)})")
    elif spec.features is not None:
        missing = [f for f in spec.features if f not in df.columns]
        if missing:
            raise LogError(f"feature column(s) {', '.join(map(repr, missing))} not in the log "
                           f"(columns: {', '.join(cols)})")
        features = list(spec.features)
    else:
        features, excluded = default_features(frame, spec, logged, prop, exclude)
        if not features:
            raise LogError("no usable feature columns in the log (excluded: " + "; ".join(
                f"{c}: {why}" for c, why in excluded.items()) + "); name them with --features")
    enc = encoder or FeatureEncoder.fit(frame, features)
    y = outcome.to_numpy(dtype=float)
    return LogData(frame=frame, treatments=treatments, features=features, logged=logged,
                   propensity=prop, outcome=y, net=spec.costs.net(y, treat.to_numpy()),
                   encoder=enc, costs=spec.costs, excluded=excluded)


def split_rows(df: pd.DataFrame, group: str | None, holdout: float = 0.3,
               seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train / held-out masks; rows of one group (customer) stay together."""
    rng = np.random.default_rng(seed)
    if group is not None and group in df.columns:
        keys = df[group].astype(str)
        uniq = keys.unique()
        held = set(uniq[rng.random(len(uniq)) < holdout])
        test = keys.isin(held).to_numpy()
    else:
        test = rng.random(len(df)) < holdout
    return ~test, test


def fold_of(df: pd.DataFrame, group: str | None, k: int, seed: int = 7) -> np.ndarray:
    """Cross-fitting fold per row; rows of one group (customer) share a fold."""
    rng = np.random.default_rng(seed)
    if group is not None and group in df.columns:
        codes, uniq = pd.factorize(df[group].astype(str))
        return rng.integers(0, k, len(uniq))[codes]
    return rng.integers(0, k, len(df))


@dataclass
class ResponseModel(ServingCache):
    """Expected net value of every treatment per customer (`treatments[0]` is the control),
    and the policy: the best single treatment, left for another only where the predicted gain
    over it exceeds `threshold` (chosen on out-of-fold policy value; infinite when no gain was
    confident). Predictions average the cross-fitting folds' models."""

    treatments: list[str]
    encoder: FeatureEncoder
    outcome: str
    learner: str  # which learner won (s, t, x, dr ...)
    control_models: list[lgb.Booster]  # E[net | x, control], one per fold
    uplift_models: dict[str, list]  # treatment -> per-fold models of its gain over control
    best_single: str
    threshold: float = float("inf")
    costs: Costs = field(default_factory=Costs)
    means: dict[str, float] = field(default_factory=dict)  # net value per arm (training)

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.names

    @property
    def control(self) -> str:
        return self.treatments[0]

    def predict_outcomes(self, X: np.ndarray) -> np.ndarray:
        """[rows, treatments] expected net value; `X` columns from `encoder`."""
        X = np.asarray(X, dtype=np.float64)
        merged = self.cached("columns", self._merged_columns)
        if merged is not None:
            return np.column_stack([lgbm_predict.predict(m, X, raw_score=True)
                                    for m in merged])
        base = _average(self.control_models, X)
        out = np.empty((len(X), len(self.treatments)))
        out[:, 0] = base
        for j, t in enumerate(self.treatments[1:], start=1):
            out[:, j] = base + _average(self.uplift_models[t], X)
        return out

    def _merged_columns(self) -> list[lgb.Booster] | None:
        """One booster per treatment column when every part is a sum of identity-link trees
        (T-, X- and DR-learners on a continuous outcome): a dozen or more models become one
        call per column. None: some part is not (probabilities, S-learner inputs)."""
        base = _linear_terms_of(self.control_models)
        if base is None:
            return None
        columns = [base]
        for t in self.treatments[1:]:
            gain = _linear_terms_of(self.uplift_models[t])
            if gain is None:
                return None
            columns.append(base + gain)
        return [lgbm_predict.merge(terms) for terms in columns]

    def choose_from(self, mu: np.ndarray) -> np.ndarray:
        """Treatment index per row from predicted values: the best single treatment unless
        another's predicted gain over it exceeds the threshold."""
        b = self.treatments.index(self.best_single)
        best = mu.argmax(axis=1)
        gain = mu[np.arange(len(mu)), best] - mu[:, b]
        return np.where(gain > self.threshold, best, b)

    def choose(self, X: np.ndarray) -> np.ndarray:
        return self.choose_from(self.predict_outcomes(X))

    def matrix(self, df: pd.DataFrame) -> np.ndarray:
        return self.encoder.matrix(df)

    def predict_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Expected net value per treatment, uplift vs control, and the policy's choice."""
        mu = self.predict_outcomes(self.matrix(df))
        out = pd.DataFrame({f"expected_{t}": mu[:, k] for k, t in enumerate(self.treatments)})
        for k, t in enumerate(self.treatments[1:], start=1):
            out[f"uplift_{t}"] = mu[:, k] - mu[:, 0]
        out["best_treatment"] = np.array(self.treatments, dtype=object)[self.choose_from(mu)]
        return out


def _average(models: list, X: np.ndarray) -> np.ndarray:
    return sum(_predict(m, X) for m in models) / len(models)


def linear_terms(model, weight: float) -> list[tuple[lgb.Booster, float]] | None:
    """`weight * model(x)` as a weighted sum of boosters' raw scores, or None if it is not one
    (a probability, a model with extra inputs)."""
    if isinstance(model, lgb.Booster):
        ok = lgbm_predict.objective(model) in lgbm_predict.IDENTITY_LINK
        return [(model, weight)] if ok else None
    terms = getattr(model, "linear_terms", None)
    return terms(weight) if terms is not None else None


def _linear_terms_of(models: list) -> list[tuple[lgb.Booster, float]] | None:
    """The mean of `models` (as `_average` computes it) as weighted boosters, or None."""
    out: list[tuple[lgb.Booster, float]] = []
    for m in models:
        terms = linear_terms(m, 1.0 / len(models))
        if terms is None:
            return None
        out += terms
    return out


def _predict(model, X: np.ndarray) -> np.ndarray:
    if isinstance(model, lgb.Booster):
        return lgbm_predict.predict(model, X)
    return model.predict(X)
