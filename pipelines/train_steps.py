"""Pipeline steps for models: train (and log to MLflow), promote."""

from __future__ import annotations

from dataclasses import dataclass

from features.settings import Settings
from features.sources.dataset import read_dataset
from pipelines.console import UserError, console, stage, step
from training.model_specs import DATASET_MODELS, SPECS


def parse_models(text: str | None, allowed: tuple[str, ...] = DATASET_MODELS) -> list[str]:
    """Model names from `--model a,b` (default: every model trained from the dataset)."""
    if not text:
        return list(DATASET_MODELS)
    names = [m.strip().replace("-", "_") for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in allowed]
    if unknown:
        raise UserError(f"unknown model(s) {', '.join(unknown)}; choose from "
                        f"{', '.join(allowed)}")
    return names


def resolve_horizons(settings: Settings, ds, horizon: str | None = None,
                     every: str | None = None):
    """Horizons from the command line, else settings, else chosen from the data."""
    from training.horizons import HorizonError, choose_horizons, parse_duration, parse_horizons

    try:
        given = parse_horizons(settings.horizons)
        given.update(parse_horizons(horizon))
        spacing = every or settings.snapshot_every
        step_every = parse_duration(spacing, "--every") if spacing else None
    except HorizonError as exc:
        raise UserError(str(exc)) from None
    return choose_horizons(ds.events, ds.start, ds.end, given, step_every)


@dataclass
class Trained:
    name: str
    version: str
    run_id: str
    primary_metric: str
    value: float
    baselines: dict[str, float]
    beats_baselines: bool
    verdict: str
    warnings: list[str]
    scorer: str = "model"
    horizon: str = ""
    definition: str = ""


@dataclass
class TrainRun:
    """Models trained, and the ones that could not be, with the reason each."""

    trained: list[Trained]
    failed: dict[str, str]


def _failed(failed: dict[str, str], name: str, reason: str) -> None:
    console.print(f"[red]error:[/red] {name}: {reason}", soft_wrap=True)
    failed[name] = reason


def train_models(settings: Settings, models: list[str], horizon: str | None = None,
                 every: str | None = None, sample: float | None = None) -> TrainRun:
    """Train, evaluate against baselines and register each model (features built if missing).
    A model that cannot be trained prints one `error:` line (data too short: before anything
    is built) and the others go on; an unexpected failure also prints its traceback.
    `sample`: train on that stable share of the customers only (`training.datasets.in_sample`;
    the features are built, and served, for every customer)."""
    from functools import partial

    from training.datasets import in_sample
    from training.horizons import describe
    from training.labels import training_plan

    keep = None
    if sample is not None:
        if not 0.0 < sample <= 1.0:
            raise UserError(f"--sample {sample}: expected a share of customers, 0 < share <= 1")
        keep = partial(in_sample, share=sample) if sample < 1.0 else None
    ds = read_dataset(settings.data_dir, with_truth=True, keep_customers=keep)
    if keep is not None:
        if ds.customers.empty:
            raise UserError(f"--sample {sample}: no customer falls in the sample")
        step(f"training on a {sample:g} sample of the customers: {len(ds.customers):,} "
             f"customers, {len(ds.events):,} events")
    horizons = resolve_horizons(settings, ds, horizon, every)
    failed: dict[str, str] = {}
    for name in models:
        why = training_plan(name, horizons).problem(ds.start, ds.end)
        if why:
            _failed(failed, name, why)
    models = [m for m in models if m not in failed]
    out: list[Trained] = []
    if not models:
        return TrainRun(out, failed)
    for name in (m for m in ("intent", "churn") if m in models):
        step(f"{name} horizon {horizons.describe()[name]}")
    from features.online.store import open_store
    from pipelines.feature_steps import ensure_features
    from training.tracking import configure, log_result

    ensure_features(settings)
    store = open_store(settings)
    configure(settings)
    tags = {"data_dir": str(settings.data_dir.resolve()),
            "data_source": str(ds.manifest.get("source", "?")),
            "data_end": str(ds.end)}
    sampled = {"sample_share": 1.0 if sample is None else sample,
               "sample_customers": len(ds.customers)}
    for name in models:
        with stage(f"training {name}"):
            try:
                result = SPECS[name].train_fn()(store, ds, horizons)
            except ValueError as exc:  # SplitError, HistoryError: the data cannot train it
                _failed(failed, name, str(exc))
                continue
            except Exception as exc:
                console.print_exception()
                _failed(failed, name, f"{type(exc).__name__}: {exc} (traceback above)")
                continue
            for w in result.warnings:
                step(f"warning: {w}")
            result.params.update(sampled)
            version = log_result(result, settings, tags)
        ok, why = result.beats_baselines()
        out.append(Trained(name, version.version, version.run_id, result.primary_metric,
                           result.primary_value, result.baseline_values(), ok, why,
                           result.warnings,
                           result.scorer,
                           describe(horizons.horizon[name]) if name in horizons.horizon else "",
                           str(result.dataset.get("label", ""))))
    return TrainRun(out, failed)


def train_step(settings: Settings, models: list[str], horizon: str | None = None,
               every: str | None = None, sample: float | None = None) -> list[Trained]:
    """`train_models`, the models trained; `UserError` when none could be."""
    run = train_models(settings, models, horizon, every, sample)
    if run.failed and not run.trained:
        raise UserError(f"no model could be trained ({', '.join(run.failed)}): see the errors "
                        "above")
    return run.trained


def promote_step(settings: Settings, models: list[str], force: bool = False,
                 min_delta: float = 0.0):
    from training.promote import force_promote, promote
    from training.tracking import configure

    client = configure(settings)
    return [force_promote(client, m) if force else promote(client, m, min_delta)
            for m in models]
