"""The decision as typed stages, each a function of what the one before gave:

eligibility -> candidates -> arbitrate (and the control group) -> respond (response model)
-> explore (epsilon-greedy or Thompson) -> compose (variant, offer, recommendations, send time,
escalation plan; the engagement tier's intensity shapes the products and subject).

Every stage adds reason codes (`training/reasons.py`, listed in docs/policy.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from features.repo.feature_services import service_features
from serving.policy import candidates as rules  # the context rules (candidates.py)
from serving.policy.arbitration import best_candidate, choose, expected_value
from serving.policy.config import PolicyConfig
from serving.policy.control import in_control_group
from serving.policy.eligibility import ABANDONMENT, blocked, suppressed_by_purchase
from serving.policy.engagement import (
    INTENSITY,
    INTENSITY_RECS,
    REACTIVATION,
    content_intensity,
    engagement_reason,
    engagement_tier,
    intensity_affinity,
)
from serving.policy.escalation import escalation_plan
from serving.policy.exploration import (
    Thompson,
    explored_treatment,
    propensity,
)
from serving.policy.followups import (
    FOLLOW_UPS,
    alternative_variant,
    followup_candidates,
    followup_recommendations,
)
from serving.policy.frequency import adaptive_block
from serving.policy.inputs import Catalog, PolicyInputs
from serving.policy.next_order import next_order_days, next_order_due, next_order_value
from serving.policy.offers import choose_offer, offer_for_treatment
from serving.policy.product_events import product_candidates
from serving.policy.recommend import recommend
from serving.policy.timing import send_time
from serving.schemas import Action, Decision, EngagementTier, Offer, Recommendation, Variant
from training.arm_stats import context_bucket
from training.reasons import Reason
from training.treatments import NONE, treatment_of

# Features the policy relies on; a known customer missing any of them is decided on defaults.
REQUIRED = service_features("policy_required_v1")
NEXT_ORDER_DUE = "next_order_due"  # why re-engagement is a candidate before the next order


def variant(intent: float | None, cfg: PolicyConfig) -> tuple[Variant, str]:
    """The subject variant for the intent tier."""
    if intent is None:
        return Variant.EDUCATIONAL, Reason.VARIANT_EDUCATIONAL_NO_INTENT_SCORE
    if intent >= cfg.high_intent:
        return Variant.URGENCY, Reason.VARIANT_URGENCY_HIGH_INTENT
    if intent >= cfg.medium_intent:
        return Variant.COMPARISON, Reason.VARIANT_COMPARISON_MEDIUM_INTENT
    return Variant.EDUCATIONAL, Reason.VARIANT_EDUCATIONAL_LOW_INTENT


def _scores(inp: PolicyInputs, cfg: PolicyConfig) -> dict[str, float | None]:
    """The scores shown with the decision (models, engagement, next order), rounded."""
    out: dict[str, float | None] = {"intent": inp.scores.intent, "churn": inp.scores.churn}
    for name in ("intent_horizon_days", "churn_horizon_days"):
        if getattr(inp.scores, name) is not None:
            out[name] = getattr(inp.scores, name)
    if inp.scores.hour_probs is not None:
        p = np.asarray(inp.scores.hour_probs)
        out["best_hour_utc"] = float(np.argmax(p))
        out["best_hour_prob"] = float(p.max())
    for t, v in (inp.scores.response or {}).items():
        out[f"expected_{t}"] = float(v)
    if inp.scores.affinity:
        out["top_affinity"] = float(inp.scores.affinity[0][1])
    if inp.num("engagement_score") is not None:
        out["engagement"] = inp.num("engagement_score")
    for name, v in (("next_order_days", next_order_days(inp, cfg)),
                    ("next_order_value_12m", next_order_value(inp)),
                    ("p_alive", inp.scores.p_alive)):
        if v is not None:
            out[name] = v
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def recommendations(action: Action, inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog,
                    intensity: str | None = None) -> tuple[list[Recommendation], str]:
    """The email's recommendations and their reason (follow-ups choose theirs; `intensity`:
    premium or reactivation content, `content_intensity`)."""
    if action in FOLLOW_UPS:
        return followup_recommendations(action, inp, cfg, catalog)
    if intensity is None:
        return recommend(action, inp, cfg, catalog)
    affinity = intensity_affinity(intensity, inp.scores.affinity, catalog, cfg)
    shaped = replace(inp, scores=replace(inp.scores, affinity=affinity))
    recs, source = recommend(action, shaped, cfg, catalog)
    return recs, (INTENSITY_RECS[intensity] if source == Reason.RECS_AFFINITY else source)


@dataclass(frozen=True, slots=True)
class Context:
    """What every stage reads: the request, and the reasons known before any choice (data
    state, engagement tier)."""

    inp: PolicyInputs
    cfg: PolicyConfig
    catalog: Catalog
    decision_id: str
    model_versions: dict[str, str]
    tier: EngagementTier | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Candidates:
    """The flows that apply, with their expected values (in candidate order), and the reasons
    (candidates, suppressed flows, follow-ups not made)."""

    values: dict[Action, float]
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Choice:
    """What a stage decided: the action, the treatment a response model or exploration chose
    (None: the offer rules choose the offer), the stage that chose it (`source`, in the offer's
    reason), whether the customer is held out, and the reasons so far."""

    action: Action
    reasons: tuple[str, ...]
    treatment: str | None = None
    source: str = ""
    control: bool = False


def context(inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog, decision_id: str,
            model_versions: dict[str, str] | None) -> Context:
    """The data state (outage, cold start, missing features) and the engagement tier."""
    reasons: list[str] = []
    if inp.degraded:
        reasons.append(Reason.STORE_UNAVAILABLE_DEFAULTS_USED)
    if not inp.known:
        reasons.append(Reason.UNKNOWN_CUSTOMER_COLD_START)
    elif any(inp.features.get(n) is None for n in REQUIRED):
        reasons.append(Reason.MISSING_FEATURES_DEFAULTED)
    tier = engagement_tier(inp, cfg)
    if tier is not None:
        reasons.append(engagement_reason(tier))
    return Context(inp, cfg, catalog, decision_id, model_versions or {}, tier, tuple(reasons))


def eligibility(inp: PolicyInputs, cfg: PolicyConfig) -> str | None:
    """Why no email may go out now (consent, caps, the customer's adaptive cap), or None."""
    return blocked(inp, cfg) or adaptive_block(inp, cfg)


def candidates(inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog) -> Candidates:
    """The flows that apply (context rules, follow-ups, business events, next order), less the
    abandonment flows a later purchase suppresses, each with its expected value."""
    followups, why_no_followup = followup_candidates(inp, cfg)
    found = rules.candidates(inp, cfg) + followups + product_candidates(inp, catalog)
    if next_order_due(inp, cfg) and Action.RE_ENGAGEMENT not in dict(found):
        found.append((Action.RE_ENGAGEMENT, NEXT_ORDER_DUE))
    suppressed: list[Action] = []
    if suppressed_by_purchase(inp):
        suppressed = [a for a, _ in found if a in ABANDONMENT]
        found = [(a, why) for a, why in found if a not in ABANDONMENT]
    reasons = [Reason.CANDIDATE.with_(a.value, why) for a, why in found]
    reasons += [Reason.SUPPRESSED.with_(a.value) for a in suppressed]
    reasons += why_no_followup
    return Candidates({a: expected_value(a, inp, cfg) for a, _ in found}, tuple(reasons))


def arbitrate(found: Candidates, cfg: PolicyConfig) -> Choice:
    """The candidate of highest expected value, if it reaches the threshold."""
    action, why = choose(found.values, cfg)
    return Choice(action, (*found.reasons, why))


def hold_out(choice: Choice) -> Choice:
    """The control group gets nothing, with the action it would have got."""
    held = Reason.CONTROL_GROUP_HOLDOUT.with_(choice.action.value)
    return Choice(Action.NONE, (*choice.reasons, held), control=True)


def respond(choice: Choice, message: Action, inp: PolicyInputs) -> Choice:
    """With a response model: its treatment decides whether `message` goes out, and with which
    offer (its policy's choice, else the largest expected outcome)."""
    response = inp.scores.response
    if not response:
        return choice
    best = inp.scores.response_choice or max(response, key=lambda t: (response[t], t == NONE))
    if best == NONE:
        return Choice(Action.NONE,
                      (*choice.reasons, Reason.RESPONSE_MODEL_NO_GAIN.with_(message.value)))
    gain = response[best] - response.get(NONE, 0.0)
    why = Reason.RESPONSE_MODEL_BEST.with_(best, f"{gain:+.2f}")
    return Choice(message, (*choice.reasons, why), treatment=best, source="response_model")


def tried(arm: str, message: Action, reasons: tuple[str, ...], source: str) -> Choice:
    """An exploration arm as a choice: `none` sends nothing, any other arm sends `message`."""
    return Choice(Action.NONE if arm == NONE else message, reasons, treatment=arm, source=source)


def realized_treatments(arms: tuple[str, ...], message: Action, ctx: Context,
                        composed: Decision | None = None) -> dict[str, str]:
    """What each exploration arm becomes for this customer (a discount the margin does not
    allow becomes a plain email). `composed`: a decision already composed, whose products are
    the email's when it sends `message` (they are not chosen twice)."""
    inp, cfg, catalog = ctx.inp, ctx.cfg, ctx.catalog
    if composed is not None and composed.action == message:
        products = [r.product_id for r in composed.recommendations]
    else:
        intensity = content_intensity(ctx.tier, message, cfg)
        products = [r.product_id
                    for r in recommendations(message, inp, cfg, catalog, intensity)[0]]
    realized = {}
    for arm in arms:
        if arm == NONE:
            realized[arm] = NONE
        else:
            offer_, _ = offer_for_treatment(arm, message, inp, cfg, catalog, products, "explore")
            realized[arm] = treatment_of(message, offer_)
    return realized


def explore(greedy: Decision, choice: Choice, message: Action, values: dict[Action, float],
            ctx: Context) -> Decision:
    """Epsilon-greedy: a share of the decisions gets a treatment drawn uniformly instead of the
    greedy one; every decision records the probability of the treatment it got."""
    cfg = ctx.cfg
    greedy_treatment = treatment_of(greedy.action, greedy.offer)
    arm = explored_treatment(ctx.decision_id, cfg)
    if arm is None:
        if cfg.explore_share > 0:  # exploring sometimes, so exploiting is not certain
            realized = realized_treatments(cfg.explore_treatments, message, ctx, greedy)
            greedy.propensity = propensity(greedy_treatment, greedy_treatment, cfg,
                                           realized.__getitem__)
        return greedy
    why = Reason.EXPLORE.with_(arm, greedy_treatment)
    out = compose(tried(arm, message, (*choice.reasons, why), "explore"), values, ctx)
    realized = realized_treatments(cfg.explore_treatments, message, ctx, out)
    out.propensity = propensity(treatment_of(out.action, out.offer), greedy_treatment, cfg,
                                realized.__getitem__)
    return out


def thompson(choice: Choice, message: Action, values: dict[Action, float], bandit: Thompson,
             ctx: Context) -> Decision:
    """The treatment drawn by Thompson sampling in the customer's context bucket, and the
    probability of the treatment the customer really gets (a discount the margin forbids
    becomes a plain email, so the arms realizing the same treatment add up)."""
    bucket = context_bucket(ctx.inp.features)
    arm, _ = bandit.choose(ctx.decision_id, bucket)
    why = Reason.THOMPSON.with_(arm, bucket)
    out = compose(tried(arm, message, (*choice.reasons, why), "thompson"), values, ctx)
    got = treatment_of(out.action, out.offer)
    realized = realized_treatments(bandit.arms, message, ctx, out)
    probs = bandit.probabilities(bucket)
    out.propensity = float(sum(p for a, p in zip(bandit.arms, probs, strict=True)
                               if realized[a] == got))
    return out


def subject(action: Action, intent: float | None, cfg: PolicyConfig,
            intensity: str | None = None) -> tuple[Variant, str]:
    """The subject variant: the reactivation subject for reactivation content, else by intent
    tier, the next one for a follow-up on an unopened email."""
    if intensity == REACTIVATION:
        return Variant.REACTIVATION, Reason.VARIANT_REACTIVATION_LOW_ENGAGEMENT
    shown, why = variant(intent, cfg)
    if action == Action.FOLLOW_UP_IGNORED:
        return alternative_variant(shown)
    return shown, why


def offer(choice: Choice, inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog,
          products: list[str]) -> tuple[Offer, str]:
    """The chosen treatment's offer (margin permitting), else the offer rules'."""
    if choice.treatment is None:
        return choose_offer(choice.action, inp, cfg, catalog, products)
    return offer_for_treatment(choice.treatment, choice.action, inp, cfg, catalog, products,
                               choice.source)


def compose(choice: Choice, values: dict[Action, float], ctx: Context) -> Decision:
    """The decision for a choice: recommendations, scores, and for an email its variant,
    offer, send time and escalation plan."""
    inp, cfg, catalog, tier = ctx.inp, ctx.cfg, ctx.catalog, ctx.tier
    intensity = content_intensity(tier, choice.action, cfg)
    recs, why_recs = recommendations(choice.action, inp, cfg, catalog, intensity)
    out = Decision(
        decision_id=ctx.decision_id, customer_id=inp.customer_id, decided_at=inp.now,
        action=choice.action, recommendations=recs, scores=_scores(inp, cfg),
        reasons=[*ctx.reasons, *choice.reasons, why_recs],
        model_versions=ctx.model_versions, control_group=choice.control,
        degraded=inp.degraded,
        expected_values={a.value: round(v, 4) for a, v in values.items()},
        engagement_tier=tier, intensity=INTENSITY[tier] if tier is not None else None,
    )
    if choice.action != Action.NONE:
        out.variant, why_variant = subject(choice.action, inp.scores.intent, cfg, intensity)
        out.offer, why_offer = offer(choice, inp, cfg, catalog, [r.product_id for r in recs])
        out.send_at, why_time = send_time(choice.action, inp, cfg)
        out.plan, why_plan = escalation_plan(choice.action, out.send_at, inp, cfg)
        out.reasons += [why_variant, why_offer, *why_time, *why_plan]
    return out


def decide(inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog, *, decision_id: str,
           model_versions: dict[str, str] | None = None,
           bandit: Thompson | None = None) -> Decision:
    """The decision for one customer now (`bandit`: Thompson sampling's arm statistics)."""
    ctx = context(inp, cfg, catalog, decision_id, model_versions)
    why_blocked = eligibility(inp, cfg)
    if why_blocked is not None:
        return compose(Choice(Action.NONE, (why_blocked,)), {}, ctx)
    found = candidates(inp, cfg, catalog)
    choice = arbitrate(found, cfg)
    if in_control_group(inp.customer_id, cfg):
        return compose(hold_out(choice), found.values, ctx)
    if not found.values:
        return compose(choice, found.values, ctx)
    message = best_candidate(found.values)  # the email to send, if anything is sent
    if cfg.explore_method == "thompson" and bandit is not None:
        return thompson(choice, message, found.values, bandit, ctx)
    choice = respond(choice, message, inp)
    return explore(compose(choice, found.values, ctx), choice, message, found.values, ctx)
