"""`nba train-response` and `nba evaluate-policy` on a campaign log they have never seen
(other column names, other treatments), and their one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.pipelines.test_cli import nba

ARMS = ("holdout", "promo_a", "promo_b")
PROPENSITY = (0.4, 0.3, 0.3)


def generic_log(n: int, seed: int) -> pd.DataFrame:
    """A foreign campaign: promo_a works for engaged members, promo_b for frequent buyers,
    neither for the rest (where it only costs)."""
    rng = np.random.default_rng(seed)
    engaged = rng.normal(0, 1, n)
    orders = rng.poisson(1.5, n)
    arm = rng.choice(3, n, p=PROPENSITY)
    base = 0.10 + 0.03 * (orders > 0)
    lift = np.select([arm == 1, arm == 2],
                     [np.where(engaged > 0.3, 0.15, -0.04), np.where(orders >= 2, 0.12, -0.04)],
                     0.0)
    return pd.DataFrame({
        "member": [f"m{i % (n // 2)}" for i in range(n)], "engagement": engaged.round(3),
        "orders_last_year": orders, "arm": np.array(ARMS)[arm],
        "p_arm": np.array(PROPENSITY)[arm],
        "converted": (rng.random(n) < base + lift).astype(int),
    })


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("campaign")
    train, fresh = root / "train.csv", root / "fresh.parquet"
    generic_log(12_000, 1).to_csv(train, index=False)
    generic_log(6_000, 2).to_parquet(fresh, index=False)
    env = {**os.environ, "NBA_DATA_DIR": str(root / "data"), "NBA_HOME": str(root / "home")}
    return train, fresh, env


@pytest.mark.slow
def test_train_response_then_evaluate_on_an_unseen_log(logs) -> None:
    train, fresh, env = logs
    r = nba("train-response", "--log", str(train), "--treatment", "arm", "--outcome",
            "converted", "--propensity", "p_arm", "--control", "holdout", "--group", "member",
            "--promote", env=env)
    assert r.returncode == 0, r.stderr
    assert "registered nba-response v1" in r.stdout
    assert "no champion yet" in r.stdout  # promoted: it beats every single arm and random
    assert "promo_a" in r.stdout and "Qini" in r.stdout
    r = nba("evaluate-policy", "--log", str(fresh), "--treatment", "arm", "--outcome",
            "converted", "--propensity", "p_arm", "--group", "member", env=env)
    assert r.returncode == 0, r.stderr
    rows: dict[str, list[str]] = {}
    for ln in r.stdout.splitlines():  # the table rows come first
        if ln.strip():
            rows.setdefault(ln.split()[0], ln.split())
    learned, best_single = float(rows["learned"][2]), max(float(rows[a][2]) for a in ARMS)
    assert learned > best_single  # SNIPS estimate on rows the model never saw
    assert "nba-response-evaluation" in r.stdout


@pytest.mark.slow
def test_a_bad_column_is_a_one_line_error(logs) -> None:
    train, _, env = logs
    r = nba("train-response", "--log", str(train), "--treatment", "arm", "--outcome", "revenue",
            env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "outcome column 'revenue' not in the log" in r.stderr


@pytest.mark.parametrize(("spec", "fragment"), [
    ({"propensity": "engagement", "control": "holdout"},
     "propensity column 'engagement' must be numbers in (0, 1]"),
    ({}, "control treatment 'none' never appears in 'arm'"),
    ({"control": "holdout", "features": ("engagement", "age")},
     "feature column(s) 'age' not in the log"),
])
def test_bad_columns_name_the_column(logs, spec: dict, fragment: str) -> None:
    from features.settings import Settings
    from pipelines.console import UserError
    from pipelines.response_steps import train_response_step
    from training.response import LogSpec

    train, _, env = logs
    settings = Settings.from_env(env={}, data_dir=Path(env["NBA_DATA_DIR"]))
    with pytest.raises(UserError) as err:
        train_response_step(settings, train, LogSpec("arm", "converted", **spec))
    assert fragment in str(err.value) and str(train) in str(err.value)
