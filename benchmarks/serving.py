"""Serving benchmark, all in one run on the demo data (trained and promoted models):

- in-process decision latency (engine.decide, one customer) p50/p99 (target p99 <= 5 ms);
- HTTP: p50/p99 at a steady 100 requests/s on loopback (target p99 <= 25 ms), and the
  throughput of 4 concurrent closed-loop clients; floor: GET /healthz on the same server;
- batch decisions per second (target >= 2,000/s);
- a naive baseline, side by side: per request a Feast SDK read of the whole `policy_v1` service
  (with its on-demand view) plus MLflow pyfunc `predict` on a DataFrame per model; reported as
  a ratio to the engine.

Run: python benchmarks/serving.py [--data DIR] [--seconds 20]
(without --data it builds the demo data with `nba demo`'s steps first.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import figure, header

ROOT = Path(__file__).resolve().parents[1]


def pct(xs, q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def prepare(data: Path) -> None:
    """Simulate, build, train and promote the demo data if it is not there yet."""
    from features.settings import Settings
    from pipelines.train_steps import MODEL_NAMES, promote_step

    if not (data / "mlflow" / "trained.json").exists():
        subprocess.run([sys.executable, "-m", "pipelines.cli", "demo", "--data", str(data)],
                       check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    promote_step(Settings.from_env(data_dir=data), list(MODEL_NAMES))


def bench_in_process(engine, ids, now) -> list[float]:
    from serving.schemas import DecisionRequest

    for c in ids[:200]:
        engine.decide(DecisionRequest(customer_id=c, now=now))
    lat = []
    for c in ids:
        t = time.perf_counter()
        engine.decide(DecisionRequest(customer_id=c, now=now))
        lat.append((time.perf_counter() - t) * 1000)
    return lat


def bench_naive(settings, ids, now) -> list[float]:
    """Feast SDK read of the service (with the on-demand view) + pyfunc predict per model."""
    import mlflow.pyfunc

    from features.store import open_store
    from features.transforms import REQUEST_TS
    from training.send_time import HIST_COLS
    from training.tracking import CHAMPION, REGISTERED, configure

    configure(settings)
    store = open_store(settings)
    service = store.get_feature_service("policy_v1")
    models = {m: mlflow.pyfunc.load_model(f"models:/{REGISTERED[m]}@{CHAMPION}")
              for m in ("intent", "churn", "send_time")}
    cols = {m: list(mod.metadata.get_input_schema().input_names()) for m, mod in models.items()}
    lat = []
    for i, c in enumerate(ids):
        t = time.perf_counter()
        row = store.get_online_features(service, [{"customer_id": c, REQUEST_TS: now.timestamp()}]
                                        ).to_df()
        hist = row["open_hour_hist"].iloc[0]
        hist = hist if hist is not None else [0.0] * 24
        for h, v in zip(HIST_COLS, hist, strict=True):
            row[h] = float(v)
        for m, mod in models.items():
            mod.predict(row[cols[m]].astype(float))
        if i >= 20:
            lat.append((time.perf_counter() - t) * 1000)
    return lat


def start_server(settings, port: int) -> subprocess.Popen:
    env = {**os.environ, "NBA_DATA_DIR": str(settings.data_dir.resolve()),
           "MLFLOW_LOGGING_LEVEL": "ERROR"}
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve",
                             "serving.service:NextBestAction", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import httpx

    for _ in range(240):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start")


def bench_http(port: int, ids, now, seconds: float, rate: float):
    """Open-loop load from one asyncio loop (a light client: the server shares the 2 cores
    with it): request i is due at start + i / rate, latency counts from when it was due."""
    import asyncio

    import httpx

    url = f"http://127.0.0.1:{port}"
    degraded = 0

    async def run() -> tuple[list[float], list[float], float, float]:
        nonlocal degraded
        async with httpx.AsyncClient(base_url=url, timeout=10,
                                     limits=httpx.Limits(max_connections=32)) as client:
            async def one(c: str, due: float | None = None) -> float:
                nonlocal degraded
                t = time.perf_counter() if due is None else due
                r = await client.post("/next_best_action",
                                      json={"customer_id": c, "now": now.isoformat()})
                r.raise_for_status()
                degraded += r.json()["degraded"]
                return (time.perf_counter() - t) * 1000

            floor = []
            for _ in range(300):
                t = time.perf_counter()
                await client.get("/healthz")
                floor.append((time.perf_counter() - t) * 1000)
            for c in ids[:100]:
                await one(c)
            n = int(seconds * rate)
            start = time.perf_counter() + 0.1
            tasks = []
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(ids[i % len(ids)], start + i / rate)))
            lat = list(await asyncio.gather(*tasks))
            achieved = n / (time.perf_counter() - start)
            # closed loop: 4 concurrent callers as fast as they go
            stop = time.perf_counter() + min(seconds, 10)
            count = 0

            async def caller(k: int) -> None:
                nonlocal count
                i = k
                while time.perf_counter() < stop:
                    await one(ids[i % len(ids)])
                    i += 4
                    count += 1

            t0 = time.perf_counter()
            await asyncio.gather(*(caller(k) for k in range(4)))
            closed = count / (time.perf_counter() - t0)
            return floor, lat, achieved, closed

    floor, lat, achieved, closed = asyncio.run(run())
    return floor, lat, achieved, closed, degraded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--port", type=int, default=3917)
    args = ap.parse_args()
    header("serving: decisions in-process, over HTTP, in batch, vs a naive baseline")
    from pipelines.console import quiet_libraries

    quiet_libraries()
    data = args.data or Path(tempfile.gettempdir()) / "nba-bench-serving" / "data"
    prepare(data)
    from features.dataset import read_dataset
    from features.settings import Settings
    from serving.engine import DecisionEngine
    from serving.schemas import DecisionRequest

    settings = Settings.from_env(data_dir=data)
    ds = read_dataset(data, with_truth=False)
    now = ds.end.to_pydatetime()
    rng = np.random.default_rng(0)
    ids = list(rng.choice(ds.customers["customer_id"].to_numpy(), 2000))

    engine = DecisionEngine(settings)
    lat = bench_in_process(engine, ids, now)
    figure("in-process decision p50", pct(lat, 50), "ms")
    figure("in-process decision p99", pct(lat, 99), "ms", "<= 5 ms", pct(lat, 99) <= 5)

    all_ids = ds.customers["customer_id"].tolist()
    t = time.perf_counter()
    for i in range(0, len(all_ids), 1000):
        engine.decide_many([DecisionRequest(customer_id=c, now=now)
                            for c in all_ids[i:i + 1000]])
    rate = len(all_ids) / (time.perf_counter() - t)
    figure("batch decisions, 1 process (1,000 per call)", rate, "decisions/s")
    from pipelines.serve_steps import _decide_chunk, decision_pool

    pool = decision_pool(settings, 2)  # start-up (model loading) is not timed
    chunks = [all_ids[i:i + 1000] for i in range(0, len(all_ids), 1000)] * 2
    t = time.perf_counter()
    n = sum(len(p) for p in pool.map(_decide_chunk, chunks, [now] * len(chunks)))
    rate = n / (time.perf_counter() - t)
    pool.shutdown()
    figure("batch decisions, 2 processes (nba batch-score --workers 2)", rate, "decisions/s",
           ">= 2,000/s", rate >= 2000)

    naive = bench_naive(settings, ids[:300], now)
    figure("naive: Feast SDK service read + pyfunc per model p50", pct(naive, 50), "ms")
    figure("naive p99", pct(naive, 99), "ms")
    figure("naive / engine, p50", pct(naive, 50) / pct(lat, 50), "x")
    engine.close()

    proc = start_server(settings, args.port)
    try:
        floor, http, achieved, closed, degraded = bench_http(args.port, ids, now, args.seconds,
                                                             args.rate)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    figure("HTTP floor: GET /healthz p50", pct(floor, 50), "ms")
    figure(f"HTTP decision at {args.rate:.0f} req/s p50", pct(http, 50), "ms")
    figure(f"HTTP decision at {args.rate:.0f} req/s p99", pct(http, 99), "ms", "<= 25 ms",
           pct(http, 99) <= 25)
    figure("  achieved request rate", achieved, "req/s")
    figure("HTTP throughput, 4 closed-loop clients", closed, "req/s")
    figure("  degraded responses (must be 0)", degraded, "responses")


if __name__ == "__main__":
    main()
