"""`nba backtest`: train up to a cutoff on a copy of the log truncated there, score every customer
at the cutoff, evaluate against what happened after, next to every baseline; log to MLflow."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from features.settings import Settings
from features.sources.dataset import read_dataset, write_dataset
from pipelines.console import UserError, stage, step

EXPERIMENT = "backtest"


@dataclass
class BacktestRun:
    cutoff: pd.Timestamp
    horizon: pd.Timedelta
    window: object  # training.backtest.TrainingWindow
    tasks: list  # training.backtest.TaskBacktest
    customers: int
    run_id: str
    work_dir: Path


def parse_cutoff(text: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise UserError(f"--cutoff {text!r} is not a date (e.g. 2011-09-09)") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def backtest_step(settings: Settings, cutoff_text: str, horizon_text: str,
                  every_text: str | None = None, models: tuple[str, ...] = ("intent", "churn")
                  ) -> BacktestRun:
    from training.horizons import HorizonError, describe, label_window_note, parse_duration

    cutoff = parse_cutoff(cutoff_text)
    try:
        horizon = parse_duration(horizon_text, "--horizon")
        every = parse_duration(every_text, "--every") if every_text else None
    except HorizonError as exc:
        raise UserError(str(exc)) from None
    full = read_dataset(settings.data_dir, with_truth=False)
    problem = label_window_note(full, cutoff, horizon)
    if problem:
        raise UserError(problem)
    from training import backtest as bt  # LightGBM and friends: only once the input is good
    from training.churn import task as churn_task
    from training.intent import task as intent_task
    from training.labels import churn_definition

    past = bt.truncate(full, cutoff)
    try:
        window = bt.training_window(past.start, cutoff, horizon, every)
    except HorizonError as exc:
        raise UserError(str(exc)) from None
    work = settings.data_dir / "backtests" / f"{cutoff:%Y%m%d}-{describe(horizon)}"
    # the backtest's own embedded store: offline work, whatever the online store setting
    local = replace(settings, data_dir=work / "data", online_store="sqlite", feast_registry="")
    with stage(f"building features as of the cutoff {cutoff:%Y-%m-%d} in {work}"):
        write_dataset(local.data_dir, past)
        from features.online.store import open_store
        from pipelines.feature_steps import apply_step, build_step

        build_step(local)
        apply_step(local)
        store = open_store(local)
    if window.note:
        step(f"note: {window.note}")
    tasks = {"intent": intent_task(horizon), "churn": churn_task(churn_definition(past.events),
                                                                 horizon)}
    results = []
    for name in models:
        with stage(f"{name}: training on {len(window.times)} snapshots before the cutoff, "
                   "scoring at the cutoff"):
            results.append(bt.backtest_task(tasks[name], store, past, full, cutoff, horizon,
                                            window))
    run_id = _log(settings, cutoff, horizon, window, results, work)
    return BacktestRun(cutoff, horizon, window, results, bt.cutoff_population(full, cutoff),
                       run_id, work)


def _log(settings: Settings, cutoff, horizon, window, results, work: Path) -> str:
    import tempfile

    import matplotlib.pyplot as plt
    import mlflow

    from training.horizons import describe
    from training.tracking import configure, experiment_id

    configure(settings)
    with mlflow.start_run(experiment_id=experiment_id(settings, EXPERIMENT),
                          run_name=f"backtest-{cutoff:%Y%m%d}-{describe(horizon)}",
                          tags={"data_dir": str(settings.data_dir.resolve()),
                                "cutoff": str(cutoff)}) as run:
        mlflow.log_params({"cutoff": str(cutoff), "horizon": describe(horizon),
                           "train_horizon": describe(window.horizon),
                           "snapshot_every": describe(window.every),
                           "snapshots": len(window.times), "note": window.note[:400]})
        for r in results:
            mlflow.log_param(f"{r.name}_label", r.description[:400])
            mlflow.log_metrics({f"{r.name}_rows": r.rows, f"{r.name}_positive_rate":
                                r.positive_rate, f"{r.name}_fit_rows": r.fit_rows})
            for scorer, m in r.metrics.items():
                mlflow.log_metrics({f"{r.name}_{scorer}_{k}": v for k, v in m.items()
                                    if k != "positive_rate" and pd.notna(v)})
            mlflow.log_metrics({f"{r.name}_auc_diff_vs_best_baseline": r.difference.value,
                                f"{r.name}_auc_diff_low": r.difference.low,
                                f"{r.name}_auc_diff_high": r.difference.high})
            for fname, fig in r.figures.items():
                mlflow.log_figure(fig, f"plots/{fname}")
                plt.close(fig)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{r.name}_scores.parquet"
                r.scores.to_parquet(path, index=False)
                mlflow.log_artifact(str(path), "scores")
            r.scores.to_parquet(work / f"{r.name}_scores.parquet", index=False)
    return run.info.run_id
