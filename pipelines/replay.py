"""`nba replay`: the real-time loop on simulated events.

The online state is rebuilt as of `start` (materialize up to then, in a separate Feast project so
the live store is untouched); then the events after `start` stream in time order through the
live path in ticks of simulated time. Trigger events get a decision at their time; a decided
email is re-checked when its send time comes: sent (and logged as an `email_sent` event, so caps
apply), or cancelled because the customer bought in between. A sent email's escalation plan
is carried out the same way: each push / SMS step, when due, is sent (an `sms_sent` /
`push_sent` event, so the channel caps apply) or cancelled (`step_status`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace

import pandas as pd
from rich.progress import Progress

from features import schema as s
from features.settings import Settings
from features.sources.dataset import read_dataset
from pipelines.console import console, step
from serving.policy.escalation import step_status
from serving.schemas import Action, Decision, DecisionRequest, PlanStep, TriggerEvent
from training.reasons import Reason, find

TRIGGERS = ("add_to_cart", "purchase", "signup", "product_view")
ABANDONMENT = (Action.CART_ABANDONMENT, Action.BROWSE_ABANDONMENT)


@dataclass
class Pending:
    decision: Decision
    trigger: TriggerEvent


@dataclass
class ReplayStats:
    events: int = 0
    rejected: int = 0
    decisions: int = 0
    actions: Counter = field(default_factory=Counter)
    sent: Counter = field(default_factory=Counter)
    cancelled: Counter = field(default_factory=Counter)
    steps: Counter = field(default_factory=Counter)  # escalation steps: "push sent", ...
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_replay(settings: Settings, hours: float = 24.0, tick_minutes: float = 10.0
               ) -> ReplayStats:
    from features.online.store_ops import materialize_start, seed_history
    from pipelines.feature_steps import apply_step, ensure_features
    from serving.engine import DecisionEngine

    ensure_features(settings)
    ds = read_dataset(settings.data_dir, with_truth=False)
    start = ds.end - pd.Timedelta(hours=hours)
    replay = replace(settings, feast_project=f"{settings.feast_project}_replay")
    step(f"rebuilding the online state as of {start:%Y-%m-%d %H:%M} (project "
         f"{replay.feast_project})")
    apply_step(replay)
    engine = DecisionEngine(replay)
    engine.store.materialize(materialize_start(ds.customers, ds.start).to_pydatetime(),
                             start.to_pydatetime())
    seed_history(replay, ds.events[ds.events[s.EVENT_TS] <= start], start)
    stream = ds.events[(ds.events[s.EVENT_TS] > start)].astype({s.EVENT_TYPE: str})
    stats = ReplayStats()
    pending: dict[str, Pending] = {}
    steps: list[tuple[Decision, PlanStep]] = []  # escalation steps of sent emails
    tick = pd.Timedelta(minutes=tick_minutes)
    t0 = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("replaying", total=len(stream))
        clock = start
        while clock < ds.end:
            nxt = clock + tick
            batch = stream[(stream[s.EVENT_TS] > clock) & (stream[s.EVENT_TS] <= nxt)]
            if len(batch):
                res = engine.live.ingest(batch)
                stats.events += res.accepted
                stats.rejected += res.rejected
            steps += _send_due(engine, pending, nxt, stats)
            steps = _send_steps_due(engine, steps, nxt, stats)
            _decide_triggers(engine, batch, pending, stats)
            bar.advance(task, len(batch))
            clock = nxt
    stats.seconds = time.perf_counter() - t0
    engine.close()
    return stats


def _decide_triggers(engine, batch: pd.DataFrame, pending: dict[str, Pending],
                     stats: ReplayStats) -> None:
    trig = batch[batch[s.EVENT_TYPE].isin(TRIGGERS)].drop_duplicates(s.CUSTOMER_ID, keep="last")
    if trig.empty:
        return
    reqs = [DecisionRequest(customer_id=r[s.CUSTOMER_ID], now=r[s.EVENT_TS].to_pydatetime(),
                            trigger=TriggerEvent(event_type=r[s.EVENT_TYPE],
                                                 timestamp=r[s.EVENT_TS].to_pydatetime(),
                                                 product_id=r[s.PRODUCT_ID]))
            for r in trig.to_dict("records")]
    for req, d in zip(reqs, engine.decide_many(reqs), strict=True):
        stats.decisions += 1
        stats.actions[d.action.value] += 1
        if d.action != Action.NONE and d.customer_id not in pending:
            pending[d.customer_id] = Pending(d, req.trigger)


def _purchased_since(reasons: list[str]) -> bool:
    """The decision again at send time saw a purchase: the abandonment flow suppressed, or the
    post-purchase cross-sell a candidate."""
    if find(reasons, Reason.SUPPRESSED) is not None:
        return True
    candidates = (Reason.CANDIDATE.args(r) for r in reasons)
    return any(c is not None and c[0] == Action.POST_PURCHASE_CROSS_SELL for c in candidates)


def _send_due(engine, pending: dict[str, Pending], until: pd.Timestamp,
              stats: ReplayStats) -> list[tuple[Decision, PlanStep]]:
    """Send or cancel the emails due by `until`; the escalation steps of the sent ones."""
    due = [p for p in pending.values() if pd.Timestamp(p.decision.send_at) <= until]
    if not due:
        return []
    reqs = [DecisionRequest(customer_id=p.decision.customer_id, now=p.decision.send_at,
                            trigger=p.trigger) for p in due]
    sends, steps = [], []
    for p, again in zip(due, engine.decide_many(reqs), strict=True):
        del pending[p.decision.customer_id]
        action = p.decision.action
        if action in ABANDONMENT and again.action != action and _purchased_since(again.reasons):
            stats.cancelled[action.value] += 1
            if len(stats.examples) < 3:
                stats.examples.append(
                    f"{p.decision.customer_id}: {action.value} decided at "
                    f"{p.decision.decided_at:%H:%M}, cancelled at {p.decision.send_at:%H:%M}: "
                    "purchased before the send")
            continue
        stats.sent[action.value] += 1
        steps += [(p.decision, step) for step in p.decision.plan]
        sends.append({s.CUSTOMER_ID: p.decision.customer_id, s.EVENT_TYPE: "email_sent",
                      s.EVENT_TS: pd.Timestamp(p.decision.send_at), s.CAMPAIGN_ID:
                      f"nba_{action.value}", s.CHANNEL: "email",
                      s.EVENT_ID: f"nba-{p.decision.decision_id}"})
        if action == Action.CART_ABANDONMENT and len(stats.examples) < 6:
            stats.examples.append(
                f"{p.decision.customer_id}: cart reminder decided at "
                f"{p.decision.decided_at:%H:%M}, sent at {p.decision.send_at:%H:%M} "
                f"({p.decision.variant.value if p.decision.variant else '-'}, offer "
                f"{p.decision.offer.type.value} {p.decision.offer.value:.0f})")
    if sends:
        engine.live.ingest(pd.DataFrame(sends))
    return steps


def _send_steps_due(engine, steps: list[tuple[Decision, PlanStep]], until: pd.Timestamp,
                    stats: ReplayStats) -> list[tuple[Decision, PlanStep]]:
    """Send or cancel the escalation steps due by `until` (the caller's part of a plan, on the
    customer's online features at the step's time); the steps not yet due."""
    due = [(d, st) for d, st in steps if pd.Timestamp(st.at) <= until]
    if not due:
        return steps
    feats = engine.online.read([d.customer_id for d, _ in due],
                               [st.at.timestamp() for _, st in due])
    sends = []
    for (d, st), f in zip(due, feats, strict=True):
        status = step_status(st, d.decided_at, f)
        stats.steps[f"{st.channel.value} {'sent' if status == 'send' else status}"] += 1
        if status == "send":
            sends.append({s.CUSTOMER_ID: d.customer_id, s.EVENT_TYPE: f"{st.channel.value}_sent",
                          s.EVENT_TS: pd.Timestamp(st.at), s.CAMPAIGN_ID: f"nba_{d.action.value}",
                          s.CHANNEL: st.channel.value,
                          s.EVENT_ID: f"nba-{d.decision_id}-{st.channel.value}"})
    if sends:
        engine.live.ingest(pd.DataFrame(sends))
    return [(d, st) for d, st in steps if pd.Timestamp(st.at) > until]
