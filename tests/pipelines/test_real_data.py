"""Real transaction logs: the whole pipeline on a log from the 1990s, and `nba backtest` on a
slice of UCI Online Retail (tests/fixtures; sources in docs/data.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import FIXTURES, RETAIL_SAMPLE
from tests.pipelines.test_cli import nba

pytestmark = pytest.mark.slow  # whole-pipeline backtests on real retail logs

UCI_SAMPLE = FIXTURES / "online_retail_uci_sample.csv.gz"


@pytest.fixture(scope="module")
def nineties(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Online Retail II sample moved back 14 years (1995-12 .. 1997-12)."""
    raw = pd.read_csv(RETAIL_SAMPLE, dtype=str)
    ts = pd.to_datetime(raw["InvoiceDate"]) - pd.DateOffset(years=14)
    raw["InvoiceDate"] = ts.dt.strftime("%Y-%m-%d %H:%M:%S")
    path = tmp_path_factory.mktemp("nineties") / "invoices_1990s.csv"
    raw.to_csv(path, index=False)
    return path


def test_pre_2000_log_runs_the_whole_pipeline(nineties: Path, tmp_path: Path) -> None:
    from features.settings import Settings
    from features.sources.dataset import read_dataset
    from pipelines.data_steps import load_transactions_step
    from pipelines.serve_steps import batch_score_step
    from pipelines.train_steps import promote_step, train_step

    settings = Settings.from_env(env={}, data_dir=tmp_path / "retail")
    load_transactions_step(nineties, settings.data_dir)
    ds = read_dataset(settings.data_dir)
    assert ds.start.year == 1995 and ds.end.year == 1997
    results = {r.name: r for r in train_step(settings, ["intent", "churn", "send_time",
                                                        "affinity"])}
    assert set(results) == {"intent", "churn", "send_time", "affinity"}
    assert any("no email opens" in w for w in results["send_time"].warnings)
    assert results["churn"].definition.startswith("purchase churn")
    for name in ("intent", "churn"):  # horizons read from the gaps between purchases
        assert re.fullmatch(r"\d+[dw]", results[name].horizon), results[name].horizon
        assert results[name].value > 0.6
    promote_step(settings, ["intent", "churn", "send_time", "affinity"], force=True)
    frame, _ = batch_score_step(settings, tmp_path / "decisions.parquet")
    assert len(frame) == len(ds.customers) and not frame["degraded"].any()
    # worker processes decide exactly what one process decides (ids aside: fresh per decision)
    parallel, objects = batch_score_step(settings, tmp_path / "parallel.parquet", workers=2)
    assert objects == []  # rows only cross the process boundary
    pd.testing.assert_frame_equal(parallel.drop(columns="decision_id"),
                                  frame.drop(columns="decision_id"))
    assert set(frame["intent_horizon"]) == {results["intent"].horizon}
    assert set(frame["churn_horizon"]) == {results["churn"].horizon}
    assert frame["intent"].between(0, 1).all()


def test_backtest_on_real_retail_reports_model_and_every_baseline(tmp_path: Path) -> None:
    from pipelines.data_steps import load_transactions_step

    data = tmp_path / "uci"
    load_transactions_step(UCI_SAMPLE, data)
    r = nba("backtest", "--data", str(data), "--cutoff", "2011-09-09", "--horizon", "90d",
            "--model", "intent")
    assert r.returncode == 0, r.stderr
    rows = {m.group(1): float(m.group(2)) for m in re.finditer(
        r"^\s+(model|recency|frequency|rfm_logistic|bgnbd)\s+([0-9.]+)", r.stdout, re.M)}
    assert set(rows) == {"model", "recency", "frequency", "rfm_logistic", "bgnbd"}, r.stdout
    assert min(rows.values()) > 0.6  # every scorer ranks far better than chance on real data
    assert rows["model"] > rows["recency"]
    assert "model - best baseline" in r.stdout and "DeLong" in r.stdout
    assert (data / "backtests" / "20110909-90d" / "intent_scores.parquet").exists()
    # a window the log does not cover is one clear error
    r = nba("backtest", "--data", str(data), "--cutoff", "2011-11-01", "--horizon", "90d")
    assert r.returncode == 2 and "data ends 2011-12-09" in r.stderr
