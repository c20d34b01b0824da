"""Product affinity: implicit ALS on weighted interactions (view 1 < cart 3 < purchase 5).

Evaluated on the products each customer interacts with in the 7 days after the snapshot, against
popularity and the customer's recently viewed products. At serving time a customer's factor is
recomputed from their recent items (ALS fold-in), so new interactions count at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit: BLAS threads cost 10x

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import schema as s
from features.sources.dataset import Dataset
from features.transforms import LOOKBACK
from training import plots
from training.labels import AFFINITY_PLAN, INTERACTION_WEIGHTS, affinity_labels, interactions
from training.metrics import ranking_metrics
from training.result import TrainResult
from training.serving_cache import ServingCache

K = 10
POPULARITY_WINDOW = pd.Timedelta(days=30)
GRID = ({"factors": 32, "alpha": 10.0}, {"factors": 64, "alpha": 10.0},
        {"factors": 32, "alpha": 40.0})
REGULARIZATION = 0.05
ITERATIONS = 15


# the online list features a customer's factor is folded in from at serving time, weighted like
# the interactions ALS is trained on (view 1, cart 3, purchase 5: INTERACTION_WEIGHTS)
ITEM_WEIGHTS = {"recent_views": INTERACTION_WEIGHTS[str(s.EventType.PRODUCT_VIEW)],
                "cart_products": INTERACTION_WEIGHTS[str(s.EventType.ADD_TO_CART)],
                "recent_purchases": INTERACTION_WEIGHTS[str(s.EventType.PURCHASE)]}


def recent_items(row: Mapping[str, Any]) -> dict[str, float]:
    """A customer's weighted recent products from their online list features (the fold-in
    input at serving time, and in the served-path evaluation below)."""
    items: dict[str, float] = {}
    for name, w in ITEM_WEIGHTS.items():
        for pid in row.get(name) or []:
            items[str(pid)] = items.get(str(pid), 0.0) + w
    return items


@dataclass
class AffinityModel(ServingCache):
    """Item factors plus what serving needs: ids, the ALS model for fold-in, popularity."""

    item_ids: np.ndarray
    als: object  # implicit.cpu.als.AlternatingLeastSquares (fitted)
    popular: list[str]  # most popular first (fallback for customers without history)
    user_index: dict[str, int] = field(default_factory=dict)
    alpha: float = 10.0

    def __post_init__(self) -> None:
        self.item_index = {p: i for i, p in enumerate(self.item_ids)}

    def confidence(self, weights: np.ndarray) -> np.ndarray:
        return self.alpha * np.log1p(weights)

    def recommend_for_items(self, customers_items: list[dict[str, float]], n: int
                            ) -> list[list[tuple[str, float]]]:
        """Top-n (product, score) per customer from their weighted recent items, recomputing
        each customer's factor from them (ALS fold-in); [] without known items. The factors
        are solved as one stack and scored as one matrix product (a batch of customers costs
        a fraction of one call each)."""
        Y, _, ids = self._serving_arrays()
        n = min(n, len(ids))
        systems = [self.fold_in_system(items) for items in customers_items]
        known = [i for i, sys_ in enumerate(systems) if sys_ is not None]
        out: list[list[tuple[str, float]]] = [[] for _ in customers_items]
        if not known:
            return out
        A = np.stack([systems[i][0] for i in known])
        b = np.stack([systems[i][1] for i in known])
        scores = np.linalg.solve(A, b[:, :, None])[:, :, 0] @ Y.T
        top = (np.argpartition(-scores, n - 1, axis=1)[:, :n] if n < scores.shape[1]
               else np.broadcast_to(np.arange(n), (len(known), n)))
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top, top_scores = (np.take_along_axis(a, order, axis=1) for a in (top, top_scores))
        for i, row, vals in zip(known, top.tolist(), top_scores.tolist(), strict=True):
            out[i] = [(ids[j], v) for j, v in zip(row, vals, strict=True)]
        return out

    def fold_in_system(self, items: dict[str, float]) -> tuple[np.ndarray, np.ndarray] | None:
        """The linear system (A, b) of a customer's factor from weighted items, the closed form
        implicit's `recalculate_user` solves: (YtY + reg I + sum_i (c_i - 1) y_i y_i^T) x =
        sum_i c_i y_i, with confidence c_i = als.alpha * alpha * log1p(weight) (None: no
        known item)."""
        known = [(j, w) for p, w in items.items() if (j := self.item_index.get(p)) is not None]
        if not known:
            return None
        idx = [j for j, _ in known]
        c = self.confidence(np.array([w for _, w in known], dtype=np.float64))
        c = c * float(getattr(self.als, "alpha", 1.0))
        factors, gram, _ = self._serving_arrays()
        Y = factors[idx]
        return gram + (Y.T * (c - 1.0)) @ Y, Y.T @ c

    def _serving_arrays(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Item factors (float64), YtY + reg I and item ids as strings."""

        def build() -> tuple[np.ndarray, np.ndarray, list[str]]:
            Y = np.asarray(self.als.item_factors, dtype=np.float64)
            gram = Y.T @ Y + self.als.regularization * np.eye(Y.shape[1])
            return Y, gram, [str(p) for p in self.item_ids]

        return self.cached("fold_in", build)

    def recommend_known(self, customers: list[str], n: int = K) -> list[list[str]]:
        """Top-n items for customers seen in training (their fitted factors), else popular."""
        out = []
        known = [c for c in customers if c in self.user_index]
        recs: dict[str, list[str]] = {}
        if known:
            uf = self.als.user_factors[[self.user_index[c] for c in known]]
            scores = uf @ self.als.item_factors.T
            top = np.argsort(-scores, axis=1)[:, :n]
            recs = {c: list(self.item_ids[t]) for c, t in zip(known, top, strict=True)}
        for c in customers:
            out.append(recs.get(c, self.popular[:n]))
        return out

    def predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        """Scores of `product_id` for `customer_id` rows (fitted customers; NaN otherwise)."""
        out = np.full(len(df), np.nan)
        for i, (c, p) in enumerate(zip(df[s.CUSTOMER_ID], df[s.PRODUCT_ID], strict=True)):
            u, j = self.user_index.get(c), self.item_index.get(p)
            if u is not None and j is not None:
                out[i] = float(self.als.user_factors[u] @ self.als.item_factors[j])
        return out


def popularity(events: pd.DataFrame, t: pd.Timestamp) -> list[str]:
    """Products by interaction weight in the 30 days before `t`, most popular first."""
    inter = interactions(events, t - POPULARITY_WINDOW, t)
    return inter.groupby(s.PRODUCT_ID)["weight"].sum().sort_values(
        ascending=False, kind="stable").index.tolist()


def recently_viewed(events: pd.DataFrame, t: pd.Timestamp, customers: list[str],
                    fill: list[str], n: int = K) -> list[list[str]]:
    """Each customer's most recently viewed distinct products before `t`, padded with `fill`."""
    ev = events[(events[s.EVENT_TS] <= t) & (events[s.EVENT_TS] > t - pd.Timedelta(days=30))
                & (events[s.EVENT_TYPE].astype(str) == s.EventType.PRODUCT_VIEW)]
    ev = ev.sort_values(s.EVENT_TS, ascending=False).drop_duplicates([s.CUSTOMER_ID,
                                                                     s.PRODUCT_ID])
    recent = ev.groupby(s.CUSTOMER_ID, observed=True)[s.PRODUCT_ID].agg(list)
    out = []
    for c in customers:
        mine = list(recent.get(c, []))[:n]
        out.append(mine + [p for p in fill if p not in mine][: n - len(mine)])
    return out


def fit_als(events: pd.DataFrame, t: pd.Timestamp, item_ids: np.ndarray, factors: int,
            alpha: float, popular: list[str]) -> AffinityModel:
    from implicit.als import AlternatingLeastSquares

    inter = interactions(events, t - pd.Timedelta(seconds=LOOKBACK), t)
    users = inter[s.CUSTOMER_ID].astype(str).unique()
    uidx = {u: i for i, u in enumerate(users)}
    model = AffinityModel(item_ids, None, popular, uidx, alpha)
    rows = inter[s.CUSTOMER_ID].astype(str).map(uidx).to_numpy()
    cols = inter[s.PRODUCT_ID].astype(str).map(model.item_index)
    keep = cols.notna().to_numpy()
    mat = sp.csr_matrix((model.confidence(inter["weight"].to_numpy()[keep]),
                         (rows[keep], cols[keep].astype(int).to_numpy())),
                        shape=(len(users), len(item_ids)))
    als = AlternatingLeastSquares(factors=factors, regularization=REGULARIZATION,
                                  iterations=ITERATIONS, random_state=7)
    als.fit(mat, show_progress=False)
    model.als = als
    return model


def relevant_sets(future: pd.DataFrame) -> tuple[list[str], list[dict[str, float]]]:
    """Customers and their {product: weight} interactions, from `affinity_labels` rows."""
    rel: dict[str, dict[str, float]] = {}
    for c, p, w in zip(future[s.CUSTOMER_ID].astype(str), future[s.PRODUCT_ID].astype(str),
                       future["weight"], strict=True):
        rel.setdefault(c, {})[p] = float(w)
    return list(rel), list(rel.values())


def served_lists(events: pd.DataFrame, t: pd.Timestamp, customers: list[str]
                 ) -> list[dict[str, Any]]:
    """Each customer's list features as the online store holds them at `t`: the row written
    at their last event up to `t` (its windows counted from that event, as materialization and
    the live path write it; not re-windowed at `t`)."""
    from features.transforms import customer_items

    mine = events[events[s.CUSTOMER_ID].isin(customers) & (events[s.EVENT_TS] <= t)]
    lists = customer_items(mine).set_index(s.CUSTOMER_ID)
    return [lists.loc[c].to_dict() if c in lists.index else {} for c in customers]


def served_recommendations(model: AffinityModel, events: pd.DataFrame, t: pd.Timestamp,
                           customers: list[str], popular: list[str]) -> list[list[str]]:
    """What serving recommends at `t`: each customer's factor folded in from their online list
    features (`served_lists`: recent views, cart, purchases), padded with popular products."""
    out = []
    for recs in model.recommend_for_items([recent_items(r) for r in served_lists(
            events, t, customers)], K):
        top = [p for p, _ in recs]
        out.append(top + [p for p in popular if p not in top][: K - len(top)])
    return out


def evaluate_recommender(model: AffinityModel, future: pd.DataFrame) -> dict[str, float]:
    customers, rel = relevant_sets(future)
    return ranking_metrics(recommended=model.recommend_known(customers), relevant=rel, k=K)


def train_affinity(store, ds: Dataset, horizons: object = None) -> TrainResult:
    """Grid over a few ALS settings on the validation week; report the test week."""
    del store  # ALS reads raw interactions, not Feast features
    ev = ds.events
    t_val, t_test = AFFINITY_PLAN.times(ds.start, ds.end)[-2:]
    item_ids = ds.products[s.PRODUCT_ID].astype(str).to_numpy()
    val_scores = []
    for params in GRID:
        m = fit_als(ev, t_val, item_ids, params["factors"], params["alpha"],
                    popularity(ev, t_val))
        val_scores.append(evaluate_recommender(m, affinity_labels(ev, t_val))[f"recall_at_{K}"])
    best = GRID[int(np.argmax(val_scores))]
    popular = popularity(ev, t_test)
    model = fit_als(ev, t_test, item_ids, best["factors"], best["alpha"], popular)
    future = affinity_labels(ev, t_test)
    customers, rel = relevant_sets(future)
    ours = evaluate_recommender(model, future)
    metrics = {f"test_{k}": v for k, v in ours.items()}
    metrics.update({f"val_recall_at_{K}_grid_{i}": v for i, v in enumerate(val_scores)})
    baselines = {
        "popularity": [popular[:K]] * len(customers),
        "recently_viewed": recently_viewed(ev, t_test, customers, popular),
    }
    for name, recs in baselines.items():
        for k, v in ranking_metrics(recommended=recs, relevant=rel, k=K).items():
            metrics[f"test_baseline_{name}_{k}"] = v
    served = served_recommendations(model, ev, t_test, customers, popular)
    for k, v in ranking_metrics(recommended=served, relevant=rel, k=K).items():
        metrics[f"test_served_{k}"] = v
    if ds.truth is not None:
        top = ds.truth.set_index(s.CUSTOMER_ID)["top_category"]
        category = ds.products.set_index(s.PRODUCT_ID)[s.CATEGORY]
        for name, recs in (("", model.recommend_known(customers)),
                           ("baseline_popularity_", baselines["popularity"])):
            share = np.mean([np.mean([category.get(p) == top.get(c) for p in r])
                             for c, r in zip(customers, recs, strict=True)])
            metrics[f"truth_{name}share_in_top_category"] = float(share)
    bars = {"ALS": metrics[f"test_recall_at_{K}"],
            "ALS served (fold-in)": metrics[f"test_served_recall_at_{K}"],
            **{n: metrics[f"test_baseline_{n}_recall_at_{K}"] for n in baselines}}
    sample = pd.DataFrame({s.CUSTOMER_ID: customers[:5],
                           s.PRODUCT_ID: [r[0] for r in model.recommend_known(customers[:5])]})
    return TrainResult(
        name="affinity", model=model, primary_metric=f"test_recall_at_{K}", metrics=metrics,
        params={**best, "regularization": REGULARIZATION, "iterations": ITERATIONS,
                "weights": "view 1, cart 3, purchase 5; confidence alpha*log1p(w)",
                "history_days": LOOKBACK // 86_400},
        figures={"affinity_recall.png": plots.bar_plot(bars, f"recall@{K}, test week",
                                                       f"recall@{K}")},
        dataset={"customers_evaluated": len(customers), "items": len(item_ids),
                 "val_snapshot": f"{t_val:%Y-%m-%d}", "test_snapshot": f"{t_test:%Y-%m-%d}",
                 "label": "products interacted with in the 7 days after the snapshot"},
        eval_frame=future, input_example=sample,
    )
