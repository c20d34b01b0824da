"""The model registry: one spec per model, every path resolves, names unique and consistent."""

from __future__ import annotations

import pytest

from training.model_specs import DATASET_MODELS, SPECS


@pytest.mark.parametrize("name", sorted(SPECS))
def test_trainer_and_evaluator_resolve_to_callables(name: str) -> None:
    spec = SPECS[name]
    assert spec.name == name
    assert callable(spec.train_fn())
    assert callable(spec.evaluate_fn())


def test_registered_names_are_unique() -> None:
    names = [s.registered for s in SPECS.values()]
    assert len(set(names)) == len(names)


def test_dataset_models_keep_their_order() -> None:
    assert DATASET_MODELS == ("intent", "churn", "send_time", "affinity")


def test_gate_metrics_match_what_the_evaluators_compute() -> None:
    from training.affinity import K
    from training.policy_eval import GATE

    assert SPECS["affinity"].gate_metric == f"recall_at_{K}"
    assert SPECS["response"].gate_metric == f"{GATE}_value"


def test_feature_services_exist(tmp_path) -> None:
    from features.repo.data_sources import OfflinePaths
    from features.repo.feature_services import feature_services
    from features.repo.feature_views import feature_views

    services = {fs.name for fs in feature_services(feature_views(OfflinePaths(tmp_path)))}
    assert {s.feature_service for s in SPECS.values() if s.feature_service} <= services


def test_promote_accepts_the_response_model_and_train_does_not() -> None:
    from pipelines.console import UserError
    from pipelines.train_steps import parse_models
    from training.model_specs import SPECS

    assert parse_models("response", tuple(SPECS)) == ["response"]
    assert parse_models(None, tuple(SPECS)) == list(DATASET_MODELS)
    with pytest.raises(UserError, match="unknown model"):
        parse_models("response")  # nba train: the response model is trained from a log
