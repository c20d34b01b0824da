"""On-demand feature view: request-time features (hours since the last event, ...)."""

from __future__ import annotations

from feast import FeatureView, RequestSource
from feast.field import Field
from feast.on_demand_feature_view import OnDemandFeatureView, on_demand_feature_view
from feast.types import Float64, Int64

from features.transforms import CONTEXT_FEATURES, CONTEXT_INPUTS


def customer_context(activity: FeatureView, profile: FeatureView,
                     request: RequestSource) -> OnDemandFeatureView:
    act = [n for n in CONTEXT_INPUTS if n in {f.name for f in activity.features}]
    prof = [n for n in CONTEXT_INPUTS if n in {f.name for f in profile.features}]
    schema = [Field(name=n, dtype=Int64 if n in {"cart_open", "local_hour"} else Float64)
              for n in CONTEXT_FEATURES]

    @on_demand_feature_view(
        name="customer_context",
        sources=[activity[act], profile[prof], request],
        schema=schema,
        mode="python",
        description="Request-time features computed by features.transforms.request_context",
    )
    def context(inputs: dict[str, list]) -> dict[str, list]:
        from features.transforms import request_context

        return {k: v.tolist() for k, v in request_context(inputs).items()}

    return context
