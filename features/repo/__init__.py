"""The Feast repository: entities, data sources, feature views, on-demand views, services.

Object definitions depend on where a dataset's offline files live, so each module builds its
objects from an `OfflinePaths`; `definitions()` returns everything `FeatureStore.apply` needs.
"""

from __future__ import annotations

from features.repo.data_sources import OfflinePaths
from features.repo.feature_services import feature_services
from features.repo.feature_views import FeatureViews, feature_views


def definitions(paths: OfflinePaths) -> list:
    """All Feast objects of the repository, for `FeatureStore.apply`."""
    from features.repo.entities import customer, product

    fvs = feature_views(paths)
    return [customer(), product(), *fvs.all(), *feature_services(fvs)]


__all__ = ["FeatureViews", "OfflinePaths", "definitions", "feature_views"]
