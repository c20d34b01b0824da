"""The promotion gate: a candidate becomes `champion` only if it beats the current champion on
the candidate's held-out test period (and beats its own baselines)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from training.model_specs import SPECS
from training.pyfunc import load_bundle
from training.tracking import CHAMPION, load_eval_frame


@dataclass
class Promotion:
    model: str
    promoted: bool
    reason: str
    candidate: str | None = None
    champion: str | None = None
    candidate_value: float | None = None
    champion_value: float | None = None


def evaluate_bundle(model: str, bundle: Any, eval_frame: pd.DataFrame) -> float:
    """The gate metric of `bundle` on held-out rows (raises KeyError on a missing feature: the
    bundle was trained on another feature service version)."""
    if model not in SPECS:
        raise ValueError(f"unknown model {model!r}")
    spec = SPECS[model]
    return spec.evaluate_fn()(bundle, eval_frame)[spec.gate_metric]


def _latest(client: MlflowClient, name: str):
    versions = client.search_model_versions(f"name = '{name}'")
    return max(versions, key=lambda v: int(v.version)) if versions else None


def promote(client: MlflowClient, model: str, min_delta: float = 0.0) -> Promotion:
    name = SPECS[model].registered
    candidate = _latest(client, name)
    if candidate is None:
        return Promotion(model, False, f"no registered version of {name}: run `nba train` first")
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    cand_v = candidate.version
    if champion is not None and champion.version == cand_v:
        return Promotion(model, False, f"version {cand_v} is already the champion", cand_v,
                         cand_v)
    tags = client.get_run(candidate.run_id).data.tags
    scorer = tags.get("scorer", "model")
    if tags.get("beats_baselines") != "True" and scorer == "model":
        return Promotion(model, False, f"candidate v{cand_v} does not beat its baselines: "
                         f"{tags.get('verdict', '?')}", cand_v,
                         champion.version if champion else None)
    frame = load_eval_frame(client, candidate.run_id)
    cand_bundle = load_bundle(f"models:/{name}/{cand_v}")
    cand_value = evaluate_bundle(model, cand_bundle, frame)
    what = ("beats its baselines" if scorer == "model"
            else f"scores with baseline {scorer} (the model lost to it)")
    if champion is None:
        client.set_registered_model_alias(name, CHAMPION, cand_v)
        return Promotion(model, True, f"no champion yet; candidate v{cand_v} {what} "
                         f"({tags.get('verdict')})", cand_v, None, cand_value)
    champ_bundle = load_bundle(f"models:/{name}/{champion.version}")
    try:
        champ_value = evaluate_bundle(model, champ_bundle, frame)
    except KeyError as exc:
        return Promotion(model, False, f"champion v{champion.version} cannot be scored on the "
                         f"candidate's test data (missing {exc}); promote by hand with "
                         "`nba promote --force`", cand_v, champion.version, cand_value)
    if not np.isfinite(champ_value) or cand_value > champ_value + min_delta:
        client.set_registered_model_alias(name, CHAMPION, cand_v)
        return Promotion(model, True, f"candidate v{cand_v} {cand_value:.4f} > champion "
                         f"v{champion.version} {champ_value:.4f} on the candidate's test period",
                         cand_v, champion.version, cand_value, champ_value)
    return Promotion(model, False, f"candidate v{cand_v} {cand_value:.4f} does not beat champion "
                     f"v{champion.version} {champ_value:.4f} (+{min_delta}) on the candidate's "
                     "test period; champion kept", cand_v, champion.version, cand_value,
                     champ_value)


def force_promote(client: MlflowClient, model: str, version: str | None = None) -> Promotion:
    name = SPECS[model].registered
    latest = _latest(client, name)
    if version is None and latest is None:
        return Promotion(model, False, f"no registered version of {name}: run `nba train` first")
    v = version or latest.version
    client.set_registered_model_alias(name, CHAMPION, v)
    return Promotion(model, True, f"v{v} set as champion by hand (--force)", v)
