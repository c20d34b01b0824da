"""Shared fixtures: small simulated datasets (session-scoped) and the machine's real services."""

from __future__ import annotations

import os
import socket
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


def require_service(name: str, addr: tuple[str, int], start_hint: str) -> None:
    """Skip when a service is down, unless NBA_REQUIRE_SERVICES=1 (CI), where it fails."""
    if _reachable(addr):
        return
    msg = f"{name} not reachable at {addr[0]}:{addr[1]} (start it with: {start_hint})"
    if os.environ.get("NBA_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"NBA_REQUIRE_SERVICES=1 but {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", REDIS_ADDR,
                    "redis-server --daemonize yes --port 6379 --save '' --appendonly no")
    return f"redis://{REDIS_ADDR[0]}:{REDIS_ADDR[1]}/0"


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
