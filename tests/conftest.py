"""Shared fixtures: small simulated datasets (session-scoped) and the machine's real services."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from features.simulation.behavior import SimConfig, simulate
from features.sources.dataset import Dataset, write_dataset

FIXTURES = Path(__file__).parent / "fixtures"
RETAIL_SAMPLE = FIXTURES / "online_retail_ii_sample.csv.gz"
REDIS_ADDR = ("127.0.0.1", 6379)
POSTGRES_ADDR = ("127.0.0.1", 5432)


def _reachable(addr: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(addr, timeout=0.5):
            return True
    except OSError:
        return False


def _missing(msg: str) -> None:
    """Skip a test that needs a missing service, unless NBA_REQUIRE_SERVICES=1 (CI): fail."""
    if os.environ.get("NBA_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"NBA_REQUIRE_SERVICES=1 but {msg}")
    pytest.skip(msg)


def require_service(name: str, addr: tuple[str, int], start_hint: str) -> None:
    """Skip when a service is down, unless NBA_REQUIRE_SERVICES=1 (CI), where it fails."""
    if not _reachable(addr):
        _missing(f"{name} not reachable at {addr[0]}:{addr[1]} (start it with: {start_hint})")


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", REDIS_ADDR,
                    "redis-server --daemonize yes --port 6379 --save '' --appendonly no")
    return f"redis://{REDIS_ADDR[0]}:{REDIS_ADDR[1]}/0"


REDIS_CLUSTER_PORTS = (7101, 7102, 7103)


def _cluster_ok(cli: str, port: int) -> bool:
    out = subprocess.run([cli, "-p", str(port), "cluster", "info"], capture_output=True,
                         text=True, timeout=5).stdout
    return "cluster_state:ok" in out


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real 3-primary Redis Cluster (no replicas) on ports 7101-7103, started for the session
    with the machine's redis-server and shut down after it (nothing saved)."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        _missing("redis-server and redis-cli are not installed (apt-get install redis-server)")
    busy = [p for p in REDIS_CLUSTER_PORTS if _reachable(("127.0.0.1", p))]
    if busy:
        _missing(f"ports {busy} are taken: the Redis Cluster fixture needs 7101-7103 free")
    work = tmp_path_factory.mktemp("redis-cluster")
    started: list[int] = []
    try:
        for port in REDIS_CLUSTER_PORTS:
            subprocess.run([server, "--port", str(port), "--bind", "127.0.0.1",
                            "--cluster-enabled", "yes",
                            "--cluster-config-file", str(work / f"nodes-{port}.conf"),
                            "--dir", str(work), "--logfile", str(work / f"{port}.log"),
                            "--daemonize", "yes", "--save", "", "--appendonly", "no"],
                           check=True, timeout=10)
            started.append(port)
        deadline = time.monotonic() + 10
        while not all(_reachable(("127.0.0.1", p)) for p in started):
            assert time.monotonic() < deadline, f"redis-server did not start (logs in {work})"
            time.sleep(0.1)
        subprocess.run([cli, "--cluster", "create",
                        *(f"127.0.0.1:{p}" for p in REDIS_CLUSTER_PORTS),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 20
        while not all(_cluster_ok(cli, p) for p in REDIS_CLUSTER_PORTS):
            assert time.monotonic() < deadline, "the Redis Cluster never reached cluster_state:ok"
            time.sleep(0.2)
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in REDIS_CLUSTER_PORTS)
    finally:
        for port in started:
            subprocess.run([cli, "-p", str(port), "shutdown", "nosave"], capture_output=True,
                           timeout=10)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    require_service("PostgreSQL", POSTGRES_ADDR,
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    return f"postgresql://postgres@{POSTGRES_ADDR[0]}:{POSTGRES_ADDR[1]}/test"


@pytest.fixture(scope="session")
def sim_config() -> SimConfig:
    """The small simulated world most tests share (seconds to build)."""
    return SimConfig(customers=1_500, days=120, products=200, seed=11)


@pytest.fixture(scope="session")
def sim_dataset(sim_config: SimConfig) -> Dataset:
    return simulate(sim_config)


@pytest.fixture(scope="session")
def sim_data_dir(tmp_path_factory: pytest.TempPathFactory, sim_dataset: Dataset) -> Path:
    """The shared simulated dataset written to a data directory (read-only for tests)."""
    out = tmp_path_factory.mktemp("sim") / "data"
    write_dataset(out, sim_dataset)
    return out


TRAIN_SIM = SimConfig(customers=1_200, days=170, products=200, seed=21)


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory: pytest.TempPathFactory):
    """A simulated dataset with features built and all four models trained and registered in a
    local MLflow (shared by training, promotion and serving tests). Returns (settings, results).
    """
    from features.settings import Settings
    from pipelines.console import quiet_libraries
    from pipelines.train_steps import train_step
    from training.model_specs import DATASET_MODELS

    quiet_libraries()
    root = tmp_path_factory.mktemp("trained")
    settings = Settings.from_env(env={}, data_dir=root / "data", home=root / "home")
    write_dataset(settings.data_dir, simulate(TRAIN_SIM))
    results = train_step(settings, list(DATASET_MODELS))
    return settings, {r.name: r for r in results}
