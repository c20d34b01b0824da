"""`nba product-events ingest FILE`: triggers, audiences decided in batch, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.online.product_events import interested_customers
from features.sources.dataset import write_dataset
from tests.pipelines.test_cli import nba

pytestmark = pytest.mark.slow  # subprocesses; the run builds the features of a small world


def test_missing_or_empty_file_is_one_error_line(tmp_path: Path) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    for source, fragment in ((str(tmp_path / "missing.jsonl"), "no such file"),
                             (str(empty), "no product events")):
        r = nba("product-events", "ingest", source, "--data", str(tmp_path / "d"))
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and fragment in lines[0], r.stderr
        assert "Traceback" not in r.stderr


def test_price_drop_file_decides_the_audience_in_batch(tmp_path: Path, sim_dataset) -> None:
    data = tmp_path / "data"
    write_dataset(data, sim_dataset)
    ds = sim_dataset
    window = pd.Timedelta(days=14)
    views = ds.events[(ds.events["event_type"] == "product_view")
                      & (ds.events["timestamp"] > ds.end - window)]
    stock = set(ds.products[ds.products["in_stock"]]["product_id"])
    pid = next(p for p in views["product_id"].value_counts().index if p in stock)
    price = float(ds.products.set_index("product_id").at[pid, "price"])
    want = interested_customers(ds.events, [pid], ds.end, window)
    src = tmp_path / "changes.jsonl"
    rows = [{"product_id": pid, "event_type": "price_change", "price": round(price * 0.8, 2),
             "timestamp": ds.end.isoformat()},
            {"product_id": pid, "event_type": "teleport"}]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "decisions.csv"
    r = nba("product-events", "ingest", str(src), "--data", str(data), "-o", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "accepted 1 product events; rejected 1" in r.stdout, r.stdout
    assert f"trigger price_drop {pid} (-20%)" in r.stdout, r.stdout
    assert f"audience {len(want):,} customers" in r.stdout, r.stdout
    decided = pd.read_csv(out)
    assert set(decided["customer_id"]) == set(want["customer_id"])
    assert decided["reasons"].str.contains(f"candidate_price_drop:{pid}", regex=False).any()
