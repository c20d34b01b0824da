"""The product catalog the policy filters on: the dataset's products plus latest popularity."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features import schema as s
from features.repo.data_sources import OfflinePaths
from features.transforms import ENTITY_TS
from serving.policy.inputs import Catalog, Product
from training.labels import INTERACTION_WEIGHTS

# popularity weighs a product's recent purchases, cart adds and views like the interactions the
# affinity model learns from (one set of weights: INTERACTION_WEIGHTS)
POPULARITY_COLUMNS = {"product_purchases_30d": INTERACTION_WEIGHTS[str(s.EventType.PURCHASE)],
                      "product_carts_7d": INTERACTION_WEIGHTS[str(s.EventType.ADD_TO_CART)],
                      "product_views_7d": INTERACTION_WEIGHTS[str(s.EventType.PRODUCT_VIEW)]}


def load_catalog(data_dir: Path, offline: OfflinePaths) -> Catalog:
    """Products (category, price, margin, stock) and their last-day popularity, if built."""
    products = pd.read_parquet(data_dir / s.PRODUCTS_FILE)
    pop = pd.Series(0.0, index=products[s.PRODUCT_ID].astype(str))
    if offline.products.exists():
        stats = pd.read_parquet(offline.products)
        last = stats[stats[ENTITY_TS] == stats[ENTITY_TS].max()].set_index(s.PRODUCT_ID)
        score = sum(last[col] * w for col, w in POPULARITY_COLUMNS.items())
        pop = score.reindex(pop.index).fillna(0.0)
    items = {
        str(r[s.PRODUCT_ID]): Product(str(r[s.PRODUCT_ID]), str(r[s.CATEGORY]),
                                      float(r[s.PRICE]) if pd.notna(r[s.PRICE]) else 0.0,
                                      float(r[s.MARGIN]), bool(r[s.IN_STOCK]),
                                      float(pop.get(str(r[s.PRODUCT_ID]), 0.0)))
        for r in products.to_dict("records")
    }
    popular = sorted((p for p in items.values() if p.in_stock),
                     key=lambda p: (-p.popularity, p.product_id))
    return Catalog(items, [p.product_id for p in popular])
