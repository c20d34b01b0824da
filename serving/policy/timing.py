"""When to send: a delay window per action, moved to the customer's best predicted hour,
out of quiet hours, and after the minimum gap since the last email."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from serving.policy.config import PolicyConfig
from serving.policy.inputs import PolicyInputs
from serving.schemas import Action
from training.reasons import Reason

HOUR = timedelta(hours=1)


def window(action: Action, inp: PolicyInputs, cfg: PolicyConfig) -> tuple[datetime, datetime]:
    """Earliest and latest send time by the action's delay rule (`send_windows`), else the next
    day (`later_delay_hours`, `later_window_hours`)."""
    now = inp.now
    if action in cfg.send_windows:
        earliest, latest = cfg.send_windows[action]
        return now + timedelta(hours=earliest), now + timedelta(hours=latest)
    nxt = (now + timedelta(hours=cfg.later_delay_hours)).replace(minute=0, second=0,
                                                                 microsecond=0)
    return nxt, nxt + timedelta(hours=cfg.later_window_hours)


def _local_hour(t: datetime, offset_hours: float) -> float:
    return ((t.hour + t.minute / 60 + offset_hours) % 24)


def send_time(action: Action, inp: PolicyInputs, cfg: PolicyConfig) -> tuple[datetime, list[str]]:
    start, end = window(action, inp, cfg)
    reasons = []
    candidates = [start + i * HOUR for i in range(int((end - start) / HOUR) + 1)]
    candidates = [c for c in candidates if c <= end] or [start]
    probs = inp.scores.hour_probs
    if probs is not None and len(candidates) > 1:
        p = np.asarray(probs)
        best = max(candidates, key=lambda c: (p[c.hour], -c.timestamp()))
        if best != start:
            reasons.append(Reason.SEND_AT_BEST_HOUR)
        at = best
    else:
        at = start
    # the minimum gap first, then quiet hours: a gap that ends at night moves to the morning
    last = inp.num("last_email_sent_ts")
    if last is not None and cfg.min_gap_hours > 0:
        earliest = datetime.fromtimestamp(last, tz=at.tzinfo) + timedelta(hours=cfg.min_gap_hours)
        if at < earliest:
            at = earliest
            reasons.append(Reason.MIN_GAP_DELAY)
    at, shifted = out_of_quiet_hours(at, inp, cfg)
    if shifted:
        reasons.append(Reason.QUIET_HOURS_SHIFT)
    return at, reasons


def out_of_quiet_hours(at: datetime, inp: PolicyInputs,
                       cfg: PolicyConfig) -> tuple[datetime, bool]:
    """`at`, or the end of the customer's quiet hours when `at` falls inside them (and
    whether it moved)."""
    offset = inp.num("utc_offset_hours", 0.0) or 0.0
    qs, qe = cfg.quiet_start_hour, cfg.quiet_end_hour
    local = _local_hour(at, offset)
    quiet = (local >= qs or local < qe) if qs > qe else (qs <= local < qe)
    if not quiet or qs == qe:
        return at, False
    at = at + timedelta(hours=(qe - local) % 24)
    return (at.replace(minute=0, second=0, microsecond=0) if at.minute or at.second else at), True
