"""Feast feature views. Feature names and order come from `features.transforms`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from feast import FeatureView
from feast.field import Field
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.types import Array, Float32, Float64, Int64, String

from features.repo import data_sources as src
from features.repo.entities import customer, product
from features.repo.on_demand import customer_context
from features.transforms import (
    INT_FEATURES,
    ITEM_FEATURES,
    PRODUCT_FEATURES,
    PROFILE_FEATURES,
    activity_feature_names,
)

NO_TTL = timedelta(0)  # rows stay valid until replaced (features carry their own lookback)


def _dtype(name: str):
    return Int64 if name in INT_FEATURES else Float64


@dataclass(frozen=True)
class FeatureViews:
    activity: FeatureView
    items: FeatureView
    profile: FeatureView
    products: FeatureView
    context: OnDemandFeatureView

    def all(self) -> list:
        return [self.activity, self.items, self.profile, self.products, self.context]


def feature_views(paths: src.OfflinePaths) -> FeatureViews:
    activity = FeatureView(
        name="customer_activity",
        entities=[customer()],
        ttl=NO_TTL,
        schema=[Field(name=n, dtype=_dtype(n)) for n in activity_feature_names()],
        source=src.activity_source(paths),
        online=True,
        description="Behavior counts, recency, cart, email and time-of-day features after "
                    "each event (features/transforms.py)",
    )
    items = FeatureView(
        name="customer_items",
        entities=[customer()],
        ttl=NO_TTL,
        schema=[Field(name=n, dtype=Array(String) if "hist" not in n else Array(Float32))
                for n in ITEM_FEATURES],
        source=src.items_source(paths),
        online=True,
        description="Serving-only lists: open cart, recent views and purchases, hour histograms",
    )
    profile = FeatureView(
        name="customer_profile",
        entities=[customer()],
        ttl=NO_TTL,
        schema=[Field(name=n, dtype=_dtype(n)) for n in PROFILE_FEATURES],
        source=src.profile_source(paths),
        online=True,
        description="Customer attributes from the customers table",
    )
    products = FeatureView(
        name="product_stats",
        entities=[product()],
        ttl=NO_TTL,
        schema=[Field(name=n, dtype=_dtype(n)) for n in PRODUCT_FEATURES],
        source=src.product_source(paths),
        online=True,
        description="Catalog attributes and daily popularity",
    )
    context = customer_context(activity, profile, src.request_source())
    return FeatureViews(activity, items, profile, products, context)
