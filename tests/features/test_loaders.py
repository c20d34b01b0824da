"""Loaders: the generic event log and transaction logs, proven on the real Online Retail sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import schema as s
from features.sources.loaders import load_events, load_transactions, parse_mapping, resolve_mapping
from features.sources.validation import SchemaError
from tests.conftest import RETAIL_SAMPLE


@pytest.fixture(scope="module")
def retail():
    return load_transactions(RETAIL_SAMPLE)


def test_retail_sample_loads_with_every_row_accounted_for(retail) -> None:
    raw = pd.read_csv(RETAIL_SAMPLE, dtype=str, keep_default_na=False)
    rep = retail.report
    assert rep["rows_read"] == len(raw)
    assert rep["rows_loaded"] + rep["rows_rejected"] == len(raw)
    assert len(retail.rejects) == rep["rows_rejected"]
    assert rep["mapping"]["customer_id"] == "Customer ID"
    assert rep["mapping"]["timestamp"] == "InvoiceDate"


def test_retail_returns_and_missing_customers_are_reported(retail) -> None:
    raw = pd.read_csv(RETAIL_SAMPLE, dtype=str, keep_default_na=False)
    cancelled = raw["Invoice"].str.startswith("C")
    no_customer = raw["Customer ID"].str.strip() == ""
    by = retail.report["rejected_by_reason"]
    assert by["return"] == cancelled.sum()
    assert by["customer_id"] == (no_customer & ~cancelled).sum()
    rejected_rows = set(retail.rejects[s.ROW])
    assert all(i + 1 in rejected_rows for i in raw.index[cancelled | no_customer])
    ev = retail.dataset.events
    assert (ev[s.EVENT_TYPE] == s.EventType.PURCHASE).all()
    assert (ev[s.QUANTITY] > 0).all() and (ev[s.PRICE] > 0).all()
    assert not ev[s.CUSTOMER_ID].str.endswith(".0").any()  # '12417.0' -> '12417'


def test_retail_customers_and_products_are_derived(retail) -> None:
    ds = retail.dataset
    assert set(ds.customers[s.CUSTOMER_ID]) == set(ds.events[s.CUSTOMER_ID])
    fr = ds.customers[ds.customers[s.COUNTRY] == "France"]
    assert (fr[s.TIMEZONE] == "Europe/Paris").all() and len(fr) > 0
    assert set(ds.products[s.PRODUCT_ID]) == set(ds.events[s.PRODUCT_ID])
    assert ds.products[s.PRICE].gt(0).all()


def test_mapping_errors_are_precise() -> None:
    cols = ["Invoice", "StockCode", "Quantity", "InvoiceDate", "Price", "Customer ID"]
    assert resolve_mapping(cols, None)["product_id"] == "StockCode"
    with pytest.raises(SchemaError, match="no column 'Nope'"):
        resolve_mapping(cols, {"invoice": "Nope"})
    with pytest.raises(SchemaError, match="unknown field"):
        resolve_mapping(cols, {"colour": "Invoice"})
    with pytest.raises(SchemaError, match=r"cannot find column.*customer_id"):
        resolve_mapping(cols[:-1], None)
    assert parse_mapping('customer_id="Customer ID",invoice=Inv') == {
        "customer_id": "Customer ID", "invoice": "Inv"}
    with pytest.raises(SchemaError, match="expected field=column"):
        parse_mapping("customer_id")


def test_event_log_csv_roundtrip_with_rejects(tmp_path: Path, sim_dataset) -> None:
    ev = sim_dataset.events.head(500).astype({s.EVENT_TYPE: str})
    ev.loc[3, s.EVENT_TYPE] = "teleport"
    path = tmp_path / "events.csv"
    ev.to_csv(path, index=False)
    res = load_events(path, now=pd.Timestamp("2030-01-01", tz="UTC"))
    assert len(res.dataset.events) == 499
    assert res.rejects[s.REASON].tolist() == ["event_type: unknown 'teleport'"]
    assert set(res.dataset.customers[s.CUSTOMER_ID]) == set(res.dataset.events[s.CUSTOMER_ID])


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "x.xlsx").write_text("nope")
    with pytest.raises(SchemaError, match="unsupported file type"):
        load_events(tmp_path / "x.xlsx")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_events(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SchemaError, match="empty"):
        load_events(tmp_path / "empty.csv")


def test_transactions_without_product_invoice_or_unit_price(tmp_path: Path) -> None:
    """A CDNOW-style log (customer, yyyymmdd date, units, line total; 1990s): orders are a
    customer's lines at one moment, the unit price is total / units."""
    from features.sources.loaders import UNSPECIFIED_PRODUCT, load_transactions

    path = tmp_path / "cdnow.csv"
    path.write_text("customer_id,date,number_of_cds,dollar_value\n"
                    "00001,19970101,1,11.77\n00002,19970112,2,24.00\n00002,19970112,5,77.00\n"
                    "00003,19970330,0,0.00\n")
    res = load_transactions(path, mapping={"quantity": "number_of_cds"})
    ev = res.dataset.events.set_index(s.EVENT_ID)
    assert len(ev) == 3 and res.report["rows_rejected"] == 1
    assert ev.loc["00002@19970112-1", s.PRICE] == pytest.approx(12.0)
    assert (ev[s.PRODUCT_ID] == UNSPECIFIED_PRODUCT).all()
    assert ev[s.EVENT_TS].min() == pd.Timestamp("1997-01-01", tz="UTC")
    assert res.report["invoices"] == 2
