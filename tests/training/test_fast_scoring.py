"""Serving-time scoring paths give the models' own answers: LightGBM's single-row C path,
merged boosters (cross-fitting folds, T-learner differences) and the closed-form ALS fold-in."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import scipy.sparse as sp

from training import lgbm_predict
from training.response import ResponseModel
from training.uplift_learners import Difference, Mix


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 6))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 5] = rng.integers(0, 4, len(X))  # a categorical column
    y = np.nan_to_num(X[:, 0]) + 0.5 * (X[:, 5] == 2) + rng.normal(size=len(X))
    return X, y


def _fit(X, y, objective: str, seed: int, rounds: int = 30, **extra) -> lgb.Booster:
    params = {"objective": objective, "verbose": -1, "seed": seed, "bagging_fraction": 0.8,
              "bagging_freq": 1, "num_leaves": 8, **extra}
    return lgb.train(params, lgb.Dataset(X, y, categorical_feature=[5]), rounds)


def test_fast_single_row_predictions_equal_lightgbm(data) -> None:
    X, y = data
    reg = _fit(X, y, "regression", 1)
    binary = _fit(X, (y > 0).astype(int), "binary", 2)
    multi = _fit(X, np.digitize(y, [-1, 0, 1]), "multiclass", 3, num_class=4)
    for booster in (reg, binary, multi):
        for raw in (False, True):
            want = booster.predict(X[:40], raw_score=raw)
            one = np.array([lgbm_predict.predict(booster, X[i:i + 1], raw)[0]
                            for i in range(40)])
            np.testing.assert_allclose(one, want, rtol=0, atol=1e-12)
            np.testing.assert_allclose(lgbm_predict.predict(booster, X[:5], raw), want[:5],
                                       rtol=0, atol=1e-12)
    with pytest.raises(lgb.basic.LightGBMError):  # a wrong width is refused, not misread
        lgbm_predict.predict(reg, X[:2, :4])


def test_merged_booster_is_the_weighted_sum_and_shared_parts_cancel(data) -> None:
    X, y = data
    boosters = [_fit(X, y, "regression", s, rounds=20 + 5 * s) for s in range(4)]
    weights = [0.25, -0.5, 1.5, 0.1]
    merged = lgbm_predict.merge(list(zip(boosters, weights, strict=True)))
    want = sum(w * b.predict(X, raw_score=True) for b, w in zip(boosters, weights, strict=True))
    np.testing.assert_allclose(merged.predict(X, raw_score=True), want, atol=1e-10)
    # control - control drops out: only the other booster's trees remain
    cancel = lgbm_predict.merge([(boosters[0], 1.0), (boosters[1], 1.0), (boosters[0], -1.0)])
    assert cancel.num_trees() == boosters[1].num_trees()


def test_response_model_served_from_merged_columns_equals_its_learners(data) -> None:
    X, y = data
    control = [_fit(X, y, "regression", s) for s in range(3)]
    treated = [_fit(X, y + 0.3 * np.nan_to_num(X[:, 1]), "regression", 10 + s) for s in range(3)]
    mix = Mix(_fit(X, y, "regression", 20), _fit(X, -y, "regression", 21), g=0.3)
    model = ResponseModel(
        treatments=["none", "email", "email_10"], encoder=None, outcome="spend", learner="t",
        control_models=control,
        uplift_models={"email": [Difference(t, c) for t, c in zip(treated, control,
                                                                   strict=True)],
                       "email_10": [mix, mix]},
        best_single="email")
    fast = model.predict_outcomes(X[:50])
    assert model.cached("columns", model._merged_columns) is not None
    model.__dict__["_serving_cache"]["columns"] = None  # the learners, one by one
    slow = model.predict_outcomes(X[:50])
    np.testing.assert_allclose(fast, slow, atol=1e-9)
    # a probability part is not a sum of trees: that model keeps its learners
    prob = ResponseModel(treatments=["none", "email"], encoder=None, outcome="conversion",
                         learner="t", control_models=[_fit(X, y > 0, "binary", 30)],
                         uplift_models={"email": [_fit(X, y, "regression", 31)]},
                         best_single="email")
    assert prob._merged_columns() is None


def test_closed_form_fold_in_ranks_like_implicit() -> None:
    from implicit.als import AlternatingLeastSquares

    from training.affinity import AffinityModel

    rng = np.random.default_rng(0)
    users, items = 600, 120
    mat = sp.random(users, items, density=0.03, random_state=1, format="csr")
    mat.data = 10 * np.log1p(rng.integers(1, 6, mat.nnz).astype(float))
    als = AlternatingLeastSquares(factors=16, regularization=0.05, iterations=5, random_state=7)
    als.fit(mat, show_progress=False)
    model = AffinityModel(np.array([f"p{i}" for i in range(items)]), als, [])
    customers = [{f"p{j}": float(rng.integers(1, 9)) for j in
                  rng.choice(items, rng.integers(1, 6), replace=False)} for _ in range(30)]
    got = model.recommend_for_items([*customers, {"unknown": 1.0}], 10)
    assert got[-1] == []
    rows, cols, vals = [], [], []
    for i, its in enumerate(customers):
        for p, w in its.items():
            rows.append(i)
            cols.append(model.item_index[p])
            vals.append(w)
    user_items = sp.csr_matrix((model.confidence(np.array(vals)), (rows, cols)),
                               shape=(len(customers), items))
    top, scores = als.recommend(np.arange(len(customers)), user_items, N=10,
                                recalculate_user=True, filter_already_liked_items=False)
    for mine, t, s in zip(got[:-1], top, scores, strict=True):
        assert [p for p, _ in mine] == [f"p{j}" for j in t]
        np.testing.assert_allclose([v for _, v in mine], s, rtol=1e-4, atol=1e-5)


def test_compiled_batch_predictions_equal_lightgbm(data, tmp_path, monkeypatch) -> None:
    """Batch scoring's compiled boosters (lleaves) answer as LightGBM does, NaN and categorical
    splits included; the object code is cached by model and reused by another process's
    compiler; a compiled booster that disagreed would be replaced by LightGBM."""
    from training import lgbm_compiled

    X, y = data
    boosters = [_fit(X, y, "regression", 1), _fit(X, (y > 0).astype(int), "binary", 2),
                _fit(X, np.digitize(y, [-1, 0, 1]), "multiclass", 3, num_class=4)]
    lgbm_compiled.enable(tmp_path)
    try:
        for booster in boosters:
            for raw in (False, True):
                got = lgbm_predict.predict(booster, X, raw)
                assert lgbm_compiled.compiled(booster, raw) is not None
                want = booster.predict(X, raw_score=raw)
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
                # one row at a time: the direct call API decisions make, unchecked per call
                one = np.array([lgbm_predict.predict(booster, X[i:i + 1], raw)[0]
                                for i in range(40)])
                np.testing.assert_allclose(one, want[:40], rtol=1e-12, atol=1e-12)
        cached = sorted(tmp_path.glob("*.o"))
        assert len(cached) == 6
        stamps = [p.stat().st_mtime_ns for p in cached]
        lgbm_compiled.enable(tmp_path)  # a new process: loads, does not compile again
        again = lgbm_predict.predict(boosters[2], X, True)
        np.testing.assert_allclose(again, boosters[2].predict(X, raw_score=True), rtol=1e-12)
        assert [p.stat().st_mtime_ns for p in sorted(tmp_path.glob("*.o"))] == stamps

        # a compile that disagrees with LightGBM on the probe rows is never used
        lgbm_compiled.enable(tmp_path)
        monkeypatch.setattr(lgbm_compiled.Compiled, "rows",
                            lambda self, X: np.zeros(len(X)))
        assert lgbm_compiled.compiled(boosters[0], False) is None
        np.testing.assert_allclose(lgbm_predict.predict(boosters[0], X[:1]),
                                   boosters[0].predict(X[:1]), rtol=1e-12)
        monkeypatch.undo()

        # compiled code that goes wrong after loading is caught by a batch's spot check
        # (against LightGBM itself), which falls back, and stays there
        lgbm_compiled.enable(tmp_path)
        assert lgbm_compiled.compiled(boosters[0], False) is not None
        monkeypatch.setattr(lgbm_compiled.Compiled, "rows", lambda self, X: np.zeros(len(X)))
        wrong = lgbm_predict.predict(boosters[0], X, False)
        np.testing.assert_allclose(wrong, boosters[0].predict(X), rtol=1e-12)
        assert lgbm_compiled.compiled(boosters[0], False) is None
    finally:
        lgbm_compiled.disable()


def test_probe_rows_reach_every_category_the_splits_name(tmp_path) -> None:
    """A compiled booster is verified on probe rows: for a categorical feature they hold every
    category its splits name, beyond the first 32-bit word of the bitsets too (where a
    mis-translation of a bitset would show)."""
    from training import lgbm_compiled

    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(0, 120, 6000), rng.normal(size=6000)]).astype(float)
    y = np.isin(X[:, 0], [3, 40, 77, 101]) + 0.1 * X[:, 1] + 0.1 * rng.normal(size=6000)
    booster = lgb.train({"objective": "regression", "verbose": -1, "min_data_per_group": 5,
                         "cat_smooth": 1.0, "max_cat_threshold": 64},
                        lgb.Dataset(X, y, categorical_feature=[0]), 20)
    thresholds, categories = lgbm_compiled._splits(booster.model_to_string())
    assert max(categories[0]) >= 32 and 1 in thresholds
    P = lgbm_compiled.probe_rows(booster, 512)
    seen = set(P[~np.isnan(P[:, 0]), 0].astype(int))
    assert categories[0] <= seen
    with lgbm_compiled.enabled(tmp_path):  # and lleaves reads those bitsets as LightGBM does
        compiled = lgbm_compiled.compiled(booster, False)
        assert compiled is not None
        np.testing.assert_allclose(compiled.rows(P), booster.predict(P), rtol=1e-12)


def test_model_matrices_are_the_same_from_rows_and_from_their_columns() -> None:
    """Matrices built a column at a time (from the online read's columns, or from plain feature
    dicts) read text codes, numbers, numeric text, missing and unreadable values as before."""
    from types import SimpleNamespace

    from features.feature_rows import FeatureRows, column
    from serving.scoring import Scorer
    from training.response import FeatureEncoder

    dicts = [{"a": 1.5, "seg": "y", "b": True}, {"a": None, "seg": "z"},
             {"a": "2.5", "seg": None, "b": 0}, {"a": "abc", "seg": "x"}, {"a": [1], "b": 3}]
    names = ["a", "seg", "b", "never"]
    rows = FeatureRows(dicts, {n: [d.get(n) for d in dicts] for n in ("a", "seg", "b")})
    assert column(rows, "never") == [None] * 5 and column(dicts, "seg") == rows.columns["seg"]
    nan = np.nan
    want = np.array([[1.5, 1, 1, nan], [nan, nan, nan, nan], [2.5, nan, 0, nan],
                     [nan, 0, nan, nan], [nan, nan, 3, nan]])
    encoder = FeatureEncoder(names, {"seg": ["x", "y"]})
    for given in (dicts, rows):
        np.testing.assert_array_equal(encoder.row_matrix(given), want)
    # lists of one length throughout are not numbers either
    np.testing.assert_array_equal(encoder.row_matrix([{"a": [1], "b": [2, 3]}]),
                                  [[nan, nan, nan, nan]])
    numeric = [{"a": 1.5, "b": None}, {"a": -0.0, "b": 2}]
    scorer = Scorer(bundles={"m": SimpleNamespace(feature_names=["b", "a", "never"])})
    for given in (numeric, FeatureRows(numeric, {"a": [1.5, -0.0], "b": [None, 2]})):
        m = scorer._matrix("m", given)
        assert m.flags.c_contiguous
        np.testing.assert_array_equal(m, [[nan, 1.5, nan], [2.0, -0.0, nan]])
    assert scorer._matrix("m", []).shape == (0, 3)
