"""`nba`: the public command line. Commands only parse options and call pipeline steps."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.console import console, out, quiet_libraries, stage, user_errors
from training.model_specs import SPECS

if TYPE_CHECKING:
    from pipelines.train_steps import Trained

app = typer.Typer(
    help="Next-best-action service for email marketing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
load_app = typer.Typer(help="Load real data into a dataset directory.", no_args_is_help=True)
app.add_typer(load_app, name="load")

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", "--out", envvar="NBA_DATA_DIR", show_envvar=True,
                 help="Dataset directory (default: $NBA_HOME/data, i.e. .nba/data)",
                 show_default=False),
]

EngineOpt = Annotated[
    str | None,
    typer.Option("--engine", help="Where bulk work runs: local (embedded) or spark "
                 "(NBA_SPARK_MASTER, default local[2]) [default: $NBA_ENGINE or local]",
                 show_default=False),
]


def _settings(data: Path | None, engine: str | None = None):
    from features.settings import Settings

    return Settings.from_env(data_dir=data, engine=engine.lower() if engine else None)


def _print_summary(manifest: dict) -> None:
    keys = ("source", "events", "customers", "products", "start", "end", "rejects")
    for k in keys:
        if k in manifest:
            out.print(f"  {k:<10} {manifest[k]}")
    types = manifest.get("event_types", {})
    if types:
        out.print("  events by type: " + ", ".join(f"{k}={v}" for k, v in types.items()))


@app.command()
def simulate(
    data: DataOpt = None,
    customers: Annotated[int, typer.Option(min=1, help="Number of customers")] = 5_000,
    days: Annotated[int, typer.Option(min=1, help="Days of behavior")] = 182,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data)")] = 7,
    products: Annotated[int, typer.Option(min=12, help="Number of products")] = 500,
    start: Annotated[str, typer.Option(help="First day (UTC)")] = "2026-01-05",
    chunk_customers: Annotated[int | None, typer.Option(
        min=1, help="Simulate and write larger worlds this many customers at a time: bounded "
        "memory; the chunk size is part of the data (default 50,000: docs/simulator.md)",
        show_default=False)] = None,
) -> None:
    """Simulate customers, products and events (with ground truth) into a dataset directory."""
    from features.simulation.behavior import SimConfig
    from features.simulation.chunked import CHUNK_CUSTOMERS
    from pipelines.data_steps import simulate_step

    settings = _settings(data)
    cfg = SimConfig(customers=customers, days=days, seed=seed, products=products, start=start)
    with stage(f"simulating {customers} customers x {days} days (seed {seed})"):
        manifest = simulate_step(cfg, settings.data_dir, chunk_customers or CHUNK_CUSTOMERS)
    out.print(f"dataset written to {settings.data_dir}")
    _print_summary(manifest)


DayFirstOpt = Annotated[bool | None, typer.Option(
    "--dayfirst/--monthfirst", help="How to read dates like 03/04/2011 when no value in the "
    "file shows it (default: read from the data, refuse when it cannot tell)",
    show_default=False)]


@load_app.command("events")
def load_events(
    path: Annotated[Path, typer.Argument(help="Event log: CSV or Parquet (schema: docs/data.md)")],
    data: DataOpt = None,
    customers: Annotated[Path | None, typer.Option(help="Optional customers table")] = None,
    products: Annotated[Path | None, typer.Option(help="Optional products table")] = None,
    dayfirst: DayFirstOpt = None,
) -> None:
    """Load a generic event log; invalid rows go to DATA/rejects.csv with a reason each."""
    from pipelines.data_steps import load_events_step

    settings = _settings(data)
    with stage(f"loading events from {path}"):
        report = load_events_step(path, settings.data_dir, customers, products, dayfirst)
    _print_load_report(report, settings.data_dir)


@load_app.command("transactions")
def load_transactions(
    path: Annotated[Path, typer.Argument(help="Transaction/invoice log: CSV or Parquet")],
    data: DataOpt = None,
    map_: Annotated[
        str | None,
        typer.Option("--map", help='Column mapping, e.g. invoice=Invoice,customer_id="Customer ID"'
                     " (defaults guess common names)"),
    ] = None,
    dayfirst: DayFirstOpt = None,
) -> None:
    """Load a transaction-only log as purchase events (returns and bad rows reported)."""
    from pipelines.data_steps import load_transactions_step

    settings = _settings(data)
    with stage(f"loading transactions from {path}"):
        report = load_transactions_step(path, settings.data_dir, map_, dayfirst)
    _print_load_report(report, settings.data_dir)


def _print_load_report(report: dict, data_dir: Path) -> None:
    out.print(f"dataset written to {data_dir}")
    out.print(f"  rows read {report['rows_read']}, loaded {report['rows_loaded']}, "
              f"rejected {report['rows_rejected']}")
    for reason, n in report.get("rejected_by_reason", {}).items():
        out.print(f"    {reason}: {n}")
    if report["rows_rejected"]:
        out.print(f"  rejected rows with reasons: {data_dir / 'rejects.csv'}")


features_app = typer.Typer(help="Feature store: build, apply, materialize.",
                            no_args_is_help=True)
app.add_typer(features_app, name="features")
events_app = typer.Typer(help="Live events into the online store.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@features_app.command("build")
def features_build(data: DataOpt = None, engine: EngineOpt = None) -> None:
    """Compute feature tables of the dataset into the offline store (Parquet)."""
    from pipelines.feature_steps import build_step

    settings = _settings(data, engine)
    with stage(f"building features for {settings.data_dir} ({settings.engine})"):
        rows = build_step(settings)
    for k, v in rows.items():
        out.print(f"  {k:<20} {v:>10,} rows")


@features_app.command("apply")
def features_apply(data: DataOpt = None, engine: EngineOpt = None) -> None:
    """Register the Feast repository (entities, views, services) in the registry."""
    from pipelines.feature_steps import apply_step

    settings = _settings(data, engine)
    with stage("applying the Feast repository"):
        names = apply_step(settings)
    out.print("  registered: " + ", ".join(names))


@features_app.command("materialize")
def features_materialize(data: DataOpt = None, engine: EngineOpt = None) -> None:
    """Load the latest features into the online store and seed the live event history."""
    from pipelines.feature_steps import materialize_step

    settings = _settings(data, engine)
    with stage(f"materializing into the {settings.online_store.split(':')[0]} online store"):
        info = materialize_step(settings)
    out.print(f"  live history seeded with {info['history_events']:,} events")


@features_app.command("status")
def features_status(data: DataOpt = None) -> None:
    """Show which feature steps have run for this dataset and store."""
    from pipelines.feature_steps import status

    st = status(_settings(data))
    for k in ("built", "applied", "materialized"):
        out.print(f"  {k:<13} {'yes' if getattr(st, k) else 'no'}")


@events_app.command("ingest")
def events_ingest(
    source: Annotated[str, typer.Argument(help="'-' for stdin (JSON lines), or a .jsonl, .csv "
                                               "or .parquet file")] = "-",
    data: DataOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per push")] = 500,
    max_wait_ms: Annotated[int, typer.Option(min=1, help="Longest wait to fill a batch")] = 200,
    replay: Annotated[bool, typer.Option(help="Re-ingest DATA/live/events.jsonl (after an "
                                              "outage)")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Processes, events partitioned by "
                                                     "customer")] = 1,
) -> None:
    """Ingest live events: validate, update the customers' online features, report rejects."""
    from features.online.live import LIVE_DIR
    from pipelines.feature_steps import ensure_features
    from pipelines.ingest import ingest, read_records

    settings = _settings(data)
    ensure_features(settings)
    records, replaying = None, []
    if replay:
        from itertools import chain

        from pipelines.ingest import take_for_replay

        replaying = take_for_replay(settings)
        records = chain.from_iterable(read_records(str(p)) for p in replaying)
    summary = ingest(settings, records or read_records(source), batch_size, max_wait_ms / 1000,
                     workers)
    for p in replaying:  # applied (idempotently): the copies are no longer needed
        p.unlink(missing_ok=True)
    rate = summary.accepted / summary.seconds if summary.seconds else 0.0
    out.print(f"accepted {summary.accepted:,} events in {summary.batches} batches "
              f"({rate:,.0f} events/s); rejected {summary.rejected:,}")
    for reason, n in summary.rejected_by_reason.items():
        out.print(f"    {reason}: {n}")
    if summary.rejected:
        out.print("  rejected events with reasons: "
                  f"{settings.data_dir / LIVE_DIR / 'rejects.jsonl'}")


product_app = typer.Typer(help="Business events (price changes, restocks) and their "
                          "audiences.", no_args_is_help=True)
app.add_typer(product_app, name="product-events")


@product_app.command("ingest")
def product_events_ingest(
    source: Annotated[str, typer.Argument(help="'-' for stdin (JSON lines), or a .jsonl, .csv "
                                               "or .parquet file of {product_id, event_type: "
                                               "price_change|stock_change, timestamp, "
                                               "price|in_stock}")],
    data: DataOpt = None,
    decide: Annotated[bool, typer.Option(help="Decide the triggers' audiences")] = True,
    out_file: Annotated[Path | None, typer.Option(
        "--out-file", "-o", help="Decisions file, .parquet or .csv")] = None,
) -> None:
    """Update prices and stock; decide for customers interested in a price drop or restock."""
    from pipelines.product_steps import product_events_step

    settings = _settings(data)
    with stage("applying product events"):
        r = product_events_step(settings, source, decide, out_file)
    out.print(f"accepted {r.accepted:,} product events; rejected {r.rejected:,}")
    for why in r.rejected_reasons[:20]:
        out.print(f"    {why}")
    for t in r.triggers:
        drop = f" (-{t['drop']:.0%})" if t["kind"] == "price_drop" else ""
        out.print(f"  trigger {t['kind']} {t['product_id']}{drop}")
    if decide:
        sent = [d for d in r.decisions if d.action.value != "none"]
        out.print(f"  audience {r.audience:,} customers -> {len(sent):,} emails")
        for action in sorted({d.action.value for d in r.decisions}):
            n = sum(d.action.value == action for d in r.decisions)
            out.print(f"    {action:<26} {n:>7,}")
    if out_file is not None and r.decisions:
        out.print(f"decisions -> {out_file}")


HorizonOpt = Annotated[str | None, typer.Option(
    "--horizon", help="Label horizons, e.g. intent=7d,churn=60d (units h, d, w) [env "
    "NBA_HORIZONS; default: from the data]")]
EveryOpt = Annotated[str | None, typer.Option(
    "--every", help="Snapshot spacing, e.g. 7d [env NBA_SNAPSHOT_EVERY; default weekly, or "
    "horizon/4 for long horizons]")]


@app.command()
def train(
    data: DataOpt = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Comma-separated: intent,churn,send_time,affinity (default all)")] = None,
    horizon: HorizonOpt = None,
    every: EveryOpt = None,
    engine: EngineOpt = None,
    sample: Annotated[float | None, typer.Option(
        "--sample", metavar="SHARE",
        help="Train on a stable share of the customers (e.g. 0.1), chosen by a hash of the "
             "customer id: the same customers on every run")] = None,
) -> None:
    """Train models on the dataset, compare each with its baselines, log and register in MLflow.
    A model that cannot be trained is one error line; the others go on (exit code 2 at the end)."""
    from pipelines.train_steps import parse_models, train_models

    settings = _settings(data, engine)
    run = train_models(settings, parse_models(model), horizon, every, sample)
    results = run.trained
    if results:
        _print_trained(results, settings.tracking_uri)
    if run.failed:
        console.print(f"not trained: {', '.join(run.failed)} (errors above)")
        raise typer.Exit(2)


def _print_trained(results: list[Trained], tracking_uri: str) -> None:
    """The trained models against their baselines, and what ships."""
    out.print("\n[bold]model        horizon  test metric   model   best baseline            "
              "ships[/bold]")
    for r in results:
        best = max(r.baselines.items(), key=lambda kv: kv[1]) if r.baselines else ("-", 0.0)
        ships = ("model" if r.beats_baselines else f"baseline {r.scorer}"
                 if r.scorer != "model" else "nothing (loses to a baseline)")
        out.print(f"{r.name:<12} {r.horizon or '-':<8} {r.primary_metric:<13} {r.value:6.4f}  "
                  f"{best[1]:6.4f} ({best[0]})".ljust(72) + f"{ships}  -> registered v{r.version}")
    for r in results:
        if r.definition and r.name in ("intent", "churn"):
            out.print(f"  {r.name}: {r.definition}")
        if r.scorer != "model":
            out.print(f"  [yellow]{r.name}: {r.verdict}[/yellow]")
    out.print(f"\nMLflow: mlflow ui --backend-store-uri {tracking_uri}")


@app.command()
def backtest(
    cutoff: Annotated[str, typer.Option(help="Cutoff date: learn from before, judge after")],
    horizon: Annotated[str, typer.Option(help="How far after the cutoff, e.g. 90d or 39w")],
    data: DataOpt = None,
    every: EveryOpt = None,
    model: Annotated[str, typer.Option(help="Comma-separated: intent,churn")] = "intent,churn",
) -> None:
    """Train on what happened up to the cutoff, score every customer at the cutoff, evaluate
    against what happened after it next to every baseline (AUC, PR-AUC, lift, plots; MLflow)."""
    from pipelines.backtest_steps import backtest_step

    names = tuple(m.strip() for m in model.split(",") if m.strip())
    bad = [m for m in names if m not in ("intent", "churn")]
    if bad or not names:
        raise typer.BadParameter(f"--model: choose from intent, churn (got {model!r})")
    settings = _settings(data)
    run = backtest_step(settings, cutoff, horizon, every, names)
    from training.horizons import describe

    w = run.window
    out.print(f"\n[bold]backtest at {run.cutoff:%Y-%m-%d}, horizon {describe(run.horizon)}[/bold]"
              f": {run.customers:,} customers seen before the cutoff")
    out.print(f"trained on {len(w.times)} snapshots {w.times[0]:%Y-%m-%d} .. "
              f"{w.times[-1]:%Y-%m-%d} every {describe(w.every)}, label horizon "
              f"{describe(w.horizon)}")
    for r in run.tasks:
        out.print(f"\n[bold]{r.name}[/bold]: {r.description}")
        out.print(f"  {r.rows:,} customers scored at the cutoff, label rate {r.positive_rate:.1%}"
                  f" (trained on {r.fit_rows:,} rows)")
        out.print(f"  {'scorer':<30} {'AUC':>7} {'PR-AUC':>7} {'lift@10%':>9} {'Brier':>7}")
        for scorer, m in sorted(r.metrics.items(), key=lambda kv: -kv[1]["auc"]):
            out.print(f"  {scorer:<30} {m['auc']:7.4f} {m['pr_auc']:7.4f} "
                      f"{m['lift_top10']:9.2f} {m['brier']:7.4f}")
        d = r.difference
        out.print(f"  model - best baseline ({r.best_baseline}): {d.value:+.4f} AUC "
                  f"[95% CI {d.low:+.4f}, {d.high:+.4f}] (DeLong, paired)")
    out.print(f"\nscores per customer: {run.work_dir}/<model>_scores.parquet; MLflow experiment "
              f"nba-backtest, run {run.run_id}")


@app.command()
def promote(
    data: DataOpt = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Comma-separated models: intent, churn, send_time, affinity (the "
        "default: all four) or response")] = None,
    force: Annotated[bool, typer.Option(help="Set the latest version as champion anyway")] = False,
    min_delta: Annotated[float, typer.Option(help="Required margin over the champion")] = 0.0,
) -> None:
    """Make the latest version `champion` when it beats the current champion on its test period."""
    from pipelines.train_steps import parse_models, promote_step
    from training.model_specs import SPECS

    settings = _settings(data)
    for p in promote_step(settings, parse_models(model, tuple(SPECS)), force, min_delta):
        verb = "[green]promoted[/green]" if p.promoted else "kept"
        out.print(f"{p.model:<10} {verb}: {p.reason}")


@app.command("batch-score")
def batch_score(
    data: DataOpt = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out-file", "-o", help="Decisions file, .parquet or .csv [DATA/decisions.parquet]")
    ] = None,
    now: Annotated[str | None, typer.Option(help="Decision time (default: the dataset's end)")
                   ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes (customers in partitions)")] = 1,
    engine: EngineOpt = None,
) -> None:
    """Decide the next best email for every customer of the dataset (campaign jobs)."""
    settings = _settings(data, engine)  # a bad setting fails before the heavy imports
    import pandas as pd

    from pipelines.serve_steps import batch_score_step

    target = out_file or settings.data_dir / "decisions.parquet"
    when = None
    if now:
        try:
            when = pd.Timestamp(now)
        except ValueError:
            raise typer.BadParameter(f"--now {now!r} is not a timestamp") from None
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    with stage(f"batch scoring every customer ({settings.engine})"):
        if settings.engine == "spark":
            from pipelines.spark_steps import spark_batch_score_step

            counts = spark_batch_score_step(settings, target, when)
        else:
            frame, _ = batch_score_step(settings, target, when, workers)
            counts = frame["action"].value_counts()
    total = int(counts.sum())
    out.print(f"{total:,} decisions -> {target}")
    for action, n in counts.items():
        out.print(f"  {action:<26} {n:>7,}  ({n / total:.1%})")


@app.command()
def serve(
    data: DataOpt = None,
    host: Annotated[str, typer.Option(help="Interface to bind (beyond 127.0.0.1 needs "
                                         "NBA_API_KEY)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 3000,
    insecure_no_auth: Annotated[bool, typer.Option(
        "--insecure-no-auth", help="Allow a non-loopback --host without NBA_API_KEY")] = False,
    compile_models: Annotated[bool, typer.Option(
        "--compile/--no-compile", help="Compile the champion models to machine code first "
        "(cached per model version; faster decisions)")] = True,
) -> None:
    """Serve decisions over HTTP (BentoML): POST /next_best_action, /next_best_action/batch,
    /events; docs at /docs."""
    from pipelines.feature_steps import ensure_features
    from pipelines.serve_steps import check_bind, compile_champions
    from pipelines.serve_steps import serve as run

    settings = _settings(data)
    check_bind(settings, host, insecure_no_auth)
    ensure_features(settings, online_optional=True)
    if compile_models:
        try:
            with console.status("compiling the champion models (once per model version)"):
                secs, compiled, left = compile_champions(settings)
            out.print(f"champion models: {compiled} boosters compiled or loaded from the cache, "
                      f"{left} left to LightGBM ({secs:.1f} s)")
        except Exception as exc:  # an optimization: never a reason not to serve
            out.print(f"warning: champion models not compiled ({type(exc).__name__}: {exc}); "
                      "the workers predict with LightGBM")
    out.print(f"serving decisions for {settings.data_dir} on http://{host}:{port} (docs: /docs)")
    run(settings, host, port, insecure_no_auth)


@app.command()
def replay(
    data: DataOpt = None,
    hours: Annotated[float, typer.Option(min=1, help="Replay the last N hours of the dataset")]
    = 24.0,
    tick_minutes: Annotated[float, typer.Option(min=1, help="Simulated time per step")] = 10.0,
) -> None:
    """Stream the dataset's last hours through the live path: ingest, decide on triggers,
    send or cancel at send time (a purchase before the send cancels a reminder), and the
    reminders' push / SMS steps when due."""
    from pipelines.replay import run_replay

    settings = _settings(data)
    with stage(f"replaying the last {hours:g} h in {tick_minutes:g}-minute ticks"):
        st = run_replay(settings, hours, tick_minutes)
    out.print(f"events ingested {st.events:,} ({st.events / max(st.seconds, 1e-9):,.0f}/s), "
              f"rejected {st.rejected}; decisions {st.decisions:,}")
    out.print("  decided: " + ", ".join(f"{k} {v}" for k, v in st.actions.most_common()))
    out.print("  sent:    " + (", ".join(f"{k} {v}" for k, v in st.sent.most_common()) or "-"))
    out.print("  cancelled by a purchase before the send: "
              + (", ".join(f"{k} {v}" for k, v in st.cancelled.most_common()) or "-"))
    out.print("  escalation steps (push / SMS after a cart reminder): "
              + (", ".join(f"{k} {v}" for k, v in sorted(st.steps.items())) or "-"))
    for ex in st.examples:
        out.print(f"  e.g. {ex}")


@app.command()
def summary(data: DataOpt = None) -> None:
    """Print what a dataset holds, and its behavior statistics."""
    from features.sources.dataset import read_dataset
    from features.sources.stats import behavior_stats

    settings = _settings(data)
    ds = read_dataset(settings.data_dir, with_truth=False)
    _print_summary(ds.manifest)
    for k, v in behavior_stats(ds).items():
        out.print(f"  {k:<30} {v:.4f}")


LogOpt = Annotated[Path, typer.Option("--log", help="Campaign log: CSV or Parquet, one row per "
                                       "customer and decision")]
TreatmentOpt = Annotated[str, typer.Option(help="Column with the action taken")]
OutcomeOpt = Annotated[str, typer.Option(help="Column with the outcome to maximize (numeric)")]
PropensityOpt = Annotated[str | None, typer.Option(
    help="Column with the probability the logged action had (default: uniform)")]
ControlOpt = Annotated[str, typer.Option(help="Treatment value meaning 'sent nothing'")]
GroupOpt = Annotated[str | None, typer.Option(
    help="Column whose rows stay together in the train/held-out split ('' for none)")]


def _print_report(report) -> None:
    table = report.table()

    def cell(r, k: str) -> str:
        if k not in r or r[k] != r[k]:
            return f"{'-':>20}"
        lo, hi = (float(x) for x in r[f"{k}_ci"].strip("[]").split(","))
        return f"{r[k]:7.3f} [{lo:.2f}, {hi:.2f}]".rjust(20)

    out.print(f"\n[bold]policy value on {report.rows:,} held-out rows[/bold] (mean net value per "
              "row; 95% bootstrap CI)")
    truth = "true_value" in table
    out.print(f"{'policy':<10} {'IPS':>7} {'SNIPS [CI]':>20} {'DR [CI]':>20}"
              + (f" {'true':>7}" if truth else ""))
    for _, r in table.iterrows():
        out.print(f"{r['policy']:<10} {r['ips']:7.3f} {cell(r, 'snips')} {cell(r, 'dr')}"
                  + (f" {r['true_value']:7.3f}" if truth else ""))
    if "oracle" in report.truth:
        out.print(f"true value of the best treatment for every row (oracle): "
                  f"{report.truth['oracle']:.3f}")
    out.print("choices of the learned policy: " + ", ".join(
        f"{t} {v:.0%}" for t, v in report.chosen_share.items()))
    for k, e in report.vs_best_single.items():
        out.print(f"learned - best single treatment ({report.best_single}), {k.upper()}: "
                  f"{e.value:+.4f} [95% CI {e.low:+.4f}, {e.high:+.4f}]")
    inc = report.incremental
    if inc:
        out.print(f"on the rows the policy treats ({inc['targeted_rows']:,.0f}, "
                  f"{inc['targeted_share']:.1%}): IRR {inc['irr']:.4f}, NIR {inc['nir']:,.1f}; "
                  f"treating every row: IRR {inc['all_irr']:.4f}, NIR {inc['all_nir']:,.1f}")
    if report.learners:
        out.print("held-out DR value of each learner's own policy: " + ", ".join(
            f"{k} {v:.4f}" for k, v in sorted(report.learners.items(), key=lambda kv: -kv[1])))
    for t, c in report.curves.items():
        out.print(f"  {t:<10} vs control: Qini coefficient {c.qini_coefficient:+.4f}, "
                  f"AUUC {c.auuc:+.3f}")
    thin = report.thin()
    if thin:
        out.print("[yellow]warning:[/yellow] estimates for " + ", ".join(
            f"{k} (effective rows {v:.0f})" for k, v in thin.items()) + " rest on few rows: "
            "the log rarely did that; randomize sends (NBA_EXPLORE_SHARE) to learn them")


@app.command("simulate-campaign")
def simulate_campaign(
    data: DataOpt = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out-file", "-o", help="Log file, .parquet or .csv [DATA/campaign_log.parquet]")
    ] = None,
    times: Annotated[int, typer.Option(min=1, help="Weekly decision times")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed of treatments and outcomes")] = 0,
) -> None:
    """Randomized campaign log over a simulated dataset, with the true effect of every
    treatment per row (columns true_reward_*), for response models and policy evaluation."""
    from pipelines.response_steps import simulate_campaign_step

    settings = _settings(data)
    target = out_file or settings.data_dir / "campaign_log.parquet"
    with stage(f"simulating a randomized campaign at {times} decision times"):
        log = simulate_campaign_step(settings, target, times, seed)
    out.print(f"{len(log):,} rows -> {target}")
    means = log.groupby("treatment")[["purchased", "revenue", "unsubscribed", "reward"]].mean()
    out.print(means.round(3).to_string())


@app.command()
def outcomes(
    data: DataOpt = None,
    decisions: Annotated[Path | None, typer.Option(
        help="Decision log file or directory [DATA/decisions]")] = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out-file", "-o", help="Table, .parquet or .csv [DATA/outcomes.parquet]")] = None,
    window_days: Annotated[float, typer.Option(min=0.01, help="Outcome window")] = 7.0,
) -> None:
    """Join logged decisions to what followed (open, click, purchase, revenue, unsubscribe)
    into a table `nba train-response` learns from."""
    from pipelines.response_steps import outcomes_step

    settings = _settings(data)
    target = out_file or settings.data_dir / "outcomes.parquet"
    with stage("joining decisions to outcomes"):
        table = outcomes_step(settings, decisions or settings.data_dir / "decisions", target,
                              window_days)
    out.print(f"{len(table):,} decisions with a complete {window_days:g}-day window -> {target}")
    if len(table):
        out.print(table.groupby("treatment")[["purchased", "revenue"]].mean().round(3)
                  .to_string())


CostOpt = Annotated[str | None, typer.Option(
    "--cost", help="Cost per treatment in the outcome's money: a fixed amount and/or a share of "
    "revenue, e.g. email=0.10,email_10=0.10+10% (docs/uplift.md)")]
ValueOpt = Annotated[float, typer.Option(
    "--value", min=0.0, help="Money per unit of outcome (e.g. 10 when the outcome is a purchase "
    "worth 10)")]


@app.command("train-response")
def train_response(
    log: LogOpt,
    treatment: TreatmentOpt,
    outcome: OutcomeOpt,
    data: DataOpt = None,
    propensity: PropensityOpt = None,
    features: Annotated[str | None, typer.Option(
        help="Comma-separated feature columns (default: every pre-treatment column; outcome-"
             "like and unbalanced columns are left out and named)")] = None,
    control: ControlOpt = "none",
    group: GroupOpt = "customer_id",
    learners: Annotated[str | None, typer.Option(
        help="Comma-separated learners to compare: s,t,x,x_coarse,dr,dr_coarse (default all; "
             "their mean is compared too)")] = None,
    cost: CostOpt = None,
    value: ValueOpt = 1.0,
    holdout: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share held out for the "
                                           "report (0: train on all, judge on another log)")
                       ] = 0.3,
    promote: Annotated[bool, typer.Option(
        help="Make it champion if it beats every single treatment and the champion")] = False,
) -> None:
    """Train a response/uplift model on any campaign log: cross-fitted S, T, X and DR learners,
    the best chosen out of fold, a policy that leaves the best single treatment only where the
    gain is confident; evaluated off-policy on held-out rows, logged and registered in MLflow."""
    from pipelines.response_steps import log_spec, parse_learners, train_response_step

    settings = _settings(data)
    spec = log_spec(treatment, outcome, propensity, features, control, group or None, cost,
                    value)
    names = parse_learners(learners)
    with stage(f"training a response model on {log}"):
        run = train_response_step(settings, log, spec, names, holdout, promote)
    ds = run.dataset or {}
    out.print(f"features ({len(ds.get('features', []))}): " + ", ".join(
        f + (" (categorical)" if f in ds.get("categorical_features", []) else "")
        for f in ds.get("features", [])))
    for col, why in ds.get("excluded_columns", {}).items():
        console.print(f"[yellow]warning:[/yellow] column {col!r} left out: {why}")
    out.print(f"costs: {ds.get('costs', 'none')}")
    _print_learners(ds.get("out_of_fold_values", {}))
    out.print(f"policy: {ds.get('policy', '')}")
    if run.report is not None:
        _print_report(run.report)
    else:
        out.print("nothing held out (--holdout 0): judge it on another log with "
                  "`nba evaluate-policy`")
    out.print(f"\n{run.verdict if run.report is not None else ''} -> registered "
              f"{SPECS['response'].registered} v{run.version}")
    if run.promoted:
        out.print(run.promoted)
    out.print(f"MLflow: mlflow ui --backend-store-uri {settings.tracking_uri}")


def _print_learners(values: dict[str, float]) -> None:
    """Out-of-fold DR value per row: each single treatment and each learner's best policy."""
    best: dict[str, float] = {}
    for key, v in values.items():
        name = key.split("@")[0]
        best[name] = max(v, best.get(name, float("-inf")))
    if best:
        out.print("out-of-fold DR value per row: " + ", ".join(
            f"{k.removeprefix('single:')}{' (everyone)' if k.startswith('single:') else ''} "
            f"{v:.4f}" for k, v in sorted(best.items(), key=lambda kv: -kv[1])))


@app.command("evaluate-policy")
def evaluate_policy(
    log: LogOpt,
    treatment: TreatmentOpt,
    outcome: OutcomeOpt,
    data: DataOpt = None,
    propensity: PropensityOpt = None,
    group: GroupOpt = "customer_id",
    model_version: Annotated[str | None, typer.Option(
        help="nba-response version (default: the champion)")] = None,
    cost: CostOpt = None,
    value: ValueOpt = 1.0,
    bootstrap: Annotated[int, typer.Option(min=50, help="Bootstrap resamples")] = 400,
) -> None:
    """Off-policy evaluation of the response model's policy, every single treatment and
    random on a campaign log (IPS, SNIPS, DR with bootstrap CIs; Qini per treatment; costs of
    the model unless --cost/--value say otherwise)."""
    from pipelines.response_steps import evaluate_policy_step, log_spec

    settings = _settings(data)
    spec = log_spec(treatment, outcome, propensity, None, "none", group or None, cost, value)
    with stage(f"evaluating on {log}"):
        run = evaluate_policy_step(settings, log, spec, model_version, bootstrap)
    _print_report(run.report)
    out.print(f"\n{SPECS['response'].registered} v{run.version}; results in MLflow experiment "
              f"nba-response-evaluation (run {run.run_id})")


bandit_app = typer.Typer(help="Thompson-sampling exploration state.", no_args_is_help=True)
app.add_typer(bandit_app, name="bandit")


@bandit_app.command("update")
def bandit_update(
    data: DataOpt = None,
    outcomes_file: Annotated[Path | None, typer.Option(
        "--outcomes", help="Outcomes table from `nba outcomes` [DATA/outcomes.parquet]")] = None,
    reward: Annotated[str, typer.Option(help="Column with the reward")] = "revenue",
    treatment: TreatmentOpt = "treatment",
) -> None:
    """Recompute the arm statistics Thompson sampling draws from (NBA_EXPLORE_METHOD=thompson)
    from decisions joined to their outcomes; the service reads them at start-up."""
    from pipelines.response_steps import bandit_update_step

    settings = _settings(data)
    path, stats = bandit_update_step(settings, outcomes_file or settings.data_dir /
                                     "outcomes.parquet", treatment, reward)
    cells = stats.cells
    out.print(f"{sum(c[0] for c in cells.values()):,.0f} outcomes in {len(cells)} (bucket, "
              f"treatment) cells -> {path}")


@app.command()
def demo(
    data: DataOpt = None,
    customers: Annotated[int, typer.Option(min=100, help="Simulated customers")] = 5_000,
    days: Annotated[int, typer.Option(min=30, help="Simulated days")] = 182,
    fresh: Annotated[bool, typer.Option(help="Rebuild everything, even what exists")] = False,
    engine: EngineOpt = None,
) -> None:
    """Run the main job end to end on simulated data (reuses what is already built)."""
    from pipelines.demo import run_demo

    run_demo(_settings(data, engine), customers=customers, days=days, fresh=fresh)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    quiet_libraries()
    try:
        app()
    except user_errors() as exc:
        msg = str(exc).strip('"') if isinstance(exc, KeyError) else str(exc)
        console.print(f"[red]error:[/red] {msg}", soft_wrap=True)
        sys.exit(2)


def _json(obj: object) -> str:
    return json.dumps(obj, indent=2, default=str)


if __name__ == "__main__":
    main()
