"""Follow-ups on what the customer did with the last email (within `followup_max_hours`):

- clicked -> `follow_up_clicked`: the recent views lead (newest first: the page the click
  opened), then the affinities;
- opened, no click -> `follow_up_opened`: alternatives, the affinities after the first
  `n_recommendations` (those an affinity email led with);
- not opened within `followup_ignored_hours` -> `follow_up_ignored`: the usual products,
  recomputed, under the variant after the current intent's, once (only while it is the one
  email unopened since the last open);
- purchased since -> no follow-up (`followup_stopped:purchased`); the recent purchase makes
  the post-purchase cross-sell a candidate instead.

What the customer did is read from the email events (send, open, click times); what the last
email showed is not (no feature names its decision or the clicked product: docs/policy.md,
"Follow-ups on the last email"). The caps, the minimum gap and quiet hours apply to follow-ups
like any other email.
"""

from __future__ import annotations

from dataclasses import replace

from serving.policy.config import PolicyConfig
from serving.policy.inputs import Catalog, PolicyInputs
from serving.policy.recommend import recommend
from serving.schemas import Action, Recommendation, Variant
from training.reasons import Reason

FOLLOW_UPS = (Action.FOLLOW_UP_CLICKED, Action.FOLLOW_UP_OPENED, Action.FOLLOW_UP_IGNORED)
VARIANTS = (Variant.URGENCY, Variant.COMPARISON, Variant.EDUCATIONAL)


def last_email_outcome(inp: PolicyInputs, cfg: PolicyConfig) -> str | None:
    """`purchased`, `clicked`, `opened`, `ignored` or `pending` for the last email sent within
    the follow-up window; None when there is none."""
    sent = inp.num("hours_since_last_email_sent")
    if sent is None or sent < 0 or sent > cfg.followup_max_hours:
        return None

    def since_send(name: str) -> bool:
        hours = inp.num(name)
        return hours is not None and hours <= sent

    if since_send("hours_since_last_purchase"):
        return "purchased"
    if since_send("hours_since_last_email_click"):
        return "clicked"
    if since_send("hours_since_last_email_open"):
        return "opened"
    return "ignored" if sent >= cfg.followup_ignored_hours else "pending"


def followup_candidates(inp: PolicyInputs,
                        cfg: PolicyConfig) -> tuple[list[tuple[Action, str]], list[str]]:
    """Follow-up candidates with their `<why>`, and reasons for follow-ups not made."""
    if not cfg.followups or not inp.known:
        return [], []
    outcome = last_email_outcome(inp, cfg)
    if outcome == "purchased":
        return [], [Reason.FOLLOWUP_STOPPED_PURCHASED]
    if outcome == "clicked":
        return [(Action.FOLLOW_UP_CLICKED, "clicked_last_email")], []
    if outcome == "opened":
        return [(Action.FOLLOW_UP_OPENED, "opened_no_click")], []
    if outcome == "ignored":
        unopened = inp.num("emails_since_last_open")
        if unopened is None:
            return [], [Reason.FOLLOWUP_STOPPED_UNOPENED_COUNT_UNKNOWN]
        if unopened > cfg.followup_max_unopened:  # followed up already, or stopped reading
            return [], [Reason.FOLLOWUP_STOPPED_IGNORED_AGAIN]
        return [(Action.FOLLOW_UP_IGNORED, f"not_opened_{cfg.followup_ignored_hours:g}h")], []
    return [], []


def followup_recommendations(action: Action, inp: PolicyInputs, cfg: PolicyConfig,
                             catalog: Catalog) -> tuple[list[Recommendation], str]:
    """The follow-up's products (the usual filters: in stock, not just bought, diverse)."""
    affinity = list(inp.scores.affinity)
    if action == Action.FOLLOW_UP_CLICKED:
        viewed = inp.items("recent_views")
        lead = [(p, 1.0) for p in viewed]
        seen = set(viewed)
        scores = replace(inp.scores, affinity=lead + [a for a in affinity if a[0] not in seen])
        recs, _ = recommend(action, replace(inp, scores=scores), cfg, catalog)
        for r in recs:
            if r.product_id in seen:
                r.reason = "recently_viewed"
        return recs, Reason.RECS_FOLLOWUP_VIEWED
    if action == Action.FOLLOW_UP_OPENED and len(affinity) > cfg.n_recommendations:
        n = cfg.n_recommendations  # an affinity email led with the first n: the next ones
        scores = replace(inp.scores, affinity=affinity[n:] + affinity[:n])
        recs, _ = recommend(action, replace(inp, scores=scores), cfg, catalog)
        return recs, Reason.RECS_ALTERNATIVE
    return recommend(action, inp, cfg, catalog)


def alternative_variant(current: Variant) -> tuple[Variant, str]:
    """Another subject for an email that was not opened: the next variant in turn."""
    nxt = VARIANTS[(VARIANTS.index(current) + 1) % len(VARIANTS)]
    return nxt, Reason.VARIANT_ALTERNATIVE_SUBJECT.with_(nxt.value)
