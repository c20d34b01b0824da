"""Schema validation: precise errors, rejects with a reason per row, nothing silently dropped."""

from __future__ import annotations

import pandas as pd
import pytest

from features import schema as s
from features.validation import SchemaError, validate_customers, validate_events, validate_products

NOW = pd.Timestamp("2026-03-01", tz="UTC")


def _events(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


GOOD = {"customer_id": "c1", "event_type": "product_view", "timestamp": "2026-02-01T10:00:00Z",
        "product_id": "p1", "price": "9.5"}


def test_missing_required_column_names_it_and_what_was_found() -> None:
    df = pd.DataFrame({"customer_id": ["c1"], "when": ["2026-01-01"]})
    with pytest.raises(SchemaError) as err:
        validate_events(df, now=NOW)
    assert "event_type" in str(err.value) and "timestamp" in str(err.value)
    assert "found customer_id, when" in str(err.value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"customer_id": ""}, "customer_id: missing"),
        ({"event_type": "teleport"}, "event_type: unknown 'teleport'"),
        ({"timestamp": "yesterday-ish"}, "timestamp: cannot parse 'yesterday-ish'"),
        ({"timestamp": "2027-01-01T00:00:00Z"}, "timestamp: in the future"),
        ({"product_id": None}, "product_id: missing for product_view"),
        ({"price": "abc"}, "price: 'abc' is not a number"),
        ({"price": "-3"}, "price: negative"),
        ({"event_type": "purchase", "quantity": "1.5"}, "quantity: '1.5' is not a whole number"),
        ({"event_type": "purchase", "quantity": "0"}, "quantity: must be positive"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason(change: dict, reason: str) -> None:
    bad = {**GOOD, **change}
    res = validate_events(_events([GOOD, bad, GOOD]), now=NOW)
    assert len(res.valid) == 2
    assert len(res.rejects) == 1
    row = res.rejects.iloc[0]
    assert row[s.ROW] == 2
    assert reason in row[s.REASON]
    # The rejected row keeps its original values.
    for k, v in change.items():
        if v:
            assert row[k] == v


def test_several_problems_in_one_row_are_all_reported() -> None:
    bad = {**GOOD, "customer_id": None, "event_type": "nope", "price": "x"}
    res = validate_events(_events([bad]), now=NOW)
    reason = res.rejects.iloc[0][s.REASON]
    assert "customer_id: missing" in reason and "event_type: unknown" in reason
    assert "price" in reason
    assert res.reason_counts == {"customer_id": 1, "event_type": 1, "price": 1}


def test_valid_rows_are_normalized_and_sorted() -> None:
    rows = [
        {**GOOD, "timestamp": "2026-02-02 12:00:00"},  # naive -> UTC
        {**GOOD, "timestamp": "2026-02-01T10:00:00+02:00", "event_type": "search",
         "product_id": None},
    ]
    res = validate_events(_events(rows), now=NOW)
    v = res.valid
    assert list(v.columns) == list(s.EVENT_COLUMNS)
    assert str(v[s.EVENT_TS].dt.tz) == "UTC"
    assert v[s.EVENT_TS].tolist() == [pd.Timestamp("2026-02-01T08:00:00Z"),
                                      pd.Timestamp("2026-02-02T12:00:00Z")]
    assert v[s.EVENT_ID].tolist() == ["row-2", "row-1"]  # generated ids keep the source row


def test_duplicate_event_ids_are_rejected_not_merged() -> None:
    rows = [{**GOOD, "event_id": "e1"}, {**GOOD, "event_id": "e1"}]
    res = validate_events(_events(rows), now=NOW)
    assert len(res.valid) == 1
    assert "event_id: duplicate 'e1'" in res.rejects.iloc[0][s.REASON]


def test_customers_and_products_validation() -> None:
    cust = pd.DataFrame({"customer_id": ["a", "a", "b", ""], "timezone": ["UTC", "UTC", "Mars/X",
                                                                          "UTC"],
                         "consent": ["yes", "no", "maybe", "1"]})
    res = validate_customers(cust)
    assert res.valid[s.CUSTOMER_ID].tolist() == ["a"]
    reasons = res.rejects[s.REASON].tolist()
    assert any("duplicate 'a'" in r for r in reasons)
    assert any("timezone: unknown 'Mars/X'" in r and "consent: 'maybe'" in r for r in reasons)
    assert any("customer_id: missing" in r for r in reasons)

    prod = pd.DataFrame({"product_id": ["p1", "p2"], "price": ["10", "-1"], "margin": ["0.4",
                                                                                      "1.5"]})
    res = validate_products(prod)
    assert res.valid[s.PRODUCT_ID].tolist() == ["p1"]
    assert "price: negative" in res.rejects.iloc[0][s.REASON]
    assert "margin: expected a fraction" in res.rejects.iloc[0][s.REASON]
