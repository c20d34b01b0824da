"""Evaluate decision policies on held-out campaign-log rows: the learned policy, every single
treatment and random, by IPS / SNIPS / DR with bootstrap intervals, the learned policy's
difference to the best single treatment with its interval, Qini per treatment, and for
two-arm logs the incremental response rate and net incremental revenue of the rows it treats.
`train_response` wraps fitting, selection and evaluation into a TrainResult for MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from features.schema import TRUTH_PREFIX  # optional exact expected reward columns
from training.ope import Estimate, UpliftCurve, evaluate, one_hot, uplift_curve
from training.response import LogData, LogSpec, ResponseModel, prepare_log, split_rows
from training.result import TrainResult
from training.uplift_learners import (
    LEARNERS,
    OUTCOME_PARAMS,
    build_model,
    fit_candidates,
    select,
)

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
    best_single: str = ""  # the single treatment with the largest SNIPS value here
    vs_best_single: dict[str, Estimate] = field(default_factory=dict)  # ips/dr of the difference
    incremental: dict[str, float] = field(default_factory=dict)  # two-arm logs: IRR, NIR, ...
    learners: dict[str, float] = field(default_factory=dict)  # learner -> DR value here

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
        for k, e in self.vs_best_single.items():
            m[f"{prefix}{k}_diff_vs_best_single"] = e.value
            m[f"{prefix}{k}_diff_low"], m[f"{prefix}{k}_diff_high"] = e.low, e.high
        m.update({f"{prefix}{k}": v for k, v in self.incremental.items()})
        m.update({f"{prefix}learner_{k}_dr_value": v for k, v in self.learners.items()})
        return m


def policies(model: ResponseModel, data: LogData, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Target policies as [rows, treatments] probability matrices."""
    k = len(data.treatments)
    X = model.matrix(data.frame.loc[rows])
    out = {LEARNED: one_hot(model.choose(X), k)}
    for j, t in enumerate(data.treatments):
        out[t] = one_hot(np.full(len(rows), j), k)
    out[RANDOM] = np.full((len(rows), k), 1.0 / k)
    return out


def incremental_response(treated_by_policy: np.ndarray, logged: np.ndarray, y: np.ndarray,
                         value: float, cost: float) -> dict[str, float]:
    """Two-arm logs: among the rows the policy would treat, using the arm each really got,
    IRR = response rate treated - control and NIR = value x (purchases treated - purchases
    control) - cost x rows treated (the Starbucks exercise's metrics; they assume the arms are
    about equally large, as in a 50/50 test)."""
    sel = treated_by_policy.astype(bool)
    t, c = sel & (logged == 1), sel & (logged == 0)
    irr = float(y[t].mean() - y[c].mean()) if t.any() and c.any() else float("nan")
    nir = float(value * (y[t].sum() - y[c].sum()) - cost * t.sum())
    return {"irr": irr, "nir": nir, "targeted_rows": float(sel.sum()),
            "targeted_share": float(sel.mean())}


def evaluate_policies(model: ResponseModel, data: LogData, rows: np.ndarray,
                      n_boot: int = 400, seed: int = 0, group: str | None = None
                      ) -> PolicyReport:
    """Off-policy estimates of the net value (and exact values when the log has truth columns)
    on `rows`; the bootstrap resamples whole `group`s (customers) when that column exists."""
    idx = np.flatnonzero(rows)
    if len(idx) == 0:
        raise ValueError("no held-out rows to evaluate")
    X = model.matrix(data.frame.loc[idx])
    mu = model.predict_outcomes(X)
    logged, prop, y = data.logged[idx], data.propensity[idx], data.net[idx]
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
    best = max(data.treatments, key=lambda t: estimates[t]["snips"].value)
    diff = evaluate(pols[LEARNED] - pols[best], logged, prop, y, mu, groups, n_boot=n_boot,
                    seed=seed)  # IPS and DR are linear in the policy: same resamples
    report = PolicyReport(len(idx), estimates, truth, curves, share, ess, best,
                          {k: v for k, v in diff.items() if k in ("ips", "dr")})
    if len(data.treatments) == 2:
        treat = data.treatments[1]
        report.incremental = incremental_response(
            choice == 1, logged, data.outcome[idx], data.costs.value,
            data.costs.fixed.get(treat, 0.0))
        report.incremental.update({f"all_{k}": v for k, v in incremental_response(
            np.ones(len(idx), bool), logged, data.outcome[idx], data.costs.value,
            data.costs.fixed.get(treat, 0.0)).items() if k in ("irr", "nir")})
    return report


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
    ax.set(xlabel="net value per customer", title="policy value on held-out rows")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def qini_plot(report: PolicyReport) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 4))
    for t, c in report.curves.items():
        ax.plot(c.fraction, c.qini, label=f"{t} (Qini {c.qini_coefficient:.3f})")
        ax.plot([0, 1], [0, c.qini[-1]], ":", color=ax.lines[-1].get_color(), lw=0.8)
    ax.set(xlabel="share targeted (by predicted uplift)",
           ylabel="incremental net value per customer", title="Qini curves vs control")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def learner_plot(values: dict[str, float]) -> Figure:
    """Out-of-fold DR value of each learner's policy (best threshold) and each single arm."""
    best: dict[str, float] = {}
    for key, v in values.items():
        name = key.split("@")[0]
        best[name] = max(v, best.get(name, -np.inf))
    names = sorted(best, key=best.get)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1))
    ax.barh(names, [best[n] for n in names],
            color=["C1" if n.startswith("single:") else "C0" for n in names])
    ax.set(xlabel="out-of-fold DR value per row", title="learners vs single treatments")
    lo = min(best.values())
    ax.set_xlim(lo - 0.05 * (max(best.values()) - lo + 1e-9), None)
    fig.tight_layout()
    return fig


def train_response(df: pd.DataFrame, spec: LogSpec, holdout: float = 0.3, seed: int = 7,
                   n_boot: int = 400, learners: tuple[str, ...] = LEARNERS
                   ) -> tuple[TrainResult, PolicyReport | None]:
    """Fit every learner with cross-fitting on a split of the log, choose learner and policy out
    of fold, and evaluate on the held-out rows (`holdout` 0: train on every row, no report)."""
    truth_cols = tuple(c for c in df.columns if c.startswith(TRUTH_PREFIX))
    data = prepare_log(df, spec, exclude=truth_cols)
    if holdout > 0:
        train, test = split_rows(data.frame, spec.group, holdout, seed)
    else:  # everything trains; judge the model on another log (`nba evaluate-policy`)
        train, test = np.ones(len(data.frame), bool), np.zeros(len(data.frame), bool)
    if int(train.sum()) < 100 or (holdout > 0 and int(test.sum()) < 50):
        raise ValueError(f"the log is too small to train and evaluate ({len(df)} rows)")
    fitted = fit_candidates(data, train, spec.group, learners, seed)
    sel = select(fitted, data.treatments)
    model = build_model(data, fitted, sel, spec.outcome)
    report = None
    if holdout > 0:
        report = evaluate_policies(model, data, test, n_boot=n_boot, seed=seed,
                                   group=spec.group)
        idx = np.flatnonzero(test)
        X = model.matrix(data.frame.loc[idx])
        for name in fitted.candidates:  # every learner's own policy on the same rows
            alt = build_model(data, fitted, _with_learner(sel, name), spec.outcome)
            pi = one_hot(alt.choose(X), len(data.treatments))
            report.learners[name] = evaluate(pi, data.logged[idx], data.propensity[idx],
                                             data.net[idx], model.predict_outcomes(X),
                                             n_boot=1)["dr"].value
    frame = data.frame
    keep = [c for c in (spec.group,) if c and c in frame.columns]
    eval_cols = [*keep, spec.treatment, spec.outcome, *model.feature_names, *truth_cols]
    eval_frame = frame.loc[test, list(dict.fromkeys(eval_cols))].copy()
    eval_frame["_propensity"] = data.propensity[test]
    eval_frame["_treatment"] = np.array(data.treatments, dtype=object)[data.logged[test]]
    eval_frame["_net"] = data.net[test]
    dataset = {
        "rows": len(frame), "train_rows": int(train.sum()), "test_rows": int(test.sum()),
        "treatments": data.treatments, "control": spec.control, "outcome": spec.outcome,
        "costs": data.costs.describe(), "propensity": spec.propensity or "uniform (not given)",
        "features": model.feature_names, "categorical_features": list(model.encoder.categories),
        "excluded_columns": data.excluded,
        "split": f"{int(holdout * 100)}% of {spec.group or 'rows'} held out (seed {seed})",
        "learner": sel.learner, "policy": sel.reason, "best_single_treatment": sel.best_single,
        "out_of_fold_values": sel.values,
        **{f"rows_{t}": int((data.logged == k).sum()) for k, t in enumerate(data.treatments)},
        **{f"mean_net_{t}": float(data.net[data.logged == k].mean())
           for k, t in enumerate(data.treatments)},
    }
    oof = {f"oof_value_{k.replace(':', '_').replace('@', '_')}": v
           for k, v in sel.values.items()}
    result = TrainResult(
        name="response", model=model,
        primary_metric=f"test_{GATE}_value" if report else "oof_gain_vs_best_single",
        metrics={**(report.metrics() if report else {}), **oof,
                 "oof_gain_vs_best_single": sel.gain, "oof_gain_low": sel.gain_low,
                 "cross_fitting_folds": float(fitted.folds)},
        dataset=dataset,
        params={**{k: v for k, v in OUTCOME_PARAMS.items() if k != "verbose"},
                "learners": ",".join(learners), "chosen_learner": sel.learner,
                "gain_threshold": sel.threshold, "confident": sel.confident,
                "best_single_treatment": sel.best_single, "costs": data.costs.describe(),
                "weights": "S-learner 1 / propensity; DR pseudo-outcomes 1 / propensity",
                "bootstrap": n_boot, "gate_estimator": GATE},
        figures={**({"response_policy_value.png": value_plot(report),
                    "response_qini.png": qini_plot(report)} if report else {}),
                 "response_learners.png": learner_plot(sel.values)},
        eval_frame=eval_frame if report else None,
        input_example=frame.loc[:, model.feature_names].head(5),
        verdict=sel.reason,
    )
    return result, report


def _with_learner(sel, name: str):
    """The selection as if `name` had won, with its own best out-of-fold threshold."""
    from dataclasses import replace

    return replace(sel, learner=name, threshold=sel.thresholds.get(name, float("inf")))


def gate_value(model: ResponseModel, eval_frame: pd.DataFrame) -> float:
    """SNIPS net value of the model's policy on an eval frame (the promotion gate's metric)."""
    idx = pd.Index(model.treatments).get_indexer(eval_frame["_treatment"].astype(str))
    keep = idx >= 0
    X = model.matrix(eval_frame.loc[keep])
    pi = one_hot(model.choose(X), len(model.treatments))
    reward = (eval_frame["_net"] if "_net" in eval_frame.columns
              else eval_frame[model.outcome]).to_numpy(dtype=float)[keep]
    est = evaluate(pi, idx[keep], eval_frame["_propensity"].to_numpy()[keep], reward, n_boot=1)
    return est[GATE].value


def gate_metrics(model: ResponseModel, eval_frame: pd.DataFrame) -> dict[str, float]:
    """The promotion gate's metrics for the response model (`<GATE>_value`, see `gate_value`)."""
    return {f"{GATE}_value": gate_value(model, eval_frame)}
