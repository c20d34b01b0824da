"""The decision: eligibility first, then candidates, arbitration, variant, offer, products, time.

Every choice adds a reason code (docs/policy.md lists them).
"""

from __future__ import annotations

import numpy as np

from features.repo.feature_services import service_features
from serving.policy.arbitration import best_candidate, choose, expected_value
from serving.policy.candidates import candidates
from serving.policy.config import PolicyConfig
from serving.policy.control import in_control_group
from serving.policy.eligibility import ABANDONMENT, blocked, suppressed_by_purchase
from serving.policy.engagement import INTENSITY, engagement_reason, engagement_tier
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
from serving.schemas import Action, Decision, Variant
from training.arm_stats import context_bucket
from training.treatments import NONE, treatment_of

# Features the policy relies on; a known customer missing any of them is decided on defaults.
REQUIRED = service_features("policy_required_v1")


def variant(intent: float | None, cfg: PolicyConfig) -> tuple[Variant, str]:
    if intent is None:
        return Variant.EDUCATIONAL, "variant_educational_no_intent_score"
    if intent >= cfg.high_intent:
        return Variant.URGENCY, "variant_urgency_high_intent"
    if intent >= cfg.medium_intent:
        return Variant.COMPARISON, "variant_comparison_medium_intent"
    return Variant.EDUCATIONAL, "variant_educational_low_intent"


def _scores(inp: PolicyInputs, cfg: PolicyConfig) -> dict[str, float | None]:
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


def products_for(action: Action, inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog):
    """The email's recommendations and their reason (follow-ups choose theirs)."""
    if action in FOLLOW_UPS:
        return followup_recommendations(action, inp, cfg, catalog)
    return recommend(action, inp, cfg, catalog)


def decide(inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog, *, decision_id: str,
           model_versions: dict[str, str] | None = None,
           bandit: Thompson | None = None) -> Decision:
    reasons: list[str] = []
    if inp.degraded:
        reasons.append("store_unavailable_defaults_used")
    if not inp.known:
        reasons.append("unknown_customer_cold_start")
    elif any(inp.features.get(n) is None for n in REQUIRED):
        reasons.append("missing_features_defaulted")
    tier = engagement_tier(inp, cfg)
    if tier is not None:
        reasons.append(engagement_reason(tier))

    def finish(action: Action, *, chosen_reasons: list[str], evs: dict[Action, float],
               control: bool = False, treatment: str | None = None, why_t: str = "") -> Decision:
        recs, rec_reason = products_for(action, inp, cfg, catalog)
        out = Decision(
            decision_id=decision_id, customer_id=inp.customer_id, decided_at=inp.now,
            action=action, recommendations=recs, scores=_scores(inp, cfg),
            reasons=[*reasons, *chosen_reasons, rec_reason],
            model_versions=model_versions or {}, control_group=control,
            degraded=inp.degraded,
            expected_values={a.value: round(v, 4) for a, v in evs.items()},
            engagement_tier=tier, intensity=INTENSITY[tier] if tier is not None else None,
        )
        if action != Action.NONE:
            out.variant, why_variant = variant(inp.scores.intent, cfg)
            if action == Action.FOLLOW_UP_IGNORED:
                out.variant, why_variant = alternative_variant(out.variant)
            products = [r.product_id for r in recs]
            out.offer, why_offer = (
                choose_offer(action, inp, cfg, catalog, products) if treatment is None else
                offer_for_treatment(treatment, action, inp, cfg, catalog, products, why_t))
            out.send_at, why_time = send_time(action, inp, cfg)
            out.plan, why_plan = escalation_plan(action, out.send_at, inp, cfg)
            out.reasons += [why_variant, why_offer, *why_time, *why_plan]
        return out

    why_blocked = blocked(inp, cfg) or adaptive_block(inp, cfg)
    if why_blocked is not None:
        return finish(Action.NONE, chosen_reasons=[why_blocked], evs={})

    followups, why_no_followup = followup_candidates(inp, cfg)
    cands = candidates(inp, cfg) + followups + product_candidates(inp, catalog)
    if next_order_due(inp, cfg) and Action.RE_ENGAGEMENT not in dict(cands):
        cands.append((Action.RE_ENGAGEMENT, "next_order_due"))
    suppressed = []
    if suppressed_by_purchase(inp):
        suppressed = [a for a, _ in cands if a in ABANDONMENT]
        cands = [(a, r) for a, r in cands if a not in ABANDONMENT]
    cand_reasons = [f"candidate_{a.value}:{r}" for a, r in cands]
    cand_reasons += [f"suppressed_{a.value}:purchased_after_trigger" for a in suppressed]
    cand_reasons += why_no_followup
    evs = {a: expected_value(a, inp, cfg) for a, _ in cands}
    action, why = choose(evs, cfg)
    if in_control_group(inp.customer_id, cfg):
        return finish(Action.NONE, chosen_reasons=[*cand_reasons, why, "control_group_holdout:"
                                                   f"{action.value}"], evs=evs, control=True)
    if not evs:
        return finish(action, chosen_reasons=[*cand_reasons, why], evs=evs)
    flow = best_candidate(evs)  # the message to send, if anything is sent
    treatment, why_resp = None, []
    resp = inp.scores.response
    if resp:  # a response model decides whether to send and which offer (its policy's choice)
        best = inp.scores.response_choice or max(resp, key=lambda t: (resp[t], t == NONE))
        gain = resp[best] - resp.get(NONE, 0.0)
        if best == NONE:
            action, why_resp = Action.NONE, [f"response_model_no_gain:{flow.value}"]
        else:
            action, treatment = flow, best
            why_resp = [f"response_model_best:{best}:{gain:+.2f}"]
    if cfg.explore_method == "thompson" and bandit is not None:
        return thompson_decision(inp, cfg, catalog, bandit, decision_id, flow, finish,
                                 [*cand_reasons, why], evs)
    greedy = finish(action, chosen_reasons=[*cand_reasons, why, *why_resp], evs=evs,
                    treatment=treatment, why_t="response_model")
    greedy_t = treatment_of(greedy.action, greedy.offer)
    arm = explored_treatment(decision_id, cfg)
    if arm is None:
        if cfg.explore_share > 0:  # exploring sometimes, so exploiting is not certain
            greedy.propensity = propensity(greedy_t, greedy_t, cfg,
                                           realized(flow, inp, cfg, catalog))
        return greedy
    out = finish(Action.NONE if arm == NONE else flow, evs=evs, treatment=arm, why_t="explore",
                 chosen_reasons=[*cand_reasons, why, *why_resp, f"explore:{arm}:greedy_{greedy_t}"])
    out.propensity = propensity(treatment_of(out.action, out.offer), greedy_t, cfg,
                                realized(flow, inp, cfg, catalog))
    return out


def thompson_decision(inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog,
                      bandit: Thompson, decision_id: str, flow: Action, finish,
                      reasons: list[str], evs: dict[Action, float]) -> Decision:
    """The treatment drawn by Thompson sampling in the customer's context bucket, and the
    probability of the treatment the customer really gets (a discount the margin forbids
    becomes a plain email, so the arms realizing the same treatment add up)."""
    bucket = context_bucket(inp.features)
    arm, _ = bandit.choose(decision_id, bucket)
    out = finish(Action.NONE if arm == NONE else flow, evs=evs, treatment=arm,
                 why_t="thompson", chosen_reasons=[*reasons, f"thompson:{arm}:{bucket}"])
    got = treatment_of(out.action, out.offer)
    to = realized(flow, inp, cfg, catalog)
    probs = bandit.probabilities(bucket)
    out.propensity = float(sum(p for a, p in zip(bandit.arms, probs, strict=True)
                               if to(a) == got))
    return out


def realized(flow: Action, inp: PolicyInputs, cfg: PolicyConfig, catalog: Catalog):
    """What each exploration arm becomes for this customer (margin caps included)."""
    products = [r.product_id for r in products_for(flow, inp, cfg, catalog)[0]]

    def arm_to_treatment(arm: str) -> str:
        if arm == NONE:
            return NONE
        offer, _ = offer_for_treatment(arm, flow, inp, cfg, catalog, products, "explore")
        return treatment_of(flow, offer)

    return arm_to_treatment
