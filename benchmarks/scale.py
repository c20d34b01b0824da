"""Scaling benchmark: the bulk steps per engine (local, spark) at growing customer counts.

For each size the simulator writes a dataset (`--days` of behaviour, `write_simulated` in chunks
of `--chunk-customers`, so memory holds a chunk, not the world); then, per engine:
- feature build (`nba features build`): all offline tables;
- materialize (`nba features materialize`: Feast, then the live history) and training-set
  retrieval (Feast's point-in-time join of every customer at one snapshot, service
  `intent_v1`): local = Feast's local engine and DuckDB offline store, spark = Feast's Spark
  compute engine and Spark offline store;
- batch scoring (`nba batch-score`): every customer decided with the champion models (local: 1
  and 2 processes; spark: `mapInPandas` over the `NBA_SPARK_MASTER` cores).
Scoring uses champions trained once on a small world (`--models DIR`, a dataset directory with
trained and promoted models, e.g. one `nba demo` made; by default one is trained here): scoring
cost does not depend on how much data trained the model.

`--steps` chooses the steps (build, materialize, training, scoring; all by default), `--skip`
leaves out one engine's step (`local:materialize`: at a million customers the local engine's
materialize into SQLite alone takes hours here). A step that needs one left out is skipped, and
so is a step whose memory, estimated from the events and the bytes per event measured on this
machine (`BYTES_PER_EVENT`), exceeds the memory available when it starts: each skip is printed
with its reason. `--online-store` is the online store materialize fills and scoring reads
(`sqlite`, the default, or a Redis URL: the keys of the benchmark's project are deleted after
each size).

Prints one table (seconds, rows/s, rows/s per core), writes it as JSON and draws the rates
against the customer count (`--plot`).

Run: python benchmarks/scale.py [--customers 20000,100000] [--days 30] [--engines local,spark]
     [--steps build,materialize,training,scoring] [--skip local:materialize]
     [--online-store sqlite|redis://host:port/db] [--chunk-customers 50000] [--models DIR]
     [--plot docs/img/scale.png] [--json scale.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import available_mb, header, peak_rss_mb
from features import schema as s
from features.settings import Settings
from features.simulation.behavior import SimConfig
from features.simulation.chunked import CHUNK_CUSTOMERS, write_simulated
from features.sources.dataset import read_manifest

MODEL_WORLD = SimConfig(customers=1_200, days=170, products=500, seed=21)
STEPS = ("build", "materialize", "training", "scoring")
# Peak memory per event of the steps whose memory grows with the data in this process, measured
# on this machine at 30 days (docs/scale.md, "Benchmark"): the local build (20,000 and 50,000
# customers), the local training set (DuckDB; 20,000 and 50,000). Materialize reads the log in
# batches to seed the live history (`iter_events`) and Feast's engines read the latest row per
# customer; batch scoring reads the customers file, not the events (`read_customers_and_end`).
# The Spark steps' own work is in the JVM (Spark's memory settings).
BYTES_PER_EVENT = {
    ("build", "local"): 2_900,
    ("training", "local"): 450,
}
HEADROOM = 0.85  # a step may take this share of the memory available when it starts


def models_world(work: Path) -> Path:
    """A small dataset with every model trained and promoted (its MLflow serves all sizes)."""
    from pipelines.train_steps import promote_step, train_step
    from training.model_specs import DATASET_MODELS

    settings = Settings.from_env(env={}, data_dir=work / "models" / "data")
    write_simulated(settings.data_dir, MODEL_WORLD)
    train_step(settings, list(DATASET_MODELS))
    promote_step(settings, list(DATASET_MODELS), True, 0.0)
    return settings.data_dir


def record(rows: list[dict], size: int, engine: str, step: str, n: int, cores: int,
           secs: float) -> None:
    rows.append({"customers": size, "engine": engine, "step": step, "rows": n, "seconds": secs,
                 "rows_per_s": n / secs, "rows_per_s_core": n / secs / cores})
    print(f"  {engine:<6} {step:<28} {secs:>8.1f} s  {n / secs:>10,.0f} rows/s  "
          f"({n / secs / cores:,.0f} per core)", flush=True)


def timed(rows: list[dict], size: int, engine: str, step: str, n: int, cores: int, fn) -> None:
    t = time.perf_counter()
    fn()
    record(rows, size, engine, step, n, cores, time.perf_counter() - t)


def skip_reason(step: str, engine: str, n_events: int, steps: set[str], skip: set[str],
                done: set[str]) -> str | None:
    """Why `step` does not run on `engine` (None: it runs)."""
    if step not in steps:
        return "not in --steps"
    if f"{engine}:{step}" in skip:
        return "in --skip"
    needs = {"materialize": "build", "training": "build", "scoring": "materialize"}.get(step)
    if needs and needs not in done:
        return f"needs {needs} (the {'feature tables' if needs == 'build' else 'online store'}" \
               " of this dataset), which did not run"
    per_event, free = BYTES_PER_EVENT.get((step, engine)), available_mb()
    if per_event is None or free is None:
        return None
    need = n_events * per_event / 2**20
    if need > HEADROOM * free:
        return (f"needs about {need / 1024:.1f} GB ({n_events:,} events x {per_event:,} bytes), "
                f"{free / 1024:.1f} GB available")
    return None


def bench_size(size: int, days: int, engines: list[str], steps: set[str], skip: set[str],
               online_store: str, chunk: int, models: Path | None, work: Path,
               rows: list[dict]) -> None:
    from features.spark.session import local_cores
    from pipelines.feature_steps import apply_step, build_step, materialize_step
    from pipelines.serve_steps import batch_score_step

    print(f"\n## {size:,} customers x {days} days", flush=True)
    base = size_settings(size, online_store, work)
    if models is not None:  # scoring: the champions of the models world
        base = replace(base, mlflow_tracking_uri=Settings.from_env(
            env={}, data_dir=models).tracking_uri)
    cfg = SimConfig(customers=size, days=days, products=500, seed=3)
    t = time.perf_counter()
    n_events = write_simulated(base.data_dir, cfg, chunk_customers=chunk)["events"]
    record(rows, size, "local", "simulate and write (events)", n_events, 1,
           time.perf_counter() - t)
    print(f"  (chunks of {chunk:,} customers; peak memory so far {peak_rss_mb():,.0f} MiB)",
          flush=True)
    cores = 2
    done: set[str] = set()

    def step(engine: str, name: str, label: str, n: int, ecores: int, fn) -> None:
        """Time `fn` as `label`, or print why the step is skipped."""
        why = skip_reason(name, engine, n_events, steps, skip, done)
        if why:
            print(f"  {engine:<6} {label:<28} skipped: {why}", flush=True)
            return
        timed(rows, size, engine, label, n, ecores, fn)
        done.add(name)

    for engine in engines:
        settings = replace(base, engine=engine)
        ecores = local_cores(settings.spark_master) if engine == "spark" else 1
        step(engine, "build", "feature build (events)", n_events, ecores,
             lambda s=settings: build_step(s))
    for engine in engines:  # Feast: local engine + DuckDB, or Spark engine + Spark store
        settings = replace(base, engine=engine)
        ecores = local_cores(settings.spark_master) if engine == "spark" else 1
        if "build" in done and steps & {"materialize", "training"}:
            apply_step(settings)
        step(engine, "materialize", "materialize (customers)", size, ecores,
             lambda s=settings: materialize_step(s))
        step(engine, "training", "training set (customers)", size, ecores,
             lambda s=settings: _training_set(s))
    settings = replace(base, engine="local")  # the online rows are the same either way
    for engine in engines:
        if engine == "local":
            for w in (1, cores):
                step("local", "scoring", f"batch scoring, {w} proc (customers)", size, w,
                     lambda w=w: batch_score_step(settings, work / "local.parquet", workers=w))
        else:
            from pipelines.spark_steps import spark_batch_score_step

            sp = replace(settings, engine="spark")
            step("spark", "scoring", "batch scoring (customers)", size,
                 local_cores(sp.spark_master),
                 lambda sp=sp: spark_batch_score_step(sp, work / "spark.parquet"))


def size_settings(size: int, online_store: str, work: Path) -> Settings:
    """One size's settings: its data directory under `work` and its own Feast project."""
    return Settings.from_env(env={}, data_dir=work / str(size) / "data",
                             online_store=online_store, feast_project=f"scale{size}")


def drop_online(online_store: str, size: int, work: Path) -> None:
    """Delete a Redis online store's keys of this size's project: Feast's rows, and the
    project's own keys (live history, decision index, product state)."""
    settings = size_settings(size, online_store, work)
    if not settings.redis_online or not settings.feature_repo_dir.exists():
        return
    from features.online.store import budgeted_redis, open_store

    try:
        r = budgeted_redis(online_store, None)
        for pattern in (f"nba:{settings.feast_project}:*", f"nba:{{{settings.feast_project}}}:*"):
            keys = list(r.scan_iter(match=pattern, count=10_000))  # {project}: cluster hash tag
            for i in range(0, len(keys), 1_000):
                r.delete(*keys[i:i + 1_000])
        r.close()
        open_store(settings).teardown()
    except Exception as exc:  # never hide the benchmark's own error
        print(f"  warning: could not delete the Redis keys of {settings.feast_project}: {exc}")


def _training_set(settings: Settings) -> None:
    from features.online.store import open_store
    from features.transforms import ENTITY_TS
    from training.datasets import training_frame

    store = open_store(settings, need_online=False)
    ids = pd.read_parquet(settings.data_dir / s.CUSTOMERS_FILE, columns=[s.CUSTOMER_ID])
    end = pd.Timestamp(read_manifest(settings.data_dir)["end"])
    labels = pd.DataFrame({"customer_id": ids[s.CUSTOMER_ID].astype(str),
                           ENTITY_TS: end - pd.Timedelta(days=7)})
    training_frame(store, "intent_v1", labels)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (engine, step), g in df.groupby(["engine", "step"]):
        ax.plot(g["customers"], g["rows_per_s"], marker="o", label=f"{engine}: {step}")
    ax.set(xscale="log", yscale="log", xlabel="customers", ylabel="rows/s",
           title="Bulk steps per engine (2 shared cores)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", default="20000,100000")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--engines", default="local,spark")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--skip", default="", help="engine:step pairs, e.g. local:materialize")
    ap.add_argument("--online-store", default="sqlite")
    ap.add_argument("--chunk-customers", type=int, default=CHUNK_CUSTOMERS)
    ap.add_argument("--models", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=Path("docs/img/scale.png"))
    ap.add_argument("--json", type=Path, default=Path("scale.json"))
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from pipelines.console import quiet_libraries

    quiet_libraries()
    header("scaling: bulk steps per engine")
    sizes = [int(x) for x in args.customers.split(",")]
    engines = [e.strip() for e in args.engines.split(",")]
    steps = {x.strip() for x in args.steps.split(",")}
    if steps - set(STEPS):
        ap.error(f"--steps: unknown {sorted(steps - set(STEPS))}; choose from {', '.join(STEPS)}")
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    known = {f"{e}:{st}" for e in ("local", "spark") for st in STEPS}
    if skip - known:
        ap.error(f"--skip: unknown {sorted(skip - known)}; use engine:step, e.g. local:materialize")
    work = Path(tempfile.mkdtemp(prefix="nba-scale-"))
    rows: list[dict] = []
    try:
        models = args.models or (models_world(work) if "scoring" in steps else None)
        for size in sizes:
            try:
                bench_size(size, args.days, engines, steps, skip, args.online_store,
                           args.chunk_customers, models, work, rows)
            finally:
                drop_online(args.online_store, size, work)
                shutil.rmtree(work / str(size), ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\npeak memory of the driver process: {peak_rss_mb():,.0f} MiB")
    print("\n| customers | engine | step | seconds | rows/s | rows/s per core |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['customers']:,} | {r['engine']} | {r['step']} | {r['seconds']:.1f} | "
              f"{r['rows_per_s']:,.0f} | {r['rows_per_s_core']:,.0f} |")
    args.json.write_text(json.dumps(rows, indent=2))
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
