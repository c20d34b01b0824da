"""Pipeline steps for learning what works: simulated campaign logs, decision outcomes,
response-model training and off-policy evaluation (results in MLflow)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from features.settings import Settings
from features.sources.loaders import read_table
from pipelines.console import UserError, step
from pipelines.data_steps import write_table

EVAL_EXPERIMENT = "nba-response-evaluation"


def simulate_campaign_step(settings: Settings, out: Path, times: int = 16, seed: int = 0
                           ) -> pd.DataFrame:
    """A randomized campaign log over the simulated dataset in `settings.data_dir`."""
    from features.simulation.campaigns import campaign_log, decision_times
    from features.sources.dataset import read_dataset

    ds = read_dataset(settings.data_dir, with_truth=True)
    if ds.truth is None:
        raise UserError(f"{settings.data_dir} is not a simulated dataset (no ground truth); "
                        "campaign logs are simulated from latent traits")
    log = campaign_log(ds, decision_times(ds, times), seed=seed)
    write_table(log, out)
    return log


def outcomes_step(settings: Settings, decisions: Path, out: Path, window_days: float
                  ) -> pd.DataFrame:
    """Join logged decisions to what followed; write the training table."""
    from features.sources.dataset import read_dataset
    from training.outcomes import DecisionLogError, join_outcomes, read_decision_log

    ds = read_dataset(settings.data_dir, with_truth=False)
    try:
        log = read_decision_log(decisions)
        table = join_outcomes(log, ds.events, pd.Timedelta(days=window_days),
                              control_share=settings.control_share)
    except DecisionLogError as exc:
        raise UserError(str(exc)) from None
    write_table(table, out)
    return table


@dataclass
class ResponseRun:
    version: str | None
    run_id: str
    report: object  # training.policy_eval.PolicyReport (None: nothing held out)
    verdict: str
    promoted: str | None = None
    dataset: dict | None = None  # features, excluded columns, learner comparison


def log_spec(treatment: str, outcome: str, propensity: str | None, features: str | None,
             control: str, group: str | None, cost: str | None = None, value: float = 1.0):
    from training.response import Costs, LogError, LogSpec

    cols = tuple(f.strip() for f in features.split(",") if f.strip()) if features else None
    try:
        costs = Costs.parse(cost, value)
    except LogError as exc:
        raise UserError(str(exc)) from None
    return LogSpec(treatment=treatment, outcome=outcome, propensity=propensity, features=cols,
                   control=control, group=group, costs=costs)


def parse_learners(text: str | None) -> tuple[str, ...]:
    from training.uplift_learners import LEARNERS

    if not text:
        return LEARNERS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in LEARNERS]
    if bad or not names:
        raise UserError(f"--learners: unknown {', '.join(bad) or text!r}; choose from "
                        f"{', '.join(LEARNERS)}")
    return names


def train_response_step(settings: Settings, log_path: Path, spec, learners: tuple[str, ...] | None
                        = None, holdout: float = 0.3, promote: bool = False) -> ResponseRun:
    """Train on a split of the log, evaluate on the held-out rows, log and register."""
    from training.policy_eval import train_response
    from training.response import LogError
    from training.uplift_learners import LEARNERS

    if promote and holdout <= 0:
        raise UserError("--promote needs held-out rows to compare with the champion: use "
                        "--holdout > 0 (or evaluate on another log with nba evaluate-policy)")
    df = read_table(log_path, text=False)
    try:
        result, report = train_response(df, spec, holdout=holdout,
                                        learners=learners or LEARNERS)
    except LogError as exc:
        raise UserError(f"{log_path}: {exc}") from None
    except ValueError as exc:
        raise UserError(f"{log_path}: {exc}") from None
    from training.tracking import configure, log_result  # MLflow: only once the log is valid

    client = configure(settings)
    tags = {"data_source": str(log_path.resolve()), "data_dir": str(settings.data_dir.resolve())}
    version = log_result(result, settings, tags)
    ok, why = result.beats_baselines()
    run = ResponseRun(version.version, version.run_id, report, why, dataset=result.dataset)
    if promote:
        from training.promote import promote as gate

        p = gate(client, "response")
        run.promoted = p.reason if p.promoted else f"not promoted: {p.reason}"
    elif not ok:
        step(f"warning: {why}")
    return run


def evaluate_policy_step(settings: Settings, log_path: Path, spec, version: str | None = None,
                         n_boot: int = 400) -> ResponseRun:
    """Off-policy evaluation of a registered response model on a log it has never seen."""
    import matplotlib.pyplot as plt
    import mlflow
    from mlflow.exceptions import MlflowException

    from training.model_specs import SPECS
    from training.policy_eval import evaluate_policies, qini_plot, value_plot
    from training.pyfunc import load_bundle
    from training.response import LogError, prepare_log
    from training.tracking import CHAMPION, configure, experiment_id

    client = configure(settings)
    name = SPECS["response"].registered
    try:
        mv = (client.get_model_version(name, version) if version
              else client.get_model_version_by_alias(name, CHAMPION))
    except MlflowException:
        which = f"version {version}" if version else "a champion"
        raise UserError(f"{name} has no {which}: run `nba train-response --promote` first, "
                        "or pass --model-version") from None
    model = load_bundle(f"models:/{name}/{mv.version}")
    df = read_table(log_path, text=False)
    costs = spec.costs if (spec.costs.fixed or spec.costs.share or spec.costs.value != 1) \
        else model.costs  # the model's own costs unless the command gives others
    spec = replace(spec, features=tuple(model.feature_names), control=model.control,
                   costs=costs)
    try:
        data = prepare_log(df, spec, treatments=model.treatments, encoder=model.encoder)
    except LogError as exc:
        raise UserError(f"{log_path}: {exc}") from None
    rows = pd.Series(True, index=data.frame.index).to_numpy()
    report = evaluate_policies(model, data, rows, n_boot=n_boot, group=spec.group)
    with mlflow.start_run(experiment_id=experiment_id(settings, EVAL_EXPERIMENT.removeprefix(
            "nba-")), tags={"model": f"{name}/{mv.version}",
                            "data_source": str(log_path.resolve())}) as run:
        mlflow.log_metrics({k: v for k, v in report.metrics().items() if pd.notna(v)})
        mlflow.log_params({"rows": report.rows, "outcome": spec.outcome,
                           "treatment": spec.treatment, "propensity": spec.propensity or
                           "uniform", "bootstrap": n_boot, "costs": costs.describe()})
        for fname, fig in (("policy_value.png", value_plot(report)),
                           ("qini.png", qini_plot(report))):
            mlflow.log_figure(fig, f"plots/{fname}")
            plt.close(fig)
    return ResponseRun(mv.version, run.info.run_id, report, "")


def bandit_update_step(settings: Settings, outcomes: Path, treatment: str, reward: str):
    """Arm statistics per (context bucket, treatment) from an outcomes table, written where the
    service's Thompson sampling reads them."""
    import orjson

    from serving.engine import BANDIT_FILE
    from serving.policy.config import PolicyConfig
    from training.bandit import arm_stats

    table = read_table(outcomes, text=False)
    try:
        stats = arm_stats(table, treatment, reward, PolicyConfig().explore_treatments)
    except ValueError as exc:
        raise UserError(f"{outcomes}: {exc}") from None
    path = settings.data_dir / BANDIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(stats.to_json()))
    return path, stats
