"""Schema validation: precise errors, rejects with a reason per row, nothing silently dropped."""

from __future__ import annotations

import pandas as pd
import pytest

from features import schema as s
from features.sources.validation import (
    SchemaError,
    validate_customers,
    validate_events,
    validate_products,
)

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
    # generated ids come from the content: the same rows again get the same ids
    again = validate_events(_events(rows), now=NOW).valid
    assert v[s.EVENT_ID].tolist() == again[s.EVENT_ID].tolist()
    assert v[s.EVENT_ID].str.startswith("h").all() and v[s.EVENT_ID].nunique() == 2


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
    assert not res.valid[s.SMS_CONSENT].any() and not res.valid[s.PUSH_CONSENT].any()
    with_channels = validate_customers(pd.DataFrame({"customer_id": ["a", "b", "c"],
                                                     "sms_consent": ["yes", "", "sometimes"]}))
    assert with_channels.valid[s.SMS_CONSENT].tolist() == [True, False]  # empty: no consent
    assert "sms_consent: 'sometimes'" in with_channels.rejects.iloc[0][s.REASON]

    prod = pd.DataFrame({"product_id": ["p1", "p2"], "price": ["10", "-1"], "margin": ["0.4",
                                                                                      "1.5"]})
    res = validate_products(prod)
    assert res.valid[s.PRODUCT_ID].tolist() == ["p1"]
    assert "price: negative" in res.rejects.iloc[0][s.REASON]
    assert "margin: expected a fraction" in res.rejects.iloc[0][s.REASON]


def test_identical_rows_in_one_input_are_distinct_events_but_a_retry_is_not() -> None:
    rows = [GOOD, GOOD, {**GOOD, "customer_id": "c2"}]
    first = validate_events(_events(rows), now=NOW).valid
    assert len(first) == 3 and first[s.EVENT_ID].nunique() == 3
    retry = validate_events(_events(rows[:1]), now=NOW).valid
    assert retry[s.EVENT_ID].iloc[0] in set(first[s.EVENT_ID])


@pytest.mark.parametrize(("change", "reason"), [
    ({"event_type": "purchase", "quantity": 1e30}, "quantity: more than 1,000,000 units"),
    ({"event_type": "purchase", "quantity": 2**63}, "quantity: more than 1,000,000 units"),
    ({"price": float("inf")}, "price: not a finite number"),
    ({"price": "Infinity"}, "price: not a finite number"),
    ({"price": "NaN"}, "price: 'NaN' is not a number"),
    ({"customer_id": {"a": 1}}, "customer_id: expected text, got an object"),
    ({"customer_id": True}, "customer_id: expected text"),
    ({"timestamp": True}, "timestamp: cannot parse 'True'"),
])
def test_hostile_values_are_rejected_not_stored(change: dict, reason: str) -> None:
    res = validate_events(_events([GOOD, {**GOOD, **change}]), now=NOW)
    assert len(res.valid) == 1 and reason in res.rejects.iloc[0][s.REASON]
    assert res.valid[s.QUANTITY].min() >= 0


def test_a_missing_quantity_is_one_unit_for_a_cart_add_whatever_the_column_type() -> None:
    """A cart add or purchase without a quantity is one unit, also when the column is one of
    pandas' nullable types (whose missing value once made it 0) or plain numbers."""
    rows = [{**GOOD, "event_type": "add_to_cart", "quantity": q} for q in (None, 2, 3)]
    for dtype in ("Float64", "Int64", "float64", object):
        df = _events(rows).astype({"quantity": dtype})
        res = validate_events(df, now=NOW)
        assert res.rejects.empty and res.valid[s.QUANTITY].tolist() == [1, 2, 3], dtype


def test_epoch_numbers_are_read_by_magnitude() -> None:
    t = pd.Timestamp("2026-02-01T10:00:00Z")
    for value in (t.timestamp(), int(t.timestamp()), t.timestamp() * 1e3, str(int(
            t.timestamp()))):
        res = validate_events(_events([{**GOOD, "timestamp": value}]), now=NOW)
        assert res.valid[s.EVENT_TS].iloc[0] == t, value


def test_day_first_dates_are_detected_or_refused() -> None:
    day_first = [{**GOOD, "timestamp": "25/01/2026 10:00"}, {**GOOD, "timestamp": "03/02/2026"}]
    v = validate_events(_events(day_first), now=NOW).valid
    assert sorted(v[s.EVENT_TS].dt.strftime("%Y-%m-%d")) == ["2026-01-25", "2026-02-03"]
    month_first = [{**GOOD, "timestamp": "01/25/2026"}, {**GOOD, "timestamp": "02/03/2026"}]
    v = validate_events(_events(month_first), now=NOW).valid
    assert sorted(v[s.EVENT_TS].dt.strftime("%Y-%m-%d")) == ["2026-01-25", "2026-02-03"]
    ambiguous = [{**GOOD, "timestamp": "03/02/2026"}, {**GOOD, "timestamp": "04/02/2026"}]
    with pytest.raises(SchemaError, match="--dayfirst or --monthfirst"):
        validate_events(_events(ambiguous), now=NOW)
    v = validate_events(_events(ambiguous), now=NOW, dayfirst=True).valid
    assert sorted(v[s.EVENT_TS].dt.strftime("%Y-%m-%d")) == ["2026-02-03", "2026-02-04"]
    with pytest.raises(SchemaError, match="day-first in some rows and month-first"):
        validate_events(_events([*day_first, *month_first]), now=NOW)


def test_missing_required_columns_can_be_answered_row_by_row() -> None:
    res = validate_events(_events([{"customer_id": "c1", "product_id": "p1"}]), now=NOW,
                          require=False)
    assert res.valid.empty
    assert "event_type: missing" in res.rejects.iloc[0][s.REASON]
    assert "timestamp: missing" in res.rejects.iloc[0][s.REASON]
