"""Response / uplift model: the expected outcome of every treatment (including sending
nothing) for a customer, learned from a campaign log with known propensities.

LightGBM meta-learners (an S-learner by default, a T-learner on request), weighted by
1 / propensity. The uplift of a treatment is its prediction minus the control's; the learned
policy takes the treatment with the highest prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.transforms import RESPONSE_FEATURES

LGB_PARAMS = {
    "objective": "regression", "learning_rate": 0.03, "num_leaves": 8, "min_data_in_leaf": 80,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 10.0,
    "verbose": -1, "num_threads": 2, "seed": 7, "deterministic": True,
}
S_PARAMS = {**LGB_PARAMS, "num_leaves": 16, "min_data_in_leaf": 50, "lambda_l2": 1.0}
MAX_ROUNDS = 2000
EARLY_STOP = 50


# Never used as features by default: outcomes recorded next to the chosen one would leak it.
OUTCOME_COLUMNS = frozenset({"opened", "clicked", "purchased", "unsubscribed", "revenue",
                             "reward", "converted", "outcome", "propensity"})


class LogError(ValueError):
    """A campaign log that cannot be used as given (message names the column and problem)."""


@dataclass(frozen=True)
class LogSpec:
    """Which columns of a campaign log hold what."""

    treatment: str
    outcome: str
    propensity: str | None = None  # None: uniform over the treatments seen
    features: tuple[str, ...] | None = None  # None: every numeric column not named above
    control: str = "none"
    group: str | None = "customer_id"  # rows of one customer stay on one side of the split


@dataclass
class LogData:
    frame: pd.DataFrame
    treatments: list[str]  # control first
    features: list[str]
    logged: np.ndarray  # treatment index per row
    propensity: np.ndarray
    outcome: np.ndarray


def prepare_log(df: pd.DataFrame, spec: LogSpec, exclude: tuple[str, ...] = (),
                treatments: list[str] | None = None) -> LogData:
    """Validate a campaign log against `spec`; raise LogError naming any bad column.
    `treatments` (a trained model's, control first) fixes their order and allowed values."""
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
    named = {spec.treatment, spec.outcome, spec.propensity, spec.group, *exclude}
    if spec.features is not None:
        missing = [f for f in spec.features if f not in df.columns]
        if missing:
            raise LogError(f"feature column(s) {', '.join(map(repr, missing))} not in the log "
                           f"(columns: {', '.join(cols)})")
        features = list(spec.features)
        bad = [f for f in features if not pd.api.types.is_numeric_dtype(df[f])
               and not pd.api.types.is_bool_dtype(df[f])]
        if bad:
            raise LogError(f"feature column(s) {', '.join(map(repr, bad))} are not numeric; "
                           "encode them first or leave them out of --features")
    elif all(c in df.columns for c in RESPONSE_FEATURES):
        features = list(RESPONSE_FEATURES)  # the features the online policy can score
    else:
        features = [c for c in cols if c not in named and c not in OUTCOME_COLUMNS
                    and (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
        if not features:
            raise LogError("no numeric feature columns in the log; name them with --features")
    index = {t: i for i, t in enumerate(treatments)}
    return LogData(frame=df.reset_index(drop=True), treatments=treatments, features=features,
                   logged=treat.map(index).to_numpy(dtype=np.int64), propensity=prop,
                   outcome=outcome.to_numpy(dtype=float))


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


LEARNERS = ("s", "t")


@dataclass
class ResponseModel:
    """Expected outcome of every treatment; `treatments[0]` is the control.

    learner "s": one LightGBM over the features plus a one-hot of the treatment (arms share
    what they have in common, which suits small effects on noisy outcomes); "t": one LightGBM
    per treatment on that treatment's rows.
    """

    treatments: list[str]
    feature_names: list[str]
    outcome: str
    learner: str = "s"
    boosters: dict[str, lgb.Booster] = field(default_factory=dict)  # "s": key "*"
    means: dict[str, float] = field(default_factory=dict)  # fallback for a thin arm

    @property
    def control(self) -> str:
        return self.treatments[0]

    def predict_outcomes(self, X: np.ndarray) -> np.ndarray:
        """[rows, treatments] expected outcome; `X` columns in `feature_names` order."""
        X = np.asarray(X, dtype=np.float64)
        k = len(self.treatments)
        if self.learner == "s":  # one call for every (row, treatment) pair
            stacked = np.hstack([np.repeat(X, k, axis=0), np.tile(np.eye(k), (len(X), 1))])
            return self.boosters["*"].predict(stacked, num_threads=1).reshape(len(X), k)
        out = np.empty((len(X), k))
        for j, t in enumerate(self.treatments):
            b = self.boosters.get(t)
            out[:, j] = b.predict(X, num_threads=1) if b is not None else self.means[t]
        return out

    def choose(self, X: np.ndarray) -> np.ndarray:
        """Index of the treatment with the highest expected outcome (control on ties)."""
        return np.argmax(self.predict_outcomes(X), axis=1)

    def matrix(self, df: pd.DataFrame) -> np.ndarray:
        return df[self.feature_names].to_numpy(dtype=np.float64)

    def predict_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Expected outcome per treatment, uplift vs control, and the best treatment."""
        mu = self.predict_outcomes(self.matrix(df))
        out = pd.DataFrame({f"expected_{t}": mu[:, k] for k, t in enumerate(self.treatments)})
        for k, t in enumerate(self.treatments[1:], start=1):
            out[f"uplift_{t}"] = mu[:, k] - mu[:, 0]
        out["best_treatment"] = np.array(self.treatments, dtype=object)[mu.argmax(axis=1)]
        return out


def _boost(X: np.ndarray, y: np.ndarray, w: np.ndarray, names: list[str], params: dict,
           rng: np.random.Generator) -> lgb.Booster:
    """LightGBM with 20% of the rows held out for early stopping."""
    val = rng.random(len(y)) < 0.2
    dtrain = lgb.Dataset(X[~val], y[~val], weight=w[~val], feature_name=names,
                         free_raw_data=False)
    dval = lgb.Dataset(X[val], y[val], weight=w[val], reference=dtrain)
    return lgb.train(params, dtrain, num_boost_round=MAX_ROUNDS, valid_sets=[dval],
                     callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])


def fit_response(data: LogData, train: np.ndarray, outcome: str = "outcome",
                 learner: str = "s", seed: int = 7) -> ResponseModel:
    """Fit on the training rows, weighted by 1 / propensity (so a logging policy that depends
    on the features does not bias the comparison of treatments)."""
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}, not {learner!r}")
    model = ResponseModel(list(data.treatments), list(data.features), outcome, learner)
    X = data.frame[data.features].to_numpy(dtype=np.float64)
    w = 1.0 / data.propensity
    rng = np.random.default_rng(seed)
    params = {**(S_PARAMS if learner == "s" else LGB_PARAMS), "seed": seed}
    k = len(data.treatments)
    for j, t in enumerate(data.treatments):
        arm = train & (data.logged == j)
        model.means[t] = float(np.average(data.outcome[arm], weights=w[arm])) if arm.any() \
            else 0.0
    if learner == "s":
        rows = np.flatnonzero(train)
        XS = np.hstack([X[rows], np.eye(k)[data.logged[rows]]])
        names = [*data.features, *(f"treatment={t}" for t in data.treatments)]
        model.boosters["*"] = _boost(XS, data.outcome[rows], w[rows], names, params, rng)
        return model
    for j, t in enumerate(data.treatments):
        rows = np.flatnonzero(train & (data.logged == j))
        if len(rows) >= 200:  # fewer rows: predict the arm's mean
            model.boosters[t] = _boost(X[rows], data.outcome[rows], w[rows], data.features,
                                       params, rng)
    return model
