"""Feature services, one per model version: training and serving ask for the same list.

Models never see raw epoch timestamps (they would encode calendar time); they see the
request-time "hours since" features instead. The policy service holds everything serving needs.

The services that are a list of names (`NAMED`) are also read without Feast, through
`service_features`: the decision log logs `decision_log_v1` and the policy requires
`policy_required_v1`, so a feature added to a service here reaches them (tests check both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from features.transforms import POLICY_ONLY_FEATURES, RESPONSE_FEATURES

if TYPE_CHECKING:
    from feast import FeatureService

    from features.repo.feature_views import FeatureViews

RAW_TIMESTAMPS = ("_ts",)
HOUR_FEATURES = ("open_hour_sin", "open_hour_cos", "active_hour_sin", "active_hour_cos")

# What the policy cannot decide without: a known customer missing any of them is decided on
# defaults (reason `missing_features_defaulted`).
POLICY_REQUIRED = ("consent", "unsubscribed", "emails_sent_24h", "emails_sent_7d", "cart_open",
                   "purchases_90d", "spend_90d")
# The policy's inputs kept with every decision to audit it, before the response model's.
DECISION_AUDIT = ("cart_open", "cart_value", "hours_since_last_view",
                  "hours_since_last_cart_add", "hours_since_last_purchase",
                  "hours_since_last_site", "emails_sent_24h", "emails_sent_7d", "purchases_90d",
                  "spend_90d", "consent", "unsubscribed")

# name -> (features in order, description): services picked by feature name from the views
NAMED: dict[str, tuple[tuple[str, ...], str]] = {
    "response_v1": (
        RESPONSE_FEATURES,
        "Response (uplift) model inputs: logged with every decision and written into simulated "
        "campaign logs (features/transforms.py RESPONSE_FEATURES)"),
    "policy_required_v1": (
        POLICY_REQUIRED,
        "What the policy cannot decide without: a known customer missing any of them is "
        "decided on defaults"),
    "decision_log_v1": (
        tuple(dict.fromkeys((*DECISION_AUDIT, *RESPONSE_FEATURES))),
        "Logged with every decision: the policy's key inputs and response_v1 (so outcomes can "
        "train the response model)"),
}


def service_features(name: str) -> tuple[str, ...]:
    """The features of a service in `NAMED`, in order, without importing Feast."""
    return NAMED[name][0]


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
    from feast import FeatureService

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
        *(FeatureService(name=name, features=_picked(fvs, names), description=description)
          for name, (names, description) in NAMED.items()),
        FeatureService(
            name="policy_v1",
            features=[fvs.activity, fvs.items, fvs.profile, fvs.context],
            description="Everything the decision policy reads for one customer"),
    ]
