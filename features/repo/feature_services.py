"""Feature services, one per model version: training and serving ask for the same list.

Models never see raw epoch timestamps (they would encode calendar time); they see the
request-time "hours since" features instead. The policy service holds everything serving needs.
"""

from __future__ import annotations

from feast import FeatureService

from features.repo.feature_views import FeatureViews
from features.transforms import POLICY_ONLY_FEATURES, RESPONSE_FEATURES

RAW_TIMESTAMPS = ("_ts",)
HOUR_FEATURES = ("open_hour_sin", "open_hour_cos", "active_hour_sin", "active_hour_cos")


def _model_features(fvs: FeatureViews) -> list[str]:
    return [f.name for f in fvs.activity.features
            if not f.name.endswith(RAW_TIMESTAMPS) and f.name not in POLICY_ONLY_FEATURES]


def _picked(fvs: FeatureViews, names: tuple[str, ...]) -> list:
    """Projections of whichever views hold `names` (each name from exactly one view)."""
    out, found = [], []
    for view in (fvs.activity, fvs.items, fvs.profile, fvs.context):
        mine = [n for n in names if n in {f.name for f in view.features}]
        if mine:
            out.append(view[mine])
            found += mine
    missing = sorted(set(names) - set(found))
    if missing or len(found) != len(set(found)):
        raise ValueError(f"feature names not held by exactly one view: {missing or found}")
    return out


def feature_services(fvs: FeatureViews) -> list[FeatureService]:
    model = _model_features(fvs)
    context = [f.name for f in fvs.context.features
               if f.name != "local_hour" and f.name not in POLICY_ONLY_FEATURES]
    behavior = [fvs.activity[model], fvs.profile[["consent"]], fvs.context[context]]
    email = [n for n in model if n.startswith(("email", "emails")) or n in HOUR_FEATURES]
    return [
        FeatureService(name="intent_v1", features=behavior,
                       description="Purchase intent (7-day purchase) model inputs"),
        FeatureService(name="churn_v1", features=behavior,
                       description="Churn risk (60 days without purchase or engagement) inputs"),
        FeatureService(
            name="send_time_v1",
            features=[fvs.activity[[*email, "site_events_30d", "site_events_90d"]],
                      fvs.profile[["utc_offset_hours"]],
                      fvs.context[["hours_since_last_email_open", "hours_since_last_site"]]],
            description="Send-time model inputs (hour-of-day profile and email behavior)"),
        FeatureService(
            name="response_v1", features=_picked(fvs, RESPONSE_FEATURES),
            description="Response (uplift) model inputs: logged with every decision and written "
                        "into simulated campaign logs (features/transforms.py RESPONSE_FEATURES)"),
        FeatureService(
            name="policy_v1",
            features=[fvs.activity, fvs.items, fvs.profile, fvs.context],
            description="Everything the decision policy reads for one customer"),
    ]
