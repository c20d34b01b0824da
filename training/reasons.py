"""Reason codes: every reason the decision policy writes into a decision (and the content at
open), the stable strings of the API and the decision log (docs/policy.md, "Reason codes").

The policy (`serving/policy/`) emits them, the outcome join, replay and the reports parse them
back. They live here, beside the treatment vocabulary, because training reads the decision log
and imports nothing from serving (tests/test_layers.py).

A member without `<...>` is the reason string itself (`Reason.NO_CONSENT == "no_consent"`). A
member with placeholders is a template: `Reason.CONTROL_GROUP_HOLDOUT.with_("welcome")` gives
`control_group_holdout:welcome`, and `parse("control_group_holdout:welcome")` gives
`(Reason.CONTROL_GROUP_HOLDOUT, ("welcome",))`.
"""

from __future__ import annotations

import re
from enum import StrEnum

_PLACEHOLDER = re.compile(r"<([a-z_]+)>")
# what a placeholder matches; the rest match anything up to the next ':'
_PATTERNS = {
    "action": r"[a-z_]+",
    "treatment": r"none|email(?:_\d+)?",
    "discount": r"email_\d+",
    "source": r"response_model|explore|thompson",
    "skip": r"no_consent|cap_day|cap_week",
    "variant_reason": r"variant_(?:urgency|comparison|educational|reactivation)_[a-z_]+",
    "bucket": r".+",  # context buckets and product ids may hold any character
    "product": r".+",
}


class Reason(StrEnum):
    """Every reason code, in the order the policy decides (docs/policy.md)."""

    # data state
    STORE_UNAVAILABLE_DEFAULTS_USED = "store_unavailable_defaults_used"
    UNKNOWN_CUSTOMER_COLD_START = "unknown_customer_cold_start"
    MISSING_FEATURES_DEFAULTED = "missing_features_defaulted"
    ENGAGEMENT = "engagement_<tier>:<intensity>"
    # eligibility
    CONSENT_UNKNOWN = "consent_unknown"
    NO_CONSENT = "no_consent"
    UNSUBSCRIBED = "unsubscribed"
    CAP_DAY_REACHED = "cap_day_reached"
    CAP_WEEK_REACHED = "cap_week_reached"
    CAP_WEEK_ADAPTIVE = "cap_week_adaptive:<why>"
    # candidates
    CANDIDATE = "candidate_<action>:<why>"
    SUPPRESSED = "suppressed_<action>:purchased_after_trigger"
    FOLLOWUP_STOPPED_PURCHASED = "followup_stopped:purchased"
    FOLLOWUP_STOPPED_IGNORED_AGAIN = "followup_stopped:ignored_again"
    FOLLOWUP_STOPPED_UNOPENED_COUNT_UNKNOWN = "followup_stopped:unopened_count_unknown"
    # arbitration, control group
    HIGHEST_EXPECTED_VALUE = "highest_expected_value:<action>"
    BELOW_VALUE_THRESHOLD = "below_value_threshold"
    NO_CANDIDATE = "no_candidate"
    CONTROL_GROUP_HOLDOUT = "control_group_holdout:<action>"
    # response model, exploration
    RESPONSE_MODEL_BEST = "response_model_best:<treatment>:<gain>"
    RESPONSE_MODEL_NO_GAIN = "response_model_no_gain:<action>"
    EXPLORE = "explore:<treatment>:greedy_<treatment>"
    THOMPSON = "thompson:<treatment>:<bucket>"
    # variant
    VARIANT_URGENCY_HIGH_INTENT = "variant_urgency_high_intent"
    VARIANT_COMPARISON_MEDIUM_INTENT = "variant_comparison_medium_intent"
    VARIANT_EDUCATIONAL_LOW_INTENT = "variant_educational_low_intent"
    VARIANT_EDUCATIONAL_NO_INTENT_SCORE = "variant_educational_no_intent_score"
    VARIANT_ALTERNATIVE_SUBJECT = "variant_<variant>_alternative_subject"
    VARIANT_REACTIVATION_LOW_ENGAGEMENT = "variant_reactivation_low_engagement"
    # offer
    OFFER_NONE = "offer_none"
    OFFER_NONE_HIGH_INTENT = "offer_none_high_intent"
    OFFER_NONE_PRICE_DROP = "offer_none_price_drop"
    OFFER_DISCOUNT_CHURN_RISK = "offer_discount_churn_risk"
    OFFER_DISCOUNT_MEDIUM_INTENT = "offer_discount_medium_intent"
    OFFER_DISCOUNT_CAPPED_BY_MARGIN = "offer_discount_capped_by_margin"
    OFFER_FREE_SHIPPING_MARGIN_TOO_LOW = "offer_free_shipping_margin_too_low"
    OFFER_NONE_MARGIN_TOO_LOW = "offer_none_margin_too_low"
    OFFER_TREATMENT = "offer_<discount>_<source>"  # a chosen treatment's discount
    OFFER_NONE_TREATMENT = "offer_none_<source>"  # a chosen plain email
    OFFER_NONE_EXCEEDS_MARGIN = "offer_none_<source>_<discount>_exceeds_margin"
    # recommendations
    RECS_AFFINITY = "recs_affinity"
    RECS_CART_FIRST = "recs_cart_first"
    RECS_POPULAR_COLD_START = "recs_popular_cold_start"
    RECS_PRICE_DROP_FIRST = "recs_price_drop_first"
    RECS_BACK_IN_STOCK_FIRST = "recs_back_in_stock_first"
    RECS_FOLLOWUP_VIEWED = "recs_followup_viewed"
    RECS_ALTERNATIVE = "recs_alternative"
    RECS_PREMIUM_HIGHER_VALUE = "recs_premium_higher_value"
    RECS_REACTIVATION_BEST_SELLERS = "recs_reactivation_best_sellers"
    # send time
    SEND_AT_BEST_HOUR = "send_at_best_hour"
    MIN_GAP_DELAY = "min_gap_delay"
    QUIET_HOURS_SHIFT = "quiet_hours_shift"
    # channel escalation
    ESCALATION_STEP = "escalation_<channel>_after_<hours>h"
    ESCALATION_SKIPPED = "escalation_skipped:<channel>_<skip>"
    ESCALATION_QUIET_HOURS_SHIFT = "escalation_quiet_hours_shift:<channel>"
    # content at open
    STORE_UNAVAILABLE_STORED_CONTENT = "store_unavailable_stored_content"
    OPEN_REMOVED_BOUGHT = "open_removed_bought:<product>"
    OPEN_REMOVED_OUT_OF_STOCK = "open_removed_out_of_stock:<product>"
    OPEN_RECS_RERANKED = "open_recs_reranked"
    OPEN_RECS_AS_SENT = "open_recs_as_sent"
    OPEN_OFFER_COUNTDOWN = "open_offer_countdown"
    OPEN_OFFER_EXPIRED_REMOVED = "open_offer_expired_removed"
    OPEN_OFFER_REMOVED_EXCEEDS_MARGIN = "open_offer_removed_exceeds_margin"
    OPEN_VARIANT = "open_<variant_reason>"  # the variant's reason, now
    OPEN_VARIANT_AS_SENT = "open_variant_as_sent"

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The names of the member's parameters, in order (none for a plain code)."""
        return tuple(_PLACEHOLDER.findall(self.value))

    def with_(self, *args: object) -> str:
        """The reason string with the parameters filled in, in order."""
        names = self.placeholders
        if len(args) != len(names):
            raise ValueError(f"{self.name} takes {len(names)} arguments {names}, got {args}")
        it = iter(str(a) for a in args)
        return _PLACEHOLDER.sub(lambda _: next(it), self.value)

    def args(self, reason: str) -> tuple[str, ...] | None:
        """The parameters if `reason` is this code, else None."""
        if not self.placeholders:
            return () if reason == self.value else None
        prefix, pattern = _MATCHERS[self]
        m = pattern.fullmatch(reason) if reason.startswith(prefix) else None
        return None if m is None else m.groups()


def _matcher(code: Reason) -> tuple[str, re.Pattern[str]]:
    """The literal prefix of a template and its regex (one group per placeholder)."""
    parts = _PLACEHOLDER.split(code.value)  # literal, name, literal, name, ...
    regex = "".join(re.escape(p) if i % 2 == 0 else f"({_PATTERNS.get(p, '[^:]+')})"
                    for i, p in enumerate(parts))
    return parts[0], re.compile(regex)


_MATCHERS = {code: _matcher(code) for code in Reason if code.placeholders}
_PLAIN = {code.value: code for code in Reason if not code.placeholders}


def parse(reason: str) -> tuple[Reason, tuple[str, ...]]:
    """The code of a reason string and its parameters; ValueError for an unknown reason."""
    code = _PLAIN.get(reason)
    if code is not None:
        return code, ()
    for code in _MATCHERS:
        got = code.args(reason)
        if got is not None:
            return code, got
    raise ValueError(f"unknown reason code {reason!r}")


def find(reasons: list[str] | None, code: Reason) -> tuple[str, ...] | None:
    """The parameters of the first reason with `code` (None: no such reason)."""
    for r in reasons if reasons is not None else ():
        got = code.args(r)
        if got is not None:
            return got
    return None
