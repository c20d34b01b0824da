"""The feature lists serving keeps (the decision log's fields, the policy's required inputs)
are the Feast feature services of features/repo, so a feature added to a service reaches them."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from features.repo.feature_services import NAMED, service_features
from serving.decision_log import LOG_FIELDS

REQUIRED = importlib.import_module("serving.policy.decide").REQUIRED


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Every feature service the repository registers: its feature names, as Feast lists them."""
    from features.repo.data_sources import OfflinePaths
    from features.repo.feature_services import feature_services
    from features.repo.feature_views import feature_views

    paths = OfflinePaths(Path(tmp_path_factory.mktemp("repo")))
    return {fs.name: [f.name for p in fs.feature_view_projections for f in p.features]
            for fs in feature_services(feature_views(paths))}


def test_serving_lists_are_the_feature_services(services: dict[str, list[str]]) -> None:
    assert service_features("decision_log_v1") == LOG_FIELDS
    assert service_features("policy_required_v1") == REQUIRED
    for name in NAMED:  # Feast groups a service's features by view: same names, once each
        assert sorted(services[name]) == sorted(service_features(name)), name
        assert len(set(services[name])) == len(services[name]), name


def test_logged_and_required_features_are_read_online(services: dict[str, list[str]]) -> None:
    # the online reader returns `policy_v1`; a name outside it would be logged as null forever
    read = set(services["policy_v1"])
    assert set(LOG_FIELDS) <= read
    assert set(REQUIRED) <= read
    # every decision logs the response model's inputs and what the policy required
    assert set(services["response_v1"]) <= set(LOG_FIELDS)
    assert set(REQUIRED) <= set(LOG_FIELDS)
