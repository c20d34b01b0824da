"""The product catalog the policy filters on: the dataset's products (category, price, margin,
stock) with their latest popularity from the `product_stats` online view."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features import schema as s
from serving.policy.inputs import Catalog, Product
from training.labels import INTERACTION_WEIGHTS

if TYPE_CHECKING:
    from feast import FeatureStore

PRODUCT_VIEW = "product_stats"
# popularity weighs a product's recent purchases, cart adds and views like the interactions the
# affinity model learns from (one set of weights: INTERACTION_WEIGHTS)
POPULARITY_COLUMNS = {"product_purchases_30d": INTERACTION_WEIGHTS[str(s.EventType.PURCHASE)],
                      "product_carts_7d": INTERACTION_WEIGHTS[str(s.EventType.ADD_TO_CART)],
                      "product_views_7d": INTERACTION_WEIGHTS[str(s.EventType.PRODUCT_VIEW)]}


def load_catalog(data_dir: Path) -> Catalog:
    """Products from the dataset's catalog table, popularity 0 until `with_popularity`."""
    products = pd.read_parquet(data_dir / s.PRODUCTS_FILE)
    items = {
        str(r[s.PRODUCT_ID]): Product(str(r[s.PRODUCT_ID]), str(r[s.CATEGORY]),
                                      float(r[s.PRICE]) if pd.notna(r[s.PRICE]) else 0.0,
                                      float(r[s.MARGIN]), bool(r[s.IN_STOCK]), 0.0)
        for r in products.to_dict("records")
    }
    return _ranked(items)


def read_popularity(store: FeatureStore, product_ids: list[str]) -> dict[str, float]:
    """Each product's popularity from its latest `product_stats` row in the online store (the
    offline build writes a row per product and day, so this is the last day's)."""
    if not product_ids:
        return {}
    data = store.get_online_features(
        [f"{PRODUCT_VIEW}:{c}" for c in POPULARITY_COLUMNS],
        [{s.PRODUCT_ID: p} for p in product_ids]).to_dict()
    return {p: float(sum((data[c][i] or 0) * w for c, w in POPULARITY_COLUMNS.items()))
            for i, p in enumerate(product_ids)}


def with_popularity(catalog: Catalog, popularity: dict[str, float]) -> Catalog:
    """The catalog with these popularities (products not listed keep theirs)."""
    return _ranked({pid: replace(p, popularity=popularity.get(pid, p.popularity))
                    for pid, p in catalog.products.items()})


def _ranked(items: dict[str, Product]) -> Catalog:
    popular = sorted((p for p in items.values() if p.in_stock),
                     key=lambda p: (-p.popularity, p.product_id))
    return Catalog(items, [p.product_id for p in popular])
