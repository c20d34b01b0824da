"""Loaders for real data: a generic event log, and transaction-only (invoice) logs.

Both produce a `Dataset` plus a rejects table (every refused row with its reason) and a report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import schema as s
from features.sources.dataset import Dataset
from features.sources.validation import (
    SchemaError,
    Validated,
    validate_customers,
    validate_events,
    validate_products,
)

# Transaction-log fields and the column names commonly used for them (compared case-insensitively,
# ignoring spaces and underscores).
TRANSACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "invoice": ("invoice", "invoiceno", "order", "orderid", "transactionid", "receipt"),
    "product_id": ("stockcode", "productid", "sku", "itemid", "product", "item"),
    "quantity": ("quantity", "qty", "units"),
    "timestamp": ("invoicedate", "timestamp", "orderdate", "date", "datetime", "time"),
    "price": ("price", "unitprice", "itemprice"),
    "amount": ("amount", "linetotal", "total", "value", "dollarvalue", "revenue", "sales"),
    "customer_id": ("customerid", "customer", "clientid", "userid"),
    "category": ("category", "productcategory"),
    "description": ("description", "productname", "name"),
    "country": ("country", "countrycode"),
}
TRANSACTION_REQUIRED = ("timestamp", "customer_id")
# Without a product column every line is product `UNSPECIFIED_PRODUCT`; without an invoice column
# an order is a customer's lines at one timestamp; without a unit price, `amount / quantity`.
UNSPECIFIED_PRODUCT = "unspecified"
# Invoice lines that are not products (postage, fees, manual adjustments) in retail exports.
NON_PRODUCT_CODES = frozenset(
    {"POST", "DOT", "M", "D", "C2", "CRUK", "BANK CHARGES", "AMAZONFEE", "ADJUST", "ADJUST2",
     "S", "B", "PADS", "TEST001", "TEST002"}
)
COUNTRY_TIMEZONES = {
    "united kingdom": "Europe/London", "uk": "Europe/London", "gb": "Europe/London",
    "eire": "Europe/Dublin", "ireland": "Europe/Dublin", "france": "Europe/Paris",
    "germany": "Europe/Berlin", "netherlands": "Europe/Amsterdam", "belgium": "Europe/Brussels",
    "spain": "Europe/Madrid", "portugal": "Europe/Lisbon", "italy": "Europe/Rome",
    "switzerland": "Europe/Zurich", "austria": "Europe/Vienna", "denmark": "Europe/Copenhagen",
    "sweden": "Europe/Stockholm", "norway": "Europe/Oslo", "finland": "Europe/Helsinki",
    "poland": "Europe/Warsaw", "greece": "Europe/Athens", "cyprus": "Asia/Nicosia",
    "iceland": "Atlantic/Reykjavik", "channel islands": "Europe/Jersey",
    "lithuania": "Europe/Vilnius", "malta": "Europe/Malta", "czech republic": "Europe/Prague",
    "usa": "America/New_York", "united states": "America/New_York", "us": "America/New_York",
    "canada": "America/Toronto", "brazil": "America/Sao_Paulo", "australia": "Australia/Sydney",
    "japan": "Asia/Tokyo", "singapore": "Asia/Singapore", "israel": "Asia/Jerusalem",
    "united arab emirates": "Asia/Dubai", "saudi arabia": "Asia/Riyadh",
    "bahrain": "Asia/Bahrain", "lebanon": "Asia/Beirut", "rsa": "Africa/Johannesburg",
    "south africa": "Africa/Johannesburg", "korea": "Asia/Seoul", "thailand": "Asia/Bangkok",
    "nigeria": "Africa/Lagos", "west indies": "America/Barbados", "india": "Asia/Kolkata",
    "de": "Europe/Berlin", "fr": "Europe/Paris", "jp": "Asia/Tokyo", "br": "America/Sao_Paulo",
    "in": "Asia/Kolkata",
}


@dataclass
class LoadResult:
    """What a loader produced: the dataset, refused rows with reasons, and a report."""

    dataset: Dataset
    rejects: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


def read_table(path: Path, text: bool = True) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file: the one table reader. `text` keeps
    every CSV column as text (loaders validate types themselves); otherwise pandas infers
    them (campaign logs). Anything unreadable is a SchemaError naming the file and the problem,
    never a traceback."""
    path = Path(path)
    if path.is_dir():
        raise SchemaError(f"{path}: is a directory, expected a .csv, .csv.gz, .tsv or .parquet "
                          "file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".csv.zip", ".txt", ".tsv", ".gz")):
            sep = "\t" if name.endswith(".tsv") else ","
            if text:
                return pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep,
                                   encoding_errors="replace")
            return pd.read_csv(path, sep=sep, encoding_errors="replace")
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError, EOFError, UnicodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchemaError(f"{path}: not a readable {name.rsplit('.', 1)[-1]} file "
                          f"({first})") from None
    except Exception as exc:  # pyarrow raises its own types for corrupt Parquet
        raise SchemaError(f"{path}: cannot read ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    raise SchemaError(f"{path}: unsupported file type (use .csv, .csv.gz, .tsv or .parquet)")


def timezone_for_country(country: pd.Series) -> pd.Series:
    """IANA timezone guessed from a country name or code (UTC when unknown)."""
    key = country.astype("string").str.strip().str.lower()
    return key.map(COUNTRY_TIMEZONES).fillna("UTC").astype(object)


def derive_customers(events: pd.DataFrame, country: pd.Series | None = None) -> pd.DataFrame:
    """Customers table from events: first seen (or signup) time, unsubscribe state."""
    g = events.groupby(s.CUSTOMER_ID, sort=True)
    first = g[s.EVENT_TS].min()
    signup = (events[events[s.EVENT_TYPE] == s.EventType.SIGNUP]
              .groupby(s.CUSTOMER_ID)[s.EVENT_TS].min())
    unsub = events.loc[events[s.EVENT_TYPE] == s.EventType.UNSUBSCRIBE, s.CUSTOMER_ID].unique()
    out = pd.DataFrame({s.CUSTOMER_ID: first.index.astype(object)})
    out[s.SIGNUP_TS] = signup.reindex(first.index).fillna(first).to_numpy()
    out[s.COUNTRY] = None if country is None else out[s.CUSTOMER_ID].map(country).to_numpy()
    out[s.TIMEZONE] = timezone_for_country(out[s.COUNTRY]) if country is not None else "UTC"
    out[s.CONSENT] = True
    out[s.UNSUBSCRIBED] = out[s.CUSTOMER_ID].isin(unsub)
    for col in s.CHANNEL_CONSENTS.values():
        out[col] = False
    return out


def derive_products(events: pd.DataFrame) -> pd.DataFrame:
    """Products table from events: most frequent category, median price, a default margin."""
    ev = events[events[s.PRODUCT_ID].notna()]
    g = ev.groupby(s.PRODUCT_ID, sort=True)
    cat = (ev.dropna(subset=[s.CATEGORY]).groupby(s.PRODUCT_ID)[s.CATEGORY]
           .agg(lambda x: x.value_counts().index[0]))
    out = pd.DataFrame({s.PRODUCT_ID: g.size().index.astype(object)})
    out[s.CATEGORY] = out[s.PRODUCT_ID].map(cat).fillna("unknown").to_numpy()
    out[s.PRICE] = out[s.PRODUCT_ID].map(g[s.PRICE].median()).to_numpy()
    out[s.MARGIN] = s.DEFAULT_MARGIN
    out[s.IN_STOCK] = True
    return out


def _merge_rejects(*parts: tuple[str, pd.DataFrame]) -> pd.DataFrame:
    frames = [df.assign(table=name) for name, df in parts if len(df)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["table", s.ROW, s.REASON])


def _report(res: Validated, rows: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"rows_read": rows, "rows_loaded": len(res.valid), "rows_rejected": len(res.rejects),
            "rejected_by_reason": res.reason_counts, **(extra or {})}


def load_events(
    path: Path,
    *,
    customers_path: Path | None = None,
    products_path: Path | None = None,
    now: pd.Timestamp | None = None,
    dayfirst: bool | None = None,
) -> LoadResult:
    """Load a generic event log (schema in docs/data.md), with optional customer/product tables."""
    raw = read_table(path)
    ev = validate_events(raw, now=now, dayfirst=dayfirst)
    _require_rows(ev, len(raw), path)
    rejects = [("events", ev.rejects)]
    derived = derive_customers(ev.valid)
    if customers_path is not None:
        cust = validate_customers(read_table(customers_path), dayfirst=dayfirst)
        rejects.append(("customers", cust.rejects))
        extra = derived[~derived[s.CUSTOMER_ID].isin(cust.valid[s.CUSTOMER_ID])]
        customers = pd.concat([cust.valid, extra], ignore_index=True)
    else:
        customers = derived
    derived_p = derive_products(ev.valid)
    if products_path is not None:
        prod = validate_products(read_table(products_path))
        rejects.append(("products", prod.rejects))
        extra_p = derived_p[~derived_p[s.PRODUCT_ID].isin(prod.valid[s.PRODUCT_ID])]
        products = pd.concat([prod.valid, extra_p], ignore_index=True)
    else:
        products = derived_p
    ds = Dataset(events=ev.valid, customers=customers, products=products,
                 manifest={"source": f"events:{path.name}"})
    report = _report(ev, len(raw), {"customers": len(customers), "products": len(products)})
    return LoadResult(ds, _merge_rejects(*rejects), report)


def _require_rows(res: Validated, read: int, path: Path,
                  before: pd.Series | None = None) -> None:
    """A load that keeps no row is an error that says why, not an empty dataset."""
    if len(res.valid):
        return
    if read == 0:
        raise SchemaError(f"{path}: no data rows (only a header?)")
    reasons = pd.concat([res.rejects[s.REASON] if len(res.rejects) else pd.Series(dtype=str),
                         before if before is not None else pd.Series(dtype=str)])
    top = reasons.str.split(":").str[0].value_counts().head(3)
    raise SchemaError(f"{path}: none of the {read:,} rows is usable (" + ", ".join(
        f"{k}: {v:,}" for k, v in top.items()) + "); see the reasons with --help or fix the "
        "columns")


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def resolve_mapping(columns: list[str], mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Field -> column: explicit `mapping` first, then a guess from common names."""
    mapping = dict(mapping or {})
    unknown = set(mapping) - set(TRANSACTION_FIELDS)
    if unknown:
        raise SchemaError(f"--map: unknown field(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(TRANSACTION_FIELDS)}")
    for fld, col in mapping.items():
        if col not in columns:
            raise SchemaError(f"--map {fld}={col}: no column {col!r}; found {', '.join(columns)}")
    by_norm = {_norm(c): c for c in columns}
    used = set(mapping.values())
    for fld, aliases in TRANSACTION_FIELDS.items():
        if fld in mapping:
            continue
        for alias in (_norm(fld), *aliases):
            col = by_norm.get(alias)
            if col is not None and col not in used:
                mapping[fld] = col
                used.add(col)
                break
    missing = [f for f in TRANSACTION_REQUIRED if f not in mapping]
    if "price" not in mapping and "amount" not in mapping:
        missing.append("price (or amount)")
    if missing:
        raise SchemaError(
            f"transactions: cannot find column(s) for {', '.join(missing)}; found "
            f"{', '.join(columns)}; name them with --map, e.g. --map "
            f"{missing[0].split()[0]}=COLUMN"
        )
    return mapping


def parse_mapping(text: str | None) -> dict[str, str]:
    """Parse `field=Column,field2="Column 2"` as given on the command line."""
    out: dict[str, str] = {}
    if not text:
        return out
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise SchemaError(f"--map: expected field=column, got {part.strip()!r}")
        key, val = part.split("=", 1)
        out[key.strip()] = val.strip().strip('"').strip("'")
    return out


def _clean_id(col: pd.Series) -> pd.Series:
    """IDs as text; '12417.0' (a float-formatted integer id) becomes '12417'."""
    text = col.astype("string").str.strip()
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


def load_transactions(
    path: Path, *, mapping: Mapping[str, str] | None = None, now: pd.Timestamp | None = None,
    dayfirst: bool | None = None,
) -> LoadResult:
    """Load an invoice/transaction log as purchase events.

    Cancellations and returns (invoice starting with 'C' or negative quantity), rows without a
    customer id, non-product lines (postage, fees) and non-positive prices are refused with a
    reason each and counted in the report.
    """
    raw = read_table(path)
    cols = resolve_mapping([str(c) for c in raw.columns], mapping)
    n = len(raw)
    reasons = pd.Series("", index=raw.index, dtype=object)

    def refuse(mask: pd.Series, reason: str) -> None:
        mask = mask.fillna(False) & (reasons == "")
        reasons[mask] = reason

    customer = _clean_id(raw[cols["customer_id"]])
    if "invoice" in cols:
        invoice = raw[cols["invoice"]].astype("string").str.strip()
    else:  # an order: one customer's lines at one moment
        invoice = customer.fillna("?") + "@" + raw[cols["timestamp"]].astype("string").str.strip()
    qty = (pd.to_numeric(raw[cols["quantity"]], errors="coerce") if "quantity" in cols
           else pd.Series(1.0, index=raw.index))
    if "price" in cols:
        price = pd.to_numeric(raw[cols["price"]], errors="coerce")
    else:  # line totals: the unit price is amount / quantity
        amount = pd.to_numeric(raw[cols["amount"]], errors="coerce")
        price = amount / qty.where(qty > 0)
    product = (raw[cols["product_id"]].astype("string").str.strip() if "product_id" in cols
               else pd.Series(UNSPECIFIED_PRODUCT, index=raw.index, dtype="string"))
    refuse(invoice.str.upper().str.startswith("C") | (qty < 0), "return: cancelled invoice or "
           "negative quantity")
    refuse(customer.isna() | (customer == "") | (customer.str.lower() == "nan"),
           "customer_id: missing")
    refuse(product.str.upper().isin(NON_PRODUCT_CODES), "product_id: non-product line "
           "(postage, fee or adjustment)")
    refuse(price.notna() & (price <= 0), "price: not positive")

    if "category" in cols:
        category = raw[cols["category"]].astype("string").str.strip()
    elif "description" in cols:  # product type: the last word of the description
        desc = raw[cols["description"]].astype("string").str.strip().str.lower()
        category = desc.str.extract(r"([a-z]+)\W*$", expand=False)
    else:
        category = pd.Series(pd.NA, index=raw.index, dtype="string")
    line = raw.groupby(invoice.fillna(""), sort=False).cumcount() + 1
    events = pd.DataFrame({
        s.EVENT_ID: invoice.fillna("?") + "-" + line.astype(str),
        s.CUSTOMER_ID: customer,
        s.EVENT_TYPE: str(s.EventType.PURCHASE),
        s.EVENT_TS: raw[cols["timestamp"]],
        s.PRODUCT_ID: product,
        s.CATEGORY: category,
        s.PRICE: raw[cols["price"]] if "price" in cols else price,
        s.QUANTITY: raw[cols["quantity"]] if "quantity" in cols else 1,
        s.CHANNEL: "store",
    })
    pre_ok = reasons == ""
    checked = validate_events(events[pre_ok], now=now, dayfirst=dayfirst)
    _require_rows(checked, n, path, before=reasons[~pre_ok])
    # Map rows refused by schema validation back to their source rows.
    ok_rows = np.flatnonzero(pre_ok.to_numpy())
    if len(checked.rejects):
        src = ok_rows[checked.rejects[s.ROW].to_numpy() - 1]
        reasons.iloc[src] = checked.rejects[s.REASON].to_numpy()
    bad = reasons != ""
    rejects = raw[bad].copy()
    rejects[s.ROW] = np.flatnonzero(bad.to_numpy()) + 1
    rejects[s.REASON] = reasons[bad]
    rejects.insert(0, "table", "transactions")

    valid = checked.valid
    country = None
    if "country" in cols:
        ok_country = raw.loc[~bad, cols["country"]].astype("string").str.strip()
        country = ok_country.groupby(customer[~bad].to_numpy()).agg(
            lambda x: x.value_counts().index[0] if x.notna().any() else None)
    customers = derive_customers(valid, country)
    products = derive_products(valid)
    ds = Dataset(events=valid, customers=customers, products=products,
                 manifest={"source": f"transactions:{path.name}", "mapping": cols})
    kinds = rejects[s.REASON].str.split(":").str[0].value_counts()
    report = {
        "rows_read": n,
        "rows_loaded": len(valid),
        "rows_rejected": int(bad.sum()),
        "rejected_by_reason": {str(k): int(v) for k, v in kinds.items()},
        "invoices": int(invoice[~bad].nunique()),
        "customers": len(customers),
        "products": len(products),
        "mapping": cols,
    }
    return LoadResult(ds, rejects, report)
