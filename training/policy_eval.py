"""Evaluate decision policies on held-out campaign-log rows: the learned policy, every single
treatment and random, by IPS / SNIPS / DR with bootstrap intervals, plus Qini per treatment.
`train_response` wraps fitting and evaluation into a TrainResult for MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from features.campaign_sim import TRUTH_PREFIX  # optional exact expected reward columns
from training.ope import Estimate, UpliftCurve, evaluate, one_hot, uplift_curve
from training.response import (
    LGB_PARAMS,
    S_PARAMS,
    LogData,
    LogSpec,
    ResponseModel,
    fit_response,
    prepare_log,
    split_rows,
)
from training.result import TrainResult

LEARNED = "learned"
RANDOM = "random"
GATE = "snips"  # the estimator the promotion gate compares (model-free, so unbiased by mu)


@dataclass
class PolicyReport:
    rows: int
    estimates: dict[str, dict[str, Estimate]]  # policy -> estimator -> estimate
    truth: dict[str, float]  # policy -> exact value (simulated logs only)
    curves: dict[str, UpliftCurve]  # treatment -> Qini curve vs control
    chosen_share: dict[str, float]  # learned policy: share of rows per treatment
    effective_rows: dict[str, float] = field(default_factory=dict)  # policy -> (sum w)^2/sum w^2

    def thin(self, minimum: float = 200.0) -> dict[str, float]:
        """Policies whose estimates rest on few effective rows (the log rarely did that)."""
        return {k: v for k, v in self.effective_rows.items() if v < minimum}

    def table(self) -> pd.DataFrame:
        out = []
        for policy, est in self.estimates.items():
            row: dict[str, object] = {"policy": policy}
            for k, e in est.items():
                row[k] = e.value
                row[f"{k}_ci"] = f"[{e.low:.3f}, {e.high:.3f}]"
            if policy in self.truth:
                row["true_value"] = self.truth[policy]
            out.append(row)
        return pd.DataFrame(out)

    def metrics(self, prefix: str = "test_") -> dict[str, float]:
        m: dict[str, float] = {}
        for policy, est in self.estimates.items():
            stem = prefix if policy == LEARNED else f"{prefix}baseline_{policy}_"
            for k, e in est.items():
                m[f"{stem}{k}_value"] = e.value
                m[f"{stem}{k}_low"], m[f"{stem}{k}_high"] = e.low, e.high
            if policy in self.truth:
                m[f"{stem}true_value"] = self.truth[policy]
        for t, c in self.curves.items():
            m[f"{prefix}qini_{t}"] = c.qini_coefficient
            m[f"{prefix}auuc_{t}"] = c.auuc
        for t, share in self.chosen_share.items():
            m[f"{prefix}chosen_share_{t}"] = share
        for policy, n in self.effective_rows.items():
            m[f"{prefix}effective_rows_{policy}"] = n
        return m


def policies(model: ResponseModel, data: LogData, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Target policies as [rows, treatments] probability matrices."""
    k = len(data.treatments)
    X = data.frame.loc[rows, model.feature_names].to_numpy(dtype=np.float64)
    out = {LEARNED: one_hot(model.choose(X), k)}
    for j, t in enumerate(data.treatments):
        out[t] = one_hot(np.full(len(rows), j), k)
    out[RANDOM] = np.full((len(rows), k), 1.0 / k)
    return out


def evaluate_policies(model: ResponseModel, data: LogData, rows: np.ndarray,
                      n_boot: int = 400, seed: int = 0, group: str | None = None
                      ) -> PolicyReport:
    """Off-policy estimates (and exact values when the log has truth columns) on `rows`;
    the bootstrap resamples whole `group`s (customers) when that column exists."""
    idx = np.flatnonzero(rows)
    if len(idx) == 0:
        raise ValueError("no held-out rows to evaluate")
    X = data.frame.loc[idx, model.feature_names].to_numpy(dtype=np.float64)
    mu = model.predict_outcomes(X)
    logged, prop, y = data.logged[idx], data.propensity[idx], data.outcome[idx]
    pols = policies(model, data, idx)
    groups = (data.frame.loc[idx, group].astype(str).to_numpy()
              if group is not None and group in data.frame.columns else None)
    estimates = {name: evaluate(pi, logged, prop, y, mu, groups, n_boot=n_boot, seed=seed)
                 for name, pi in pols.items()}
    truth_cols = [TRUTH_PREFIX + t for t in data.treatments]
    truth: dict[str, float] = {}
    if all(c in data.frame.columns for c in truth_cols):
        exact = data.frame.loc[idx, truth_cols].to_numpy(dtype=float)
        truth = {name: float((pi * exact).sum(axis=1).mean()) for name, pi in pols.items()}
        truth["oracle"] = float(exact.max(axis=1).mean())
    curves = {}
    for j, t in enumerate(data.treatments[1:], start=1):
        pair = (logged == 0) | (logged == j)
        if (logged[pair] == j).any() and (logged[pair] == 0).any():
            curves[t] = uplift_curve(mu[pair, j] - mu[pair, 0], logged[pair] == j, y[pair],
                                     1.0 / prop[pair])
    choice = pols[LEARNED].argmax(axis=1)
    share = {t: float((choice == j).mean()) for j, t in enumerate(data.treatments)}
    ess = {}
    for name, pi in pols.items():
        w = pi[np.arange(len(idx)), logged] / prop
        ess[name] = float(w.sum() ** 2 / (w ** 2).sum()) if (w > 0).any() else 0.0
    return PolicyReport(len(idx), estimates, truth, curves, share, ess)


def value_plot(report: PolicyReport, estimator: str = "dr") -> Figure:
    names = list(report.estimates)
    est = [report.estimates[n].get(estimator) or report.estimates[n]["snips"] for n in names]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    y = np.arange(len(names))
    ax.errorbar([e.value for e in est], y, fmt="o",
                xerr=[[e.value - e.low for e in est], [e.high - e.value for e in est]],
                label=f"{estimator.upper()} estimate, 95% CI")
    if report.truth:
        ax.plot([report.truth.get(n, np.nan) for n in names], y, "x", color="C3",
                label="true value (simulator)")
    ax.set_yticks(y, names)
    ax.set(xlabel="value per customer (outcome)", title="policy value on held-out rows")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def qini_plot(report: PolicyReport) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 4))
    for t, c in report.curves.items():
        ax.plot(c.fraction, c.qini, label=f"{t} (Qini {c.qini_coefficient:.3f})")
        ax.plot([0, 1], [0, c.qini[-1]], ":", color=ax.lines[-1].get_color(), lw=0.8)
    ax.set(xlabel="share targeted (by predicted uplift)",
           ylabel="incremental outcome per customer", title="Qini curves vs control")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def train_response(df: pd.DataFrame, spec: LogSpec, holdout: float = 0.3, seed: int = 7,
                   n_boot: int = 400, learner: str = "s") -> tuple[TrainResult, PolicyReport]:
    """Fit the response model on a split of the log and evaluate it on the held-out rows."""
    truth_cols = tuple(c for c in df.columns if c.startswith(TRUTH_PREFIX))
    data = prepare_log(df, spec, exclude=truth_cols)
    train, test = split_rows(data.frame, spec.group, holdout, seed)
    if train.sum() < 100 or test.sum() < 50:
        raise ValueError(f"the log is too small to train and evaluate ({len(df)} rows)")
    model = fit_response(data, train, spec.outcome, learner, seed)
    report = evaluate_policies(model, data, test, n_boot=n_boot, seed=seed, group=spec.group)
    frame = data.frame
    keep = [c for c in (spec.group,) if c and c in frame.columns]
    eval_cols = [*keep, spec.treatment, spec.outcome, *model.feature_names, *truth_cols]
    eval_frame = frame.loc[test, list(dict.fromkeys(eval_cols))].copy()
    eval_frame["_propensity"] = data.propensity[test]
    eval_frame["_treatment"] = np.array(data.treatments, dtype=object)[data.logged[test]]
    dataset = {
        "rows": len(frame), "train_rows": int(train.sum()), "test_rows": int(test.sum()),
        "treatments": data.treatments, "control": spec.control, "outcome": spec.outcome,
        "propensity": spec.propensity or "uniform (not given)", "features": model.feature_names,
        "split": f"{int(holdout * 100)}% of {spec.group or 'rows'} held out (seed {seed})",
        **{f"rows_{t}": int((data.logged == k).sum()) for k, t in enumerate(data.treatments)},
        **{f"mean_outcome_{t}": float(data.outcome[data.logged == k].mean())
           for k, t in enumerate(data.treatments)},
    }
    result = TrainResult(
        name="response", model=model, primary_metric=f"test_{GATE}_value",
        metrics=report.metrics(), dataset=dataset,
        params={**{k: v for k, v in (S_PARAMS if learner == "s" else LGB_PARAMS).items()
                   if k != "verbose"},
                "learner": {"s": "S-learner: one LightGBM, treatment one-hot as features",
                            "t": "T-learner: one LightGBM per treatment"}[learner],
                "weights": "1 / propensity",
                "bootstrap": n_boot, "gate_estimator": GATE},
        figures={"response_policy_value.png": value_plot(report),
                 "response_qini.png": qini_plot(report)},
        eval_frame=eval_frame, input_example=frame.loc[test, model.feature_names].head(5),
    )
    return result, report


def gate_value(model: ResponseModel, eval_frame: pd.DataFrame) -> float:
    """SNIPS value of the model's policy on an eval frame (the promotion gate's metric)."""
    idx = pd.Index(model.treatments).get_indexer(eval_frame["_treatment"].astype(str))
    keep = idx >= 0
    X = eval_frame.loc[keep, model.feature_names].to_numpy(dtype=np.float64)
    pi = one_hot(model.choose(X), len(model.treatments))
    est = evaluate(pi, idx[keep], eval_frame["_propensity"].to_numpy()[keep],
                   eval_frame[model.outcome].to_numpy(dtype=float)[keep], n_boot=1)
    return est[GATE].value
