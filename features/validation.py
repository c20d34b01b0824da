"""Validate and normalize events, customers and products.

A file-level problem (a required column missing) raises `SchemaError`. A row-level problem never
drops the row silently: the row goes to the rejects table with a reason, and is counted.
Checks are vectorized so a log of millions of rows validates in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def _clean_text(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    text = v.strip() if isinstance(v, str) else str(v).strip()
    return None if text in _NULL_TEXT else text


def _clean_str(col: pd.Series) -> pd.Series:
    """Strings stripped, empty and NA as None (object dtype)."""
    return pd.Series([_clean_text(v) for v in col.to_numpy(dtype=object)], index=col.index,
                     dtype=object)


def parse_utc(col: pd.Series) -> pd.Series:
    """Parse timestamps to UTC; naive values are taken as UTC; unparseable become NaT."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.tz_localize("UTC")
    return pd.to_datetime(col, utc=True, errors="coerce", format="mixed")


class _Reasons:
    """Collects per-row failure reasons."""

    def __init__(self, index: pd.Index) -> None:
        self.reasons = pd.Series("", index=index, dtype=object)

    def add(self, mask: pd.Series | np.ndarray,
            reason: str | Callable[[], pd.Series]) -> None:
        """Record `reason` for rows in `mask`; a callable builds per-row text only when needed."""
        mask = pd.Series(mask, index=self.reasons.index).fillna(False).astype(bool)
        if not mask.any():
            return
        text = reason if isinstance(reason, str) else reason()[mask].astype(str)
        cur = self.reasons[mask]
        self.reasons[mask] = np.where(cur == "", text, cur + "; " + text)

    def split(self, raw: pd.DataFrame, clean: pd.DataFrame) -> Validated:
        bad = self.reasons != ""
        rejects = raw[bad].copy()
        rejects[s.ROW] = np.flatnonzero(bad.to_numpy()) + 1
        rejects[s.REASON] = self.reasons[bad]
        return Validated(valid=clean[~bad].reset_index(drop=True), rejects=rejects)


def _numeric(
    col: pd.Series, name: str, reasons: _Reasons, *, integer: bool = False
) -> pd.Series:
    present = col.notna() & (col.astype("string").str.strip() != "")
    num = pd.to_numeric(col, errors="coerce")
    bad_type = present & num.isna()
    reasons.add(bad_type, lambda: name + ": '" + col.astype(str) + "' is not a number")
    if integer:
        frac = present & num.notna() & (num != np.floor(num))
        reasons.add(frac, lambda: name + ": '" + col.astype(str) + "' is not a whole number")
    return num


def validate_events(
    raw: pd.DataFrame, *, now: pd.Timestamp | None = None, max_future: str = "1D"
) -> Validated:
    """Check and normalize an event log (see `docs/data.md`)."""
    require_columns(raw, s.EVENT_REQUIRED, "events")
    raw = raw.reset_index(drop=True)
    reasons = _Reasons(raw.index)
    out = pd.DataFrame(index=raw.index)
    for col, kind in s.EVENT_COLUMNS.items():
        if col in raw.columns and kind == "str":
            out[col] = _clean_str(raw[col])
        elif kind == "str":
            out[col] = None

    reasons.add(out[s.CUSTOMER_ID].isna(), "customer_id: missing")

    etype = out[s.EVENT_TYPE]
    unknown = etype.notna() & ~etype.isin(s.EVENT_TYPES)
    reasons.add(etype.isna(), "event_type: missing")

    reasons.add(unknown, lambda: "event_type: unknown '" + etype.astype(str) + "'")

    ts = parse_utc(raw[s.EVENT_TS])
    reasons.add(ts.isna(),
                lambda: "timestamp: cannot parse '" + raw[s.EVENT_TS].astype(str) + "'")
    limit = (now or pd.Timestamp.now(tz="UTC")) + pd.Timedelta(max_future)
    reasons.add(ts > limit, lambda: "timestamp: in the future (" + ts.astype(str) + ")")
    out[s.EVENT_TS] = ts

    needs_product = etype.isin([str(e) for e in s.PRODUCT_EVENTS])
    reasons.add(needs_product & out[s.PRODUCT_ID].isna(),
                lambda: "product_id: missing for " + etype.astype(str))

    price = (
        _numeric(raw[s.PRICE], "price", reasons)
        if s.PRICE in raw.columns
        else pd.Series(np.nan, index=raw.index)
    )
    reasons.add(price < 0, lambda: "price: negative (" + price.astype(str) + ")")
    out[s.PRICE] = price.astype(float)

    qty = (
        _numeric(raw[s.QUANTITY], "quantity", reasons, integer=True)
        if s.QUANTITY in raw.columns
        else pd.Series(np.nan, index=raw.index)
    )
    is_cart_or_buy = etype.isin([s.EventType.ADD_TO_CART, s.EventType.PURCHASE])
    # 0 means "not applicable" (e.g. a view); a cart add or purchase needs a positive quantity.
    nonpositive = (qty < 0) | ((qty == 0) & is_cart_or_buy)
    reasons.add(nonpositive, lambda: "quantity: must be positive (" + qty.astype(str) + ")")
    out[s.QUANTITY] = qty.where(qty.notna() | ~is_cart_or_buy, 1).fillna(0).astype("int64")

    if s.EVENT_ID in raw.columns:
        dup = out[s.EVENT_ID].notna() & out[s.EVENT_ID].duplicated(keep="first")
        reasons.add(dup, lambda: "event_id: duplicate '" + out[s.EVENT_ID].astype(str) + "'")
        missing_id = out[s.EVENT_ID].isna()
    else:
        missing_id = pd.Series(True, index=raw.index)
    out.loc[missing_id, s.EVENT_ID] = [f"row-{i + 1}" for i in np.flatnonzero(missing_id)]

    result = reasons.split(raw, out[list(s.EVENT_COLUMNS)])
    result.valid = sort_events(result.valid)
    return result


def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events in time order (stable), with `event_type` as a categorical of the known types."""
    events = events.copy()
    events[s.EVENT_TYPE] = pd.Categorical(events[s.EVENT_TYPE], categories=list(s.EVENT_TYPES))
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


def validate_customers(raw: pd.DataFrame) -> Validated:
    """Check and normalize a customers table."""
    require_columns(raw, s.CUSTOMER_REQUIRED, "customers")
    raw = raw.reset_index(drop=True)
    reasons = _Reasons(raw.index)
    out = pd.DataFrame(index=raw.index)
    out[s.CUSTOMER_ID] = _clean_str(raw[s.CUSTOMER_ID])
    reasons.add(out[s.CUSTOMER_ID].isna(), "customer_id: missing")

    dup = out[s.CUSTOMER_ID].notna() & out[s.CUSTOMER_ID].duplicated(keep="first")
    reasons.add(dup,
                lambda: "customer_id: duplicate '" + out[s.CUSTOMER_ID].astype(str) + "'")
    if s.SIGNUP_TS in raw.columns:
        ts = parse_utc(raw[s.SIGNUP_TS])
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
    return reasons.split(raw, out[list(s.CUSTOMER_COLUMNS)])


def validate_products(raw: pd.DataFrame) -> Validated:
    """Check and normalize a products table."""
    require_columns(raw, s.PRODUCT_REQUIRED, "products")
    raw = raw.reset_index(drop=True)
    reasons = _Reasons(raw.index)
    out = pd.DataFrame(index=raw.index)
    out[s.PRODUCT_ID] = _clean_str(raw[s.PRODUCT_ID])
    reasons.add(out[s.PRODUCT_ID].isna(), "product_id: missing")

    dup = out[s.PRODUCT_ID].notna() & out[s.PRODUCT_ID].duplicated(keep="first")
    reasons.add(dup, lambda: "product_id: duplicate '" + out[s.PRODUCT_ID].astype(str) + "'")
    out[s.CATEGORY] = (
        _clean_str(raw[s.CATEGORY]) if s.CATEGORY in raw.columns else None
    )
    out[s.CATEGORY] = out[s.CATEGORY].fillna("unknown")
    for col, default in ((s.PRICE, np.nan), (s.MARGIN, 0.3)):
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
