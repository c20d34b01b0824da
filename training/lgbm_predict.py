"""LightGBM predictions for serving: one row at a time without the Python API's per-call set-up.

`Booster.predict` rebuilds its predictor and re-parses parameters on every call: about 0.1 ms
before a single tree is read, which dominates a one-customer decision that calls a dozen
boosters. LightGBM's C API has a path made for this (`LGBM_BoosterPredictForMatSingleRowFast`,
set up once per booster): same trees, same results, a few microseconds per row. Larger inputs
go through `Booster.predict` (on one thread: serving processes own one core each). A process
that has a booster compiled to machine code (`lgbm_compiled`: `nba serve`'s workers, batch
workers) predicts through that instead, one row or many.
"""

from __future__ import annotations

import ctypes
import threading
import weakref

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call

from training import lgbm_compiled

FAST_ROWS = 16  # up to this many rows: the single-row fast path, row by row
_NORMAL, _RAW = 0, 1  # C_API_PREDICT_NORMAL, C_API_PREDICT_RAW_SCORE
_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


# our own view of LightGBM's library, so argument types can be declared without touching the
# package's (they make a call a few microseconds cheaper: no per-call ctypes conversions)
_C = ctypes.CDLL(_LIB._name)
_C.LGBM_BoosterPredictForMatSingleRowFast.argtypes = [ctypes.c_void_p] * 4
_C.LGBM_BoosterPredictForMatSingleRowFast.restype = ctypes.c_int
_FREE = _C.LGBM_FastConfigFree


class _FastConfig:
    """A FastConfig handle of one booster for one prediction type and width (freed with it)."""

    def __init__(self, booster: lgb.Booster, predict_type: int, ncol: int) -> None:
        handle = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle, ctypes.c_int(predict_type), ctypes.c_int(0), ctypes.c_int(-1),
            ctypes.c_int(_FLOAT64), ctypes.c_int32(ncol), ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(handle)))
        self.handle = handle.value
        self.width = booster.num_model_per_iteration()
        self.out = np.empty(self.width, dtype=np.float64)
        self.out_len = np.zeros(1, dtype=np.int64)
        self._args = (self.handle, self.out_len.ctypes.data, self.out.ctypes.data)

    def rows(self, X: np.ndarray) -> np.ndarray:
        """Predictions for the rows of a C-contiguous float64 matrix, shape (n, width)."""
        handle, out_len, out = self._args
        result = np.empty((len(X), self.width))
        fn, base, step = _C.LGBM_BoosterPredictForMatSingleRowFast, X.ctypes.data, X.strides[0]
        for i in range(len(X)):
            if fn(handle, base + i * step, out_len, out) != 0:
                raise lgb.basic.LightGBMError(_LIB.LGBM_GetLastError().decode())
            result[i] = self.out
        return result

    def __del__(self, free=_FREE) -> None:
        if self.handle:
            free(ctypes.c_void_p(self.handle))


_CONFIGS: weakref.WeakKeyDictionary[lgb.Booster, dict[tuple, _FastConfig]] = (
    weakref.WeakKeyDictionary())
_LOCK = threading.Lock()


def _config(booster: lgb.Booster, predict_type: int, ncol: int) -> _FastConfig | None:
    """The booster's FastConfig for this thread (None: `ncol` is not the booster's width)."""
    key = (predict_type, ncol, threading.get_ident())
    per_booster = _CONFIGS.get(booster)
    if per_booster is None:
        with _LOCK:
            per_booster = _CONFIGS.setdefault(booster, {"ncol": booster.num_feature()})
    config = per_booster.get(key)
    if config is None:
        if ncol != per_booster["ncol"]:
            return None
        config = per_booster[key] = _FastConfig(booster, predict_type, ncol)
    return config


def predict(booster: lgb.Booster, X: np.ndarray, raw_score: bool = False) -> np.ndarray:
    """`booster.predict(X, raw_score=..., num_threads=1)`: through the booster's compiled code
    when this process has it (`lgbm_compiled`), else fast for a few rows; shape (n,) for one
    output per row, (n, k) for k classes."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    fast = lgbm_compiled.compiled(booster, raw_score)
    if fast is not None and X.ndim == 2 and X.shape[1] == fast.ncol:
        return fast.rows(X) if len(X) <= FAST_ROWS else fast(X)
    return predict_lightgbm(booster, X, raw_score)


def predict_lightgbm(booster: lgb.Booster, X: np.ndarray, raw_score: bool = False
                     ) -> np.ndarray:
    """`predict` through LightGBM itself (never compiled code): the reference the compiled
    boosters are checked against."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    config = (_config(booster, _RAW if raw_score else _NORMAL, X.shape[1])
              if X.ndim == 2 and len(X) <= FAST_ROWS else None)
    if config is None:
        return booster.predict(X, raw_score=raw_score, num_threads=1)
    out = config.rows(X)
    return out[:, 0] if config.width == 1 else out


# objectives whose prediction is the raw score (identity link): their sums are sums of trees
IDENTITY_LINK = frozenset({"regression", "regression_l2", "l2", "mean_squared_error", "mse",
                           "regression_l1", "l1", "mae", "huber", "fair", "quantile", "mape"})


def objective(booster: lgb.Booster) -> str:
    for line in booster.model_to_string(num_iteration=0).splitlines()[:12]:
        if line.startswith("objective="):
            return line.split("=", 1)[1].split()[0]
    return ""


def merge(terms: list[tuple[lgb.Booster, float]]) -> lgb.Booster:
    """One booster whose raw score is sum(w * raw score of b) over `terms`: the trees of all,
    leaf values scaled by their weight (exact: a raw score is a sum of leaf values). Used to
    serve an average of cross-fitted models, or a T-learner's differences, in one call."""
    weights: dict[int, float] = {}
    boosters: dict[int, lgb.Booster] = {}
    for booster, w in terms:  # a booster met twice counts once (e.g. control - control)
        weights[id(booster)] = weights.get(id(booster), 0.0) + w
        boosters[id(booster)] = booster
    terms = [(boosters[k], w) for k, w in weights.items() if abs(w) > 1e-12]
    if not terms:
        terms = [(next(iter(boosters.values())), 0.0)]  # all cancel: a booster of zeros
    header: list[str] = []
    trees: list[str] = []
    width = None
    for booster, w in terms:
        text = booster.model_to_string()
        head, _, rest = text.partition("\nTree=")
        if width is None:
            header = [ln for ln in head.splitlines() if not ln.startswith("tree_sizes=")]
            width = _header_value(header, "max_feature_idx")
            if _header_value(header, "num_tree_per_iteration") != "1":
                raise ValueError("merge: multiclass boosters are not supported")
        elif _header_value(head.splitlines(), "max_feature_idx") != width:
            raise ValueError("merge: boosters read different numbers of features")
        body = ("Tree=" + rest).split("\nend of trees", 1)[0]
        for block in body.split("\n\n\n"):
            block = block.strip()
            if not block:
                continue
            lines = block.splitlines()
            if "is_linear=1" in lines:
                raise ValueError("merge: linear trees are not supported")
            lines = [_scaled(ln, w) for ln in lines[1:]]
            trees.append(f"Tree={len(trees)}\n" + "\n".join(lines))
    model = "\n".join(header) + "\n\n" + "\n\n\n".join(trees) + "\n\n\nend of trees\n"
    return lgb.Booster(model_str=model)


def _header_value(lines: list[str], key: str) -> str:
    return next((ln.split("=", 1)[1] for ln in lines if ln.startswith(key + "=")), "")


def _scaled(line: str, w: float) -> str:
    if not line.startswith("leaf_value=") or w == 1.0:
        return line
    values = np.array(line.split("=", 1)[1].split(), dtype=np.float64) * w
    return "leaf_value=" + " ".join(repr(float(v)) for v in values)
