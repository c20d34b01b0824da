"""Outcomes of logged decisions: what each customer did in the window after a decision
(open, click, purchase, revenue, unsubscribe), joined into a table a response model trains on.

The treatment of a decision is what the customer got: `none`, `email`, or `email_<percent>`
for an email with a percent-off offer. Its propensity is the probability the service had of
giving it, control group included: with control share s, a decision the policy made with
probability p has propensity (1 - s) p (+ s when the treatment is `none`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from features import schema as s
from features.transforms import epoch_seconds
from training.reasons import Reason, find
from training.treatments import NONE, treatment_of

OUTCOME_TYPES = {"opened": s.EventType.EMAIL_OPEN, "clicked": s.EventType.EMAIL_CLICK,
                 "purchased": s.EventType.PURCHASE, "unsubscribed": s.EventType.UNSUBSCRIBE}


class DecisionLogError(ValueError):
    pass


def read_decision_log(path: Path) -> pd.DataFrame:
    """Decisions from a JSON-lines file or a directory of them (`DATA/decisions/`)."""
    files = sorted(path.glob("decisions-*.jsonl")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise DecisionLogError(f"{path}: no decision log files (decisions-*.jsonl)")
    records = []
    for f in files:
        for n, line in enumerate(f.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise DecisionLogError(f"{f}:{n}: not a JSON decision ({exc})") from None
    if not records:
        raise DecisionLogError(f"{path}: the decision log is empty")
    return pd.DataFrame.from_records(records)


def _intended(reasons: list[str]) -> str | None:
    """The action a control-group decision would have taken (from its reason code)."""
    held = find(reasons, Reason.CONTROL_GROUP_HOLDOUT)
    return None if held is None else held[0]


def join_outcomes(decisions: pd.DataFrame, events: pd.DataFrame, window: pd.Timedelta,
                  control_share: float) -> pd.DataFrame:
    """One row per decision whose outcome window has ended by the last event: the logged
    inputs and scores as features, treatment, propensity and outcomes. Decisions still inside
    their window are left out (join again later)."""
    need = ("decision_id", "customer_id", "decided_at", "action")
    missing = [c for c in need if c not in decisions.columns]
    if missing:
        raise DecisionLogError(f"decision records lack {', '.join(missing)}")
    d = decisions.copy()
    d["decided_at"] = pd.to_datetime(d["decided_at"], utc=True, format="ISO8601")
    end = events[s.EVENT_TS].max()
    d = d[d["decided_at"] + window <= end].reset_index(drop=True)
    offers = d["offer"] if "offer" in d else pd.Series([None] * len(d))
    d["treatment"] = [treatment_of(a, o) for a, o in zip(d["action"], offers, strict=True)]
    share = float(control_share)
    control = (d["control_group"].fillna(False).astype(bool) if "control_group" in d
               else pd.Series(False, index=d.index))
    p_policy = (pd.to_numeric(d["propensity"], errors="coerce").fillna(1.0)
                if "propensity" in d else pd.Series(1.0, index=d.index))
    is_none = d["treatment"] == NONE
    reasons = d["reasons"] if "reasons" in d else pd.Series([[]] * len(d))
    intended_none = [(_intended(r) or "none") == "none" for r in reasons]
    d["propensity"] = np.where(control, share + (1 - share) * np.asarray(intended_none, float),
                               (1 - share) * p_policy + share * is_none)
    # what followed: events of the customer in (decided_at, decided_at + window]
    ev = events[events[s.EVENT_TYPE].isin(list(OUTCOME_TYPES.values()))]
    ev = ev[ev[s.CUSTOMER_ID].isin(set(d["customer_id"]))]
    pairs = d[["decision_id", "customer_id", "decided_at"]].merge(
        ev[[s.CUSTOMER_ID, s.EVENT_TYPE, s.EVENT_TS, s.PRICE, s.QUANTITY]],
        left_on="customer_id", right_on=s.CUSTOMER_ID, how="inner")
    t, t0 = epoch_seconds(pairs[s.EVENT_TS]), epoch_seconds(pairs["decided_at"])
    pairs = pairs[(t > t0) & (t <= t0 + window.total_seconds())]
    out = d[["decision_id", "customer_id", "decided_at", "action", "treatment", "propensity"]]
    out = out.assign(control_group=control.to_numpy())
    for name, etype in OUTCOME_TYPES.items():
        hit = set(pairs.loc[pairs[s.EVENT_TYPE] == etype, "decision_id"])
        out[name] = out["decision_id"].isin(hit).astype(int)
    buys = pairs[pairs[s.EVENT_TYPE] == s.EventType.PURCHASE]
    qty = buys[s.QUANTITY].fillna(1).clip(lower=1)
    revenue = (buys[s.PRICE].fillna(0) * qty).groupby(buys["decision_id"]).sum()
    out["revenue"] = out["decision_id"].map(revenue).fillna(0.0).round(2)
    inputs = pd.DataFrame.from_records(
        [r if isinstance(r, dict) else {} for r in d.get("inputs", [{}] * len(d))])
    scores = pd.DataFrame.from_records(
        [r if isinstance(r, dict) else {} for r in d.get("scores", [{}] * len(d))])
    scores = scores[[c for c in ("intent", "churn") if c in scores]].add_prefix("score_")
    feats = pd.concat([inputs, scores], axis=1).apply(pd.to_numeric, errors="coerce")
    feats = feats.rename(columns={c: f"{c}_before" for c in feats.columns if c in out.columns})
    return pd.concat([out.reset_index(drop=True), feats.reset_index(drop=True)], axis=1)
