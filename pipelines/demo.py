"""The demo job: simulate -> features -> train -> evaluate -> promote -> batch-score -> report.

Each step is a pipeline step usable alone from the CLI; the demo only wires them and skips
what is already built for this dataset (`--fresh` rebuilds everything).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from features.settings import Settings
from features.simulation.behavior import SimConfig
from features.sources.dataset import read_dataset
from pipelines.console import out, stage
from pipelines.data_steps import simulate_step
from pipelines.feature_steps import ensure_features
from pipelines.serve_steps import batch_score_step
from pipelines.train_steps import Trained, promote_step, train_step
from training.model_specs import DATASET_MODELS
from training.reasons import Reason

TRAINED_MARK = "trained.json"
RESPONSE_MARK = "response.json"


def _trained(settings: Settings) -> list[Trained] | None:
    path = settings.data_dir / "mlflow" / TRAINED_MARK
    if not path.exists():
        return None
    return [Trained(**r) for r in json.loads(path.read_text())]


def run_demo(settings: Settings, *, customers: int, days: int, fresh: bool) -> None:
    data = settings.data_dir
    if fresh and data.exists():
        shutil.rmtree(data)
    if not (data / "events.parquet").exists():
        with stage(f"1/7 simulating {customers:,} customers x {days} days"):
            simulate_step(SimConfig(customers=customers, days=days), data)
    else:
        out.print(f"1/7 reusing the dataset in {data} (--fresh rebuilds everything)")
    with stage("2/7 features: build, apply, materialize (what is missing)"):
        ensure_features(settings)
    results = _trained(settings)
    if results is None:
        with stage("3/7 training and evaluating all models against their baselines"):
            results = train_step(settings, list(DATASET_MODELS))
        (data / "mlflow" / TRAINED_MARK).write_text(json.dumps([r.__dict__ for r in results]))
    else:
        out.print("3/7 reusing the trained models (see MLflow)")
    with stage("4/7 promotion gate"):
        promotions = promote_step(settings, list(DATASET_MODELS))
    learned = learn_what_works(settings)
    target = data / "decisions.parquet"
    with stage("6/7 batch-scoring every customer"):
        frame, decisions = batch_score_step(settings, target)
    out.print("\n[bold]7/7 report[/bold]")
    report(settings, results, promotions, frame, decisions, target, learned)


def learn_what_works(settings: Settings) -> dict:
    """A randomized campaign on the simulated customers -> response model -> promotion."""
    from pipelines.response_steps import log_spec, simulate_campaign_step, train_response_step

    mark = settings.data_dir / "mlflow" / RESPONSE_MARK
    if mark.exists():
        out.print("5/7 reusing the response model (see MLflow experiment nba-response)")
        return json.loads(mark.read_text())
    log_path = settings.data_dir / "campaign_log.parquet"
    with stage("5/7 learning what works: randomized campaign -> response model"):
        simulate_campaign_step(settings, log_path)
        run = train_response_step(settings, log_path, log_spec(
            "treatment", "reward", "propensity", None, "none", "customer_id"), promote=True)
    rep = run.report
    summary = {"version": run.version, "promoted": run.promoted, "rows": rep.rows,
               "truth": rep.truth, "snips": {k: v["snips"].__dict__
                                            for k, v in rep.estimates.items()},
               "chosen": rep.chosen_share}
    mark.write_text(json.dumps(summary))
    return summary


def report(settings: Settings, results: list[Trained], promotions, frame: pd.DataFrame,
           decisions, target: Path, learned: dict | None = None) -> None:
    ds = read_dataset(settings.data_dir, with_truth=False)
    out.print(f"dataset {settings.data_dir}: {len(ds.events):,} events, {len(ds.customers):,} "
              f"customers, {ds.start:%Y-%m-%d} .. {ds.end:%Y-%m-%d}")
    out.print("\n[bold]models on the held-out test period[/bold]")
    out.print(f"  {'model':<10} {'metric':<16} {'model':>7} {'baseline':>9}  {'lift':>6}  verdict")
    for r in results:
        name, best = max(r.baselines.items(), key=lambda kv: kv[1])
        metric = r.primary_metric.removeprefix("test_")
        lift = r.value / best if best else float("nan")
        mark = "beats" if r.beats_baselines else "DOES NOT beat"
        out.print(f"  {r.name:<10} {metric:<16} {r.value:7.4f} {best:9.4f}  {lift:5.2f}x  "
                  f"{mark} {name} (v{r.version})")
    for p in promotions:
        out.print(f"  promote {p.model:<10} {'yes' if p.promoted else 'no '} - {p.reason}")
    if learned:
        _response_report(learned)
    n = len(frame)
    out.print(f"\n[bold]decisions for {n:,} customers[/bold] -> {target}")
    for action, c in frame["action"].value_counts().items():
        out.print(f"  {action:<26} {c:>7,} ({c / n:5.1%})")
    sends = frame[frame["action"] != "none"]
    if len(sends):
        offers = sends["offer_type"] + sends["offer_value"].map(
            lambda v: f" {v:.0f}%" if v else "")
        out.print("  offers on sends: " + ", ".join(
            f"{k} {v / len(sends):.0%}" for k, v in offers.value_counts().items()))
    out.print(f"  control group: {int(frame['control_group'].sum()):,} customers held out")
    _adaptive_report(decisions)
    _escalation_report(frame)
    out.print("\n[bold]examples[/bold]")
    first: dict[str, object] = {}
    for d in decisions:
        first.setdefault(d.action.value, d)
    shown = [a for a in first if a != "none"][:3] + (["none"] if "none" in first else [])
    for action in shown:
        d = first[action]
        products = ", ".join(r.product_id for r in d.recommendations[:3])
        if d.send_at is not None:
            out.print(f"  {d.customer_id}: {action} / {d.variant.value} / offer "
                      f"{d.offer.type.value} {d.offer.value:.0f} / send "
                      f"{d.send_at:%Y-%m-%d %H:%M} UTC / {products}")
        else:
            out.print(f"  {d.customer_id}: {action}")
        out.print(f"      reasons: {'; '.join(d.reasons)}")
    from pipelines.open_events_report import open_and_events_lines

    out.print("\n[bold]content at open, business events[/bold]")
    for line in open_and_events_lines(settings, decisions):
        out.print(line)
    out.print("\n[bold]next[/bold]")
    out.print(f"  mlflow ui --backend-store-uri {settings.tracking_uri}   # runs, plots, registry")
    out.print(f"  decisions: {target} (and the log in {settings.data_dir / 'decisions'})")
    out.print(f"  nba serve --data {settings.data_dir}   # HTTP API, docs at "
              "http://127.0.0.1:3000/docs")
    out.print(f"  nba replay --data {settings.data_dir}  # the real-time loop on live events")


def _adaptive_report(decisions: list) -> None:
    """One line each: follow-ups, engagement tiers, adaptive frequency (docs/policy.md)."""
    from collections import Counter

    from serving.policy.decide import NEXT_ORDER_DUE
    from serving.policy.followups import FOLLOW_UPS
    from serving.schemas import Action

    n = max(len(decisions), 1)
    follow = Counter(d.action.value for d in decisions if d.action in FOLLOW_UPS)
    out.print("  follow-ups on the last email: " + (", ".join(
        f"{a} {c:,}" for a, c in follow.most_common()) or "none"))
    tiers = Counter(d.engagement_tier.value if d.engagement_tier else "no data"
                    for d in decisions)
    out.print("  engagement tiers: " + ", ".join(f"{t} {c / n:.0%}"
                                                 for t, c in tiers.most_common()))
    capped = Counter(why for d in decisions for r in d.reasons
                     for why in Reason.CAP_WEEK_ADAPTIVE.args(r) or ())
    out.print(f"  adaptive frequency held back {sum(capped.values()):,} customers" + (
        " (" + ", ".join(f"{w} {c:,}" for w, c in capped.most_common()) + ")" if capped else "")
        + "; closed-loop effect: python benchmarks/adaptive.py")
    days = [v for d in decisions if (v := d.scores.get("next_order_days")) is not None]
    value = [v for d in decisions if (v := d.scores.get("next_order_value_12m")) is not None]
    due_reason = Reason.CANDIDATE.with_(Action.RE_ENGAGEMENT.value, NEXT_ORDER_DUE)
    due = sum(due_reason in d.reasons for d in decisions)
    out.print(f"  next order: expected date for {len(days):,} customers"
              + (f" (median in {float(np.median(days)):.0f} days, {sum(v < 0 for v in days):,} "
                 "overdue)" if days else "")
              + (f", 12-month value median {float(np.median(value)):,.2f} for {len(value):,}"
                 if value else "")
              + f"; re-engagement timed before it: {due:,} (off unless next_order_reminders)")


def _escalation_report(frame: pd.DataFrame) -> None:
    """One line: cart reminders that plan a push / SMS step, and why the others do not."""
    from collections import Counter

    cart = frame[frame["action"] == "cart_abandonment"]
    steps = Counter(step.split("@", 1)[0] for plan in cart["plan"] if plan
                    for step in plan.split(";"))
    skipped = Counter("_".join(args) for reasons in cart["reasons"] for r in reasons.split(";")
                      if (args := Reason.ESCALATION_SKIPPED.args(r)) is not None)
    planned = int((cart["plan"] != "").sum())
    out.print(f"  channel escalation: {planned:,} of {len(cart):,} cart reminders plan a step"
              + (" (" + ", ".join(f"{c} {n:,}" for c, n in steps.most_common()) + ")"
                 if steps else "")
              + ("; skipped: " + ", ".join(f"{w} {n:,}" for w, n in skipped.most_common())
                 if skipped else ""))


def _response_report(s: dict) -> None:
    truth, snips = s["truth"], s["snips"]
    singles = [k for k in snips if k not in ("learned", "random")]
    best = max(singles, key=lambda k: truth.get(k, snips[k]["value"]))
    out.print(f"\n[bold]response model[/bold] (randomized campaign, {s['rows']:,} held-out rows; "
              "value = revenue after discount - unsubscribe cost, per customer)")
    out.print(f"  {'policy':<24} {'SNIPS estimate [95% CI]':>26} {'true value':>11}")
    for k in ("learned", best, "random"):
        e = snips[k]
        out.print(f"  {k if k != best else f'{k} (best single)':<24} "
                  f"{e['value']:10.3f} [{e['low']:.3f}, {e['high']:.3f}]  {truth.get(k, 0):10.3f}")
    out.print("  learned policy: " + ", ".join(f"{t} {v:.0%}" for t, v in s["chosen"].items()))
    out.print(f"  promote response   {s['promoted']}")
