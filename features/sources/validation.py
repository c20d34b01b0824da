"""Validate and normalize events, customers and products.

A file-level problem (a required column missing) raises `SchemaError`. A row-level problem never
drops the row silently: the row goes to the rejects table with a reason, and is counted.
Checks are vectorized so a log of millions of rows validates in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features import schema as s


class SchemaError(ValueError):
    """The input cannot be read as the documented schema (e.g. a required column is missing)."""


@dataclass
class Validated:
    """Rows that passed, rows that did not (with a `reason`), and a count per reason."""

    valid: pd.DataFrame
    rejects: pd.DataFrame

    @property
    def reason_counts(self) -> dict[str, int]:
        if self.rejects.empty:
            return {}
        # Several reasons per row are joined by "; ": count each reason's kind once per row.
        kinds = self.rejects[s.REASON].str.split("; ").explode().str.split(":").str[0]
        return {str(k): int(v) for k, v in kinds.value_counts().items()}


def require_columns(df: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Raise `SchemaError` naming every missing required column and the columns found."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise SchemaError(
            f"{what}: missing required column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, df.columns)) or 'no columns'}"
        )


_NULL_TEXT = frozenset({"", "nan", "None", "NaN", "<NA>", "null"})


NOT_TEXT = "\x00not-text"  # marks a value that is an object, a list or a boolean


def _clean_text(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, dict | list | tuple | set | bool | bytes):
        return NOT_TEXT
    text = v.strip() if isinstance(v, str) else str(v).strip()
    return None if text in _NULL_TEXT else text


def _clean_values(col: pd.Series) -> np.ndarray:
    """Strings stripped, empty and NA as None (an object array); objects, lists and booleans
    are marked `NOT_TEXT` (an id is never "{'a': 1}")."""
    out = np.empty(len(col), dtype=object)
    out[:] = [_clean_text(v) for v in col.to_numpy(dtype=object)]
    return out


def _clean_str(col: pd.Series) -> pd.Series:
    """`_clean_values` as a Series on the column's index."""
    return pd.Series(_clean_values(col), index=col.index, dtype=object)


def _isin(values: np.ndarray, allowed: Collection[str]) -> np.ndarray:
    """Elementwise membership of an object array (None and non-text: False)."""
    wanted = frozenset(str(a) for a in allowed)
    return np.fromiter((v in wanted for v in values), dtype=bool, count=len(values))


# Day and month in either order: 03/04/2011, 3.4.11, 03-04-2011.
_DMY = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})\b"
# Epoch numbers by magnitude: seconds until year 5138, then ms, us, ns.
_EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))


def _epoch(num: pd.Series) -> pd.Series:
    """Numbers as epoch times, the unit read from the magnitude (1.7e9 is seconds, not the
    nanoseconds of 1970)."""
    out = pd.Series(pd.NaT, index=num.index, dtype="datetime64[ns, UTC]")
    lower = 0.0
    for upper, unit in _EPOCH_UNITS:
        sel = num.notna() & (num.abs() >= lower) & (num.abs() < upper)
        if sel.any():
            out[sel] = pd.to_datetime(num[sel], unit=unit, utc=True, errors="coerce")
        lower = upper
    return out


def date_order(col: pd.Series) -> bool | None:
    """True when numeric dates are day-first (some first part > 12), False when month-first,
    None when no value says (every part <= 12) or there are no such dates; SchemaError when
    the column has both."""
    text = col[col.map(lambda v: isinstance(v, str))].astype(str)
    parts = text.str.extract(_DMY).dropna()
    if parts.empty:
        return None
    first, second = parts[0].astype(int), parts[1].astype(int)
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first and month_first:
        raise SchemaError("timestamp: dates are day-first in some rows and month-first in "
                          "others (e.g. " + ", ".join(text.head(2)) + "); fix the file")
    return True if day_first else (False if month_first else None)


def parse_utc(col: pd.Series, dayfirst: bool | None = None) -> pd.Series:
    """Parse timestamps to UTC; naive values are taken as UTC; numbers are epoch times (unit
    by magnitude); booleans and other non-times become NaT. Numeric dates like 03/04/2011 are
    read day-first or month-first as the data shows; when no value shows which, `dayfirst`
    must say so, else SchemaError (never a silent guess)."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.tz_localize("UTC")
    if pd.api.types.is_bool_dtype(col):
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_numeric_dtype(col):
        return _epoch(pd.to_numeric(col, errors="coerce").astype(float))
    values = col.astype(object)
    is_bool = values.map(lambda v: isinstance(v, bool))
    is_num = values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    digits = values.map(lambda v: isinstance(v, str) and v.strip().isdigit()
                        and len(v.strip()) >= 9)  # "1700000000"; "19970101" is a date
    numeric = is_num | digits
    seen = date_order(values)
    order = seen if seen is not None else dayfirst
    if order is None and values[values.map(lambda v: isinstance(v, str))].astype(str).str.match(
            _DMY).any():
        sample = values[values.astype(str).str.match(_DMY)].astype(str).iloc[0]
        raise SchemaError(f"timestamp: dates like {sample!r} could be day-first or month-first "
                          "and no value tells which; pass --dayfirst or --monthfirst")
    text = values.where(~(is_bool | numeric), None)
    out = pd.to_datetime(text, utc=True, errors="coerce", format="mixed",
                         dayfirst=bool(order))
    if numeric.any():
        nums = pd.to_numeric(values.where(numeric, None), errors="coerce").astype(float)
        out = out.where(~numeric, _epoch(nums))
    return out


class _Reasons:
    """Collects per-row failure reasons (numpy underneath: a live batch of a few events runs
    two dozen checks, and pandas' per-call cost was most of the live path's fixed time)."""

    def __init__(self, index: pd.Index) -> None:
        self.reasons = np.full(len(index), "", dtype=object)

    def has(self) -> np.ndarray:
        """Rows that already have a reason."""
        return self.reasons != ""

    def add(self, mask: pd.Series | np.ndarray,
            reason: str | Callable[[], pd.Series]) -> None:
        """Record `reason` for rows in `mask` (NA: no); a callable builds per-row text only
        when needed."""
        m = (mask.to_numpy(dtype=bool, na_value=False) if isinstance(mask, pd.Series)
             else np.asarray(mask, dtype=bool))
        if not m.any():
            return
        text = reason if isinstance(reason, str) else reason().astype(str).to_numpy(
            dtype=object)[m]
        cur = self.reasons[m]
        self.reasons[m] = np.where(cur == "", text, cur + "; " + text)

    def split(self, raw: pd.DataFrame, clean: pd.DataFrame) -> Validated:
        bad = self.reasons != ""
        rejects = raw[bad].copy()
        rejects[s.ROW] = np.flatnonzero(bad) + 1
        rejects[s.REASON] = self.reasons[bad]
        valid = clean[~bad].reset_index(drop=True) if bad.any() else clean
        return Validated(valid=valid, rejects=rejects)


def _numeric(
    col: pd.Series, name: str, reasons: _Reasons, *, integer: bool = False
) -> pd.Series:
    if col.dtype.kind in "iuf":  # numbers already: nothing is "not a number"
        num = col
        if integer:
            reasons.add(num.notna() & (num != np.floor(num)),
                        lambda: name + ": '" + col.astype(str) + "' is not a whole number")
        return num
    present = col.notna() & (col.astype("string").str.strip() != "")
    num = pd.to_numeric(col, errors="coerce")
    bad_type = present & num.isna()
    reasons.add(bad_type, lambda: name + ": '" + col.astype(str) + "' is not a number")
    if integer:
        frac = present & num.notna() & (num != np.floor(num))
        reasons.add(frac, lambda: name + ": '" + col.astype(str) + "' is not a whole number")
    return num


MAX_QUANTITY = 1_000_000  # a line of more units is a data error, not a purchase
MAX_PRICE = 1e9


def event_ids(events: pd.DataFrame) -> pd.Series:
    """A stable id per event from its content (customer, type, time, product, price, quantity,
    query, campaign, channel): the same event sent again (a retry, a re-run after a crash) gets
    the same id, so stores that keep one row per id never count it twice. Identical rows within
    one input are distinct events (the k-th copy gets suffix `-k`)."""
    cols = [c for c in (s.CUSTOMER_ID, s.EVENT_TYPE, s.EVENT_TS, s.PRODUCT_ID, s.PRICE,
                        s.QUANTITY, s.QUERY, s.CAMPAIGN_ID, s.CHANNEL) if c in events.columns]
    key = events[cols].astype(str).agg("|".join, axis=1) if cols else pd.Series(
        "", index=events.index)
    h = pd.util.hash_pandas_object(key, index=False, hash_key="nba-event-ids-01")
    copy = key.groupby(key, sort=False).cumcount()
    return ("h" + h.map(lambda v: f"{v:016x}") + copy.map(lambda k: f"-{k + 1}" if k else ""))


def validate_events(
    raw: pd.DataFrame, *, now: pd.Timestamp | None = None, max_future: str = "1D",
    dayfirst: bool | None = None, require: bool = True,
) -> Validated:
    """Check and normalize an event log (see `docs/data.md`). With `require` False a missing
    required column is a reason on every row instead of an error (the live path: one bad batch
    is answered row by row)."""
    if require:
        require_columns(raw, s.EVENT_REQUIRED, "events")
    raw = raw.reset_index(drop=True)
    for col in s.EVENT_REQUIRED:
        if col not in raw.columns:
            raw[col] = None
    # numpy arrays, one frame at the end: a live batch of a few events runs two dozen checks,
    # and pandas' per-call cost was most of a small batch's ingest time
    n = len(raw)
    reasons = _Reasons(raw.index)
    out: dict[str, Any] = {}
    for col, kind in s.EVENT_COLUMNS.items():
        if kind != "str":
            continue
        if col in raw.columns:
            values = _clean_values(raw[col])
            bad = np.asarray(values == NOT_TEXT, dtype=bool)
            reasons.add(bad, f"{col}: expected text, got an object, list or boolean")
            values[bad] = None
            out[col] = values
        else:
            out[col] = np.full(n, None, dtype=object)

    reasons.add(pd.isna(out[s.CUSTOMER_ID]) & ~reasons.has(), "customer_id: missing")

    etype = out[s.EVENT_TYPE]
    etype_na = pd.isna(etype)
    reasons.add(etype_na, "event_type: missing")
    reasons.add(~etype_na & ~_isin(etype, s.EVENT_TYPES),
                lambda: "event_type: unknown '" + pd.Series(etype).astype(str) + "'")

    ts = parse_utc(raw[s.EVENT_TS], dayfirst=dayfirst)
    absent = raw[s.EVENT_TS].isna().to_numpy()
    reasons.add(absent, "timestamp: missing")
    reasons.add(ts.isna().to_numpy() & ~absent,
                lambda: "timestamp: cannot parse '" + raw[s.EVENT_TS].astype(str) + "'")
    limit = (now or pd.Timestamp.now(tz="UTC")) + pd.Timedelta(max_future)
    reasons.add(ts > limit, lambda: "timestamp: in the future (" + ts.astype(str) + ")")
    out[s.EVENT_TS] = ts

    reasons.add(_isin(etype, s.PRODUCT_EVENTS) & pd.isna(out[s.PRODUCT_ID]),
                lambda: "product_id: missing for " + pd.Series(etype).astype(str))

    price_read = (_numeric(raw[s.PRICE], "price", reasons) if s.PRICE in raw.columns
            else pd.Series(np.nan, index=raw.index))
    price = price_read.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        reasons.add(price < 0, lambda: "price: negative (" + price_read.astype(str) + ")")
        reasons.add(np.isinf(price) | (price > MAX_PRICE),
                    lambda: "price: not a finite number below 1e9 (" + price_read.astype(str) + ")")
    out[s.PRICE] = price

    qty_read = (_numeric(raw[s.QUANTITY], "quantity", reasons, integer=True)
            if s.QUANTITY in raw.columns else pd.Series(np.nan, index=raw.index))
    qty = qty_read.to_numpy(dtype=float)
    is_cart_or_buy = _isin(etype, (s.EventType.ADD_TO_CART, s.EventType.PURCHASE))
    # 0 means "not applicable" (e.g. a view); a cart add or purchase needs a positive quantity.
    with np.errstate(invalid="ignore"):
        nonpositive = (qty < 0) | ((qty == 0) & is_cart_or_buy)
        reasons.add(nonpositive,
                    lambda: "quantity: must be positive (" + qty_read.astype(str) + ")")
        huge = np.isinf(qty) | (qty > MAX_QUANTITY)
    reasons.add(huge, lambda: f"quantity: more than {MAX_QUANTITY:,} units (" +
                qty_read.astype(str) + ")")
    qty = np.where(huge, 0, qty)
    qty = np.where(np.isnan(qty) & is_cart_or_buy, 1, qty)
    out[s.QUANTITY] = np.nan_to_num(qty, nan=0.0).astype("int64")

    clean = pd.DataFrame({c: out[c] for c in s.EVENT_COLUMNS})
    missing_id = clean[s.EVENT_ID].isna()
    if missing_id.any():  # content-derived: a retried event gets the same id
        clean.loc[missing_id, s.EVENT_ID] = event_ids(clean[missing_id]).to_numpy()
    ids = clean[s.EVENT_ID]
    dup = (ids.notna() & ids.duplicated(keep="first")).to_numpy()
    reasons.add(dup, lambda: "event_id: duplicate '" + ids.astype(str) + "'")

    result = reasons.split(raw, clean)
    result.valid = sort_events(result.valid)
    return result


def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events in time order (stable), with `event_type` as a categorical of the known types."""
    events = events.copy()
    events[s.EVENT_TYPE] = pd.Categorical(events[s.EVENT_TYPE], categories=list(s.EVENT_TYPES))
    if events[s.EVENT_TS].is_monotonic_increasing:  # a live batch usually is
        return events.reset_index(drop=True)
    return events.sort_values(s.EVENT_TS, kind="stable").reset_index(drop=True)


def _bool_col(col: pd.Series, name: str, reasons: _Reasons, default: bool) -> pd.Series:
    text = col.astype("string").str.strip().str.lower()
    mapping = {"true": True, "1": True, "yes": True, "y": True, "t": True,
               "false": False, "0": False, "no": False, "n": False, "f": False,
               "1.0": True, "0.0": False}
    parsed = text.map(mapping)
    bad = text.notna() & (text != "") & parsed.isna()
    reasons.add(bad, lambda: name + ": '" + col.astype(str) + "' is not true/false")
    return pd.Series(np.where(parsed.isna(), default, parsed), index=col.index).astype(bool)


def _ids(col: pd.Series, name: str, reasons: _Reasons) -> pd.Series:
    """A table's id column: stripped text; a missing or repeated id refuses its row."""
    ids = _clean_str(col)
    reasons.add(ids.isna(), f"{name}: missing")
    dup = ids.notna() & ids.duplicated(keep="first")
    reasons.add(dup, lambda: f"{name}: duplicate '" + ids.astype(str) + "'")
    return ids


def validate_customers(raw: pd.DataFrame, dayfirst: bool | None = None) -> Validated:
    """Check and normalize a customers table."""
    require_columns(raw, s.CUSTOMER_REQUIRED, "customers")
    raw = raw.reset_index(drop=True)
    reasons = _Reasons(raw.index)
    out = pd.DataFrame(index=raw.index)
    out[s.CUSTOMER_ID] = _ids(raw[s.CUSTOMER_ID], s.CUSTOMER_ID, reasons)
    if s.SIGNUP_TS in raw.columns:
        ts = parse_utc(raw[s.SIGNUP_TS], dayfirst=dayfirst)
        given = raw[s.SIGNUP_TS].notna() & (raw[s.SIGNUP_TS].astype(str).str.strip() != "")
        reasons.add(given & ts.isna(), lambda: "signup_ts: cannot parse '" +
                    raw[s.SIGNUP_TS].astype(str) + "'")
        out[s.SIGNUP_TS] = ts
    else:
        out[s.SIGNUP_TS] = pd.NaT
    out[s.SIGNUP_TS] = pd.to_datetime(out[s.SIGNUP_TS], utc=True)
    for col in (s.COUNTRY, s.TIMEZONE):
        out[col] = _clean_str(raw[col]) if col in raw.columns else None
    out[s.TIMEZONE] = out[s.TIMEZONE].fillna("UTC")
    bad_tz = ~out[s.TIMEZONE].map(_is_timezone)
    reasons.add(bad_tz, lambda: "timezone: unknown '" + out[s.TIMEZONE].astype(str) + "'")
    out[s.CONSENT] = (
        _bool_col(raw[s.CONSENT], "consent", reasons, True) if s.CONSENT in raw.columns else True
    )
    out[s.UNSUBSCRIBED] = (
        _bool_col(raw[s.UNSUBSCRIBED], "unsubscribed", reasons, False)
        if s.UNSUBSCRIBED in raw.columns
        else False
    )
    for col in s.CHANNEL_CONSENTS.values():  # other channels: no consent unless given
        out[col] = _bool_col(raw[col], col, reasons, False) if col in raw.columns else False
    return reasons.split(raw, out[list(s.CUSTOMER_COLUMNS)])


def validate_products(raw: pd.DataFrame) -> Validated:
    """Check and normalize a products table."""
    require_columns(raw, s.PRODUCT_REQUIRED, "products")
    raw = raw.reset_index(drop=True)
    reasons = _Reasons(raw.index)
    out = pd.DataFrame(index=raw.index)
    out[s.PRODUCT_ID] = _ids(raw[s.PRODUCT_ID], s.PRODUCT_ID, reasons)
    out[s.CATEGORY] = (
        _clean_str(raw[s.CATEGORY]) if s.CATEGORY in raw.columns else None
    )
    out[s.CATEGORY] = out[s.CATEGORY].fillna("unknown")
    for col, default in ((s.PRICE, np.nan), (s.MARGIN, s.DEFAULT_MARGIN)):
        num = (
            _numeric(raw[col], col, reasons) if col in raw.columns
            else pd.Series(np.nan, index=raw.index)
        )
        reasons.add(num < 0, lambda c=col, v=num: c + ": negative (" + v.astype(str) + ")")
        out[col] = num.fillna(default).astype(float)
    reasons.add(out[s.MARGIN] > 1, "margin: expected a fraction of price in [0, 1]")

    out[s.IN_STOCK] = (
        _bool_col(raw[s.IN_STOCK], "in_stock", reasons, True) if s.IN_STOCK in raw.columns
        else True
    )
    return reasons.split(raw, out[list(s.PRODUCT_COLUMNS)])


_TZ_CACHE: dict[str, bool] = {}


def _is_timezone(name: object) -> bool:
    if not isinstance(name, str):
        return False
    if name not in _TZ_CACHE:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
            _TZ_CACHE[name] = True
        except (ZoneInfoNotFoundError, ValueError):
            _TZ_CACHE[name] = False
    return _TZ_CACHE[name]
