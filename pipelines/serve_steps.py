"""Pipeline steps for decisions: batch-score every customer, serve the API."""

from __future__ import annotations

import gc
import os
import sys
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd
from rich.progress import Progress

from features.settings import Settings
from features.sources.dataset import read_customers_and_end
from pipelines.console import UserError, console
from pipelines.data_steps import write_table
from serving.policy.config import PolicyConfig
from serving.schemas import Decision, DecisionRequest

CHUNK = 1_000
# Batch workers compile the champions to machine code (training/lgbm_compiled.py) when the
# campaign repays it: about a minute per new champion set (inlined, as API decisions want them)
# against 20-60 us saved per batch decision (the demo's models, measured 2026-12-01), so from
# about 1,000,000 decisions; smaller campaigns use what `nba serve` or an earlier campaign
# compiled, and LightGBM for the rest.
COMPILE_MIN_DECISIONS = 1_000_000


# decisions_frame's columns, in order, with their Spark SQL types (a Spark batch score writes
# the same table: pipelines/spark_steps.py)
DECISION_COLUMNS = {
    "decision_id": "string", "customer_id": "string", "action": "string", "variant": "string",
    "send_at": "timestamp", "offer_type": "string", "offer_value": "double",
    "products": "string", "intent": "double", "intent_horizon": "string", "churn": "double",
    "churn_horizon": "string", "best_hour_utc": "double", "control_group": "boolean",
    "degraded": "boolean", "plan": "string", "reasons": "string",
}


def decisions_frame(decisions: list[Decision]) -> pd.DataFrame:
    """One row per decision, lists joined, for files and reports (`DECISION_COLUMNS`)."""
    return pd.DataFrame([{
        "decision_id": d.decision_id, "customer_id": d.customer_id, "action": d.action.value,
        "variant": d.variant.value if d.variant else None,
        "send_at": d.send_at, "offer_type": d.offer.type.value, "offer_value": d.offer.value,
        "products": ",".join(r.product_id for r in d.recommendations),
        "intent": d.scores.get("intent"),
        "intent_horizon": _horizon(d.scores.get("intent_horizon_days")),
        "churn": d.scores.get("churn"),
        "churn_horizon": _horizon(d.scores.get("churn_horizon_days")),
        "best_hour_utc": d.scores.get("best_hour_utc"),
        "control_group": d.control_group, "degraded": d.degraded,
        "plan": ";".join(f"{p.channel.value}@{p.at.isoformat()}" for p in d.plan),
        "reasons": ";".join(d.reasons),
    } for d in decisions], columns=list(DECISION_COLUMNS))


@lru_cache(maxsize=64)  # a few horizons, one per champion: not a Timedelta per decision
def _horizon(days: float | None) -> str | None:
    """'7d' / '16w': the label horizon of a score, as `nba train` prints it."""
    if days is None:
        return None
    from training.horizons import describe

    return describe(pd.Timedelta(days=days))


_ENGINE = None  # one decision engine per batch worker process


def _start_worker(settings: Settings, freeze: bool = True, compile_new: bool = False) -> None:
    """Load the engine with its models compiled for batches (`training/lgbm_compiled.py`: those
    already in `compiled_models_dir`, the others compiled there if `compile_new`), and freeze it out
    of the garbage collector's scans (a fifth of a batch decision's time otherwise; a process
    that lives on after the batch calls `gc.unfreeze()`, or frozen objects are never
    finalized)."""
    from pipelines.console import quiet_libraries
    from serving.engine import DecisionEngine
    from training import lgbm_compiled

    global _ENGINE
    quiet_libraries()
    lgbm_compiled.enable(settings.compiled_models_dir, compile_new)
    _ENGINE = DecisionEngine(settings)  # loads (compiles) its champions' code
    if freeze:
        gc.freeze()


def _decide_chunk(ids: list[str], moment) -> list[Decision]:
    return _ENGINE.decide_many([DecisionRequest(customer_id=c, now=moment) for c in ids])


def decide_frame(ids: list[str], moment) -> pd.DataFrame:
    """A worker's chunk as rows: a frame crosses the process boundary in about a millisecond,
    where unpickling 1,000 Decision models costs the parent about 0.3 s (it capped two
    workers at about 3,000 decisions/s)."""
    return decisions_frame(_decide_chunk(ids, moment))


def decision_pool(settings: Settings, workers: int, compile_new: bool = False):
    """Worker processes, each holding a decision engine (batch scoring in partitions;
    `compile_new`: see `_start_worker`)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                               initializer=_start_worker,
                               initargs=(settings, True, compile_new))
    for f in [pool.submit(_decide_chunk, [], None) for _ in range(workers)]:
        f.result()  # wait until every worker has loaded its engine
    return pool


def campaign(settings: Settings, now: pd.Timestamp | None) -> tuple[pd.DataFrame, datetime]:
    """A batch score's customers (features ensured; the event log is not read) and its decision
    moment: `now`, default the dataset's end, never before it (the online store holds features
    as of the end)."""
    from pipelines.feature_steps import ensure_features

    ensure_features(settings)
    customers, end = read_customers_and_end(settings.data_dir)
    if now is not None and now < end:
        raise UserError(f"--now {now} is before the dataset's end {end}: the online store "
                        "holds features as of the end, so earlier decisions would see the future")
    return customers, (now or end).to_pydatetime()


def batch_score_step(settings: Settings, out: Path, now: pd.Timestamp | None = None,
                     workers: int = 1) -> tuple[pd.DataFrame, list[Decision]]:
    """Decide for every customer of the dataset at `now` (default: the dataset's end), in
    chunks of 1,000, in `workers` processes when > 1. Returns the decisions as a frame (also
    written to `out`) and, when decided in this process (workers=1), the Decision objects."""
    customers, moment = campaign(settings, now)
    ids = customers["customer_id"].astype(str).tolist()
    chunks = [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]
    compile_new = len(ids) >= COMPILE_MIN_DECISIONS
    decisions: list[Decision] = []
    parts: list[pd.DataFrame] = []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("deciding", total=len(ids))
        if workers > 1:
            pool = decision_pool(settings, workers, compile_new)
            for part in pool.map(decide_frame, chunks, [moment] * len(chunks)):
                parts.append(part)
                bar.advance(task, len(part))
            pool.shutdown()
        else:
            _start_worker(settings, compile_new=compile_new)
            try:
                for chunk in chunks:
                    decisions += _decide_chunk(chunk, moment)
                    bar.advance(task, len(chunk))
            finally:
                gc.unfreeze()  # this process lives on: its objects are finalized as usual
                _ENGINE.close()
    frame = pd.concat(parts, ignore_index=True) if parts else decisions_frame(decisions)
    write_table(frame, out)
    return frame, decisions


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_bind(settings: Settings, host: str, insecure: bool = False) -> None:
    """Binding beyond loopback without NBA_API_KEY is refused unless `insecure`."""
    if host not in LOOPBACK and not settings.api_key and not insecure:
        raise UserError(f"--host {host} exposes the API beyond this machine without a key: set "
                        "NBA_API_KEY (callers send X-API-Key or Authorization: Bearer), or pass "
                        "--insecure-no-auth")


# BentoML opens an OpenTelemetry span per request even with no exporter configured: about a
# third of the framework's time per decision here. The API routes are left out of tracing unless
# the operator configures BentoML (BENTOML_CONFIG / BENTOML_CONFIG_OPTIONS) themselves.
UNTRACED = 'services.tracing.excluded_urls="next_best_action,events,open"'


def serve_env(settings: Settings) -> dict[str, str]:
    """The server's environment: this one, the data paths resolved, tracing as above."""
    env = {**os.environ, "NBA_DATA_DIR": str(settings.data_dir.resolve()),
           "NBA_HOME": str(settings.home.resolve())}
    if settings.mlflow_tracking_uri:
        env["NBA_MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    if "BENTOML_CONFIG" not in env and "BENTOML_CONFIG_OPTIONS" not in env:
        env["BENTOML_CONFIG_OPTIONS"] = UNTRACED
    return env


# a registry that does not answer fails the compile step in seconds (MLflow's own HTTP default
# retries for minutes per call), so `nba serve` still starts and answers degraded decisions
COMPILE_REGISTRY_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def compile_champions(settings: Settings) -> tuple[float, int, int]:
    """Compile the champions to machine code (training/lgbm_compiled.py) into the cache the
    API workers load from, so they never compile themselves: about a minute per new champion
    set here, a second when cached. Returns the seconds it took and how many boosters were
    compiled and left to LightGBM."""
    import time
    from unittest.mock import patch  # the standard library's scoped environment change

    from serving.scoring import Scorer
    from training import lgbm_compiled

    t = time.perf_counter()
    _check_registry_database(settings.tracking_uri)
    with patch.dict(os.environ, COMPILE_REGISTRY_ENV), \
            lgbm_compiled.enabled(settings.compiled_models_dir):
        scorer = Scorer.from_registry(settings)  # holds the boosters the counts are of
        scorer.compile()
        compiled, left = lgbm_compiled.counts()
    return time.perf_counter() - t, compiled, left


def _check_registry_database(uri: str) -> None:
    """One connection attempt (5 s at most) to a PostgreSQL registry: MLflow's own store
    retries a database it cannot reach for about 100 s, which would hold `nba serve` back."""
    if not uri.startswith("postgresql"):
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": 5},
                                      poolclass=sqlalchemy.pool.NullPool)
    try:
        engine.connect().close()
    finally:
        engine.dispose()


def serve(settings: Settings, host: str, port: int, insecure: bool = False) -> None:
    """Replace this process with the BentoML server (exec: signals such as SIGTERM from a
    supervisor reach the server itself, and nothing is left running on the port)."""
    check_bind(settings, host, insecure)
    PolicyConfig.from_settings(settings)  # a setting the policy cannot use: one line, before exec
    env = serve_env(settings)
    cmd = [sys.executable, "-m", "bentoml", "serve", "serving.service:NextBestAction",
           "--host", host, "--port", str(port)]
    root = Path(__file__).resolve().parents[1]
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(root)
    os.execve(sys.executable, cmd, env)
