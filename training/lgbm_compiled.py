"""LightGBM boosters compiled to machine code (lleaves) for batch and single-row scoring.

`Booster.predict` walks every tree through LightGBM's generic predictor: for the demo's
champions (about 4,500 trees over seven boosters) that is about 150 us per customer in a
batch, the largest part of a batch decision; one row through LightGBM's single-row C path
(`lgbm_predict`) about 0.25-0.6 ms, depending on how deep the customer's paths go. lleaves
compiles the same model text with LLVM into one function per booster: the same predictions to
rounding (float64), several times faster on a batch, and on one row about 2.5x faster for the
largest booster (17 us against 45 us for the 1,032-tree send-time model; a whole decision about
15% faster).

Compiling costs about a minute for the demo's champions (with inlining, about 3x the compile
time without: single rows about 1.8x as fast, a batch about 10%), so the object code is cached
on disk under a hash of the model text, the prediction type and the compiler, and compiled once
per model version by whichever process gets there first (the others wait on a file lock, then
load it; code already cached is loaded without the lock). `nba serve` compiles the champions
before its workers start, and batch scoring when a campaign is large enough to repay it
(pipelines/serve_steps.py); every engine process uses what is cached (`enable_cached`), so an
API worker never stalls on a compile. Each compiled booster
is checked against LightGBM on probe rows when loaded, and batches on a spread of their rows.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

log = logging.getLogger(__name__)


class Compiler:
    """Compiled predictors per (booster, raw_score), loaded from or written to `cache_dir`."""

    def __init__(self, cache_dir: Path, compile_new: bool = True) -> None:
        self.cache_dir = Path(cache_dir)
        self.compile_new = compile_new
        self._compiled: weakref.WeakKeyDictionary[lgb.Booster, dict[bool, Compiled | None]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    def predictor(self, booster: lgb.Booster, raw_score: bool) -> Compiled | None:
        """The booster's compiled predictor (None: lleaves cannot compile it; LightGBM then)."""
        per_booster = self._compiled.get(booster)
        if per_booster is not None and raw_score in per_booster:
            return per_booster[raw_score]
        with self._lock:
            per_booster = self._compiled.setdefault(booster, {})
            if raw_score not in per_booster:
                per_booster[raw_score] = self._build(booster, raw_score)
        return per_booster[raw_score]

    def counts(self) -> tuple[int, int]:
        """(boosters predicting with compiled code, boosters left to LightGBM) so far."""
        found = [c for per_booster in list(self._compiled.values())
                 for c in per_booster.values()]
        return sum(c is not None for c in found), sum(c is None for c in found)

    def _build(self, booster: lgb.Booster, raw_score: bool) -> Compiled | None:
        try:
            text = booster.model_to_string()
            target = self.cache_dir / f"{_cache_key(text, raw_score)}.o"
            if target.exists():  # compiled before: loaded without the lock (no compile to wait
                model = _load(text, raw_score, target)  # for; a read-only cache works)
            elif not self.compile_new:
                return None
            else:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                with open(self.cache_dir / "compile.lock", "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)  # one compile per model version
                    model = _compile(booster, text, raw_score, target)
            compiled = Compiled(booster, model, raw_score)
            if not compiled.verified():
                log.warning("a compiled booster disagrees with LightGBM on probe rows; scoring "
                            "uses LightGBM for it")
                return None
        except Exception as exc:  # no llvmlite, an unsupported model, an unwritable cache:
            # LightGBM's own predict still works
            log.warning("lleaves could not compile a booster (%s: %s); scoring uses LightGBM "
                        "for it", type(exc).__name__, exc)
            return None
        ref = weakref.ref(booster)  # the compiled code must not keep its booster alive
        compiled.on_disagree = lambda: (b := ref()) is not None and self._drop(b, raw_score)
        return compiled

    def _drop(self, booster: lgb.Booster, raw_score: bool) -> None:
        with self._lock:
            self._compiled[booster][raw_score] = None


INLINE = True  # inline the tree functions: slower to compile, faster to predict
PROBE_ROWS = 512  # rows each compiled booster is checked on when loaded


class Compiled:
    """One booster compiled by lleaves. Called on a batch, it cross-checks a spread of the
    batch's rows against LightGBM (and falls back to it for good on a disagreement); `rows`
    predicts a few rows with one direct call of the compiled function, no per-call check: it
    was verified against LightGBM on probe rows built from the booster's own splits when
    loaded (`verified`)."""

    def __init__(self, booster: lgb.Booster, model: Any, raw_score: bool) -> None:
        self._booster = weakref.ref(booster)  # held by the compiler's weak-keyed table
        self.raw_score = raw_score
        self.width = booster.num_model_per_iteration()
        self.ncol = booster.num_feature()
        self._model = model  # holds the execution engine the function lives in
        address = model._execution_engine.get_function_address("forest_root")
        if not address:
            raise RuntimeError("compiled booster has no forest_root function")
        self._fn = _ENTRY(address)
        self.on_disagree: Callable[[], object] = lambda: None

    @property
    def booster(self) -> lgb.Booster:
        booster = self._booster()
        if booster is None:
            raise RuntimeError("the booster of this compiled code was freed")
        return booster

    def rows(self, X: np.ndarray) -> np.ndarray:
        """Predictions for a C-contiguous float64 matrix of the booster's width: shape (n,) for
        one output per row, (n, width) otherwise."""
        if X.ndim != 2 or X.shape[1] != self.ncol:
            raise ValueError(f"compiled booster: {X.shape} is not (n, {self.ncol})")
        out = np.empty((len(X), self.width) if self.width > 1 else len(X))
        self._fn(X.ctypes.data, out.ctypes.data, 0, len(X))
        return out

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = self.rows(X)
        if not _agrees(self.booster, self.raw_score, X, out):
            log.warning("a compiled booster disagrees with LightGBM; scoring uses LightGBM "
                        "for it")
            self.on_disagree()
            return self.booster.predict(X, raw_score=self.raw_score, num_threads=1)
        return out

    def verified(self, n: int = PROBE_ROWS) -> bool:
        """Whether it predicts as LightGBM on `n` probe rows (`probe_rows`): rows that reach a
        large share of the trees' branches."""
        P = probe_rows(self.booster, n)
        want = self.booster.predict(P, raw_score=self.raw_score, num_threads=1)
        return bool(np.allclose(self.rows(P), want, rtol=1e-9, atol=1e-9, equal_nan=True))


# lleaves' entry point, void forest_root(double *data, double *out, int start, int end), with
# plain addresses for arguments (no per-call pointer objects)
_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32)


def probe_rows(booster: lgb.Booster, n: int, seed: int = 0) -> np.ndarray:
    """`n` rows whose every value is, per feature, one between two of its neighbouring split
    thresholds or beyond the last (so every side of each split is reached), a category its
    categorical splits name (with codes either side of each 32-bit word of their bitsets),
    NaN, or a small integer. Not values exactly on a threshold: there LightGBM's zero band
    (|x| <= 1e-35 counts as zero) and lleaves differ, which real features never hit."""
    thresholds, categories = _splits(booster.model_to_string())
    rng = np.random.default_rng(seed)
    base = np.array([np.nan, -1.0, *range(8)])
    P = np.empty((n, booster.num_feature()))
    for j in range(P.shape[1]):
        t = np.unique(np.asarray(thresholds.get(j, []), dtype=np.float64))
        t = t[np.isfinite(t)]
        between = (t[:-1] + t[1:]) / 2 if len(t) else t
        ends = [t[0] - 1.0, t[-1] + 1.0] if len(t) else []
        codes = sorted(categories.get(j, ()))
        if codes:  # the named categories, and codes in and past every word of the bitsets
            words = range(0, codes[-1] + 33, 32)
            codes += [c + d for c in words for d in (0, 31)]
        values = np.concatenate([base, between, ends, codes])
        P[:, j] = rng.permutation(np.resize(values, n))  # each value at least once (up to n)
    return P


def _splits(text: str) -> tuple[dict[int, list[float]], dict[int, set[int]]]:
    """Per feature, the numerical split thresholds and the categories named by categorical
    splits, from a LightGBM model text (`threshold` of a categorical split indexes its bitset
    in `cat_threshold`, bounded by `cat_boundaries`)."""
    thresholds: dict[int, list[float]] = {}
    categories: dict[int, set[int]] = {}

    def tree(fields: dict[str, list[str]]) -> None:
        bounds = [int(v) for v in fields.get("cat_boundaries", [])]
        bits = [int(v) for v in fields.get("cat_threshold", [])]
        for f, t, kind in zip(fields.get("split_feature", []), fields.get("threshold", []),
                              fields.get("decision_type", []), strict=False):
            if int(kind) & 1:  # categorical: its bitset, 32 categories per word
                i = int(float(t))
                words = bits[bounds[i]:bounds[i + 1]]
                categories.setdefault(int(f), set()).update(
                    32 * w + b for w, word in enumerate(words) for b in range(32)
                    if word >> b & 1)
            else:
                thresholds.setdefault(int(f), []).append(float(t))

    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("Tree="):
            tree(fields)
            fields = {}
        key, sep, value = line.partition("=")
        if sep and key in ("split_feature", "threshold", "decision_type", "cat_boundaries",
                           "cat_threshold"):
            fields[key] = value.split()
    tree(fields)
    return thresholds, categories


CHECK_ROWS = 8  # rows of every batch also predicted by LightGBM (single-row path: ~1 us a row)


def _agrees(booster: lgb.Booster, raw_score: bool, X: np.ndarray, out: np.ndarray) -> bool:
    """Whether the compiled predictions equal LightGBM's on a spread of the batch's rows: a
    guard against a model feature lleaves would mis-translate rather than refuse."""
    from training.lgbm_predict import predict_lightgbm

    rows = np.unique(np.linspace(0, len(X) - 1, CHECK_ROWS).astype(int))
    want = predict_lightgbm(booster, X[rows], raw_score)
    return bool(np.allclose(out[rows], want, rtol=1e-9, atol=1e-9, equal_nan=True))


def _cache_key(text: str, raw_score: bool) -> str:
    """The object code's name: the model, the prediction type, the compiler and the CPU."""
    import llvmlite.binding as llvm

    return hashlib.sha256("\n".join([
        text, f"raw_score={raw_score}", f"finline={INLINE}", version("lleaves"),
        version("llvmlite"),
        llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
    ]).encode()).hexdigest()[:32]


@contextmanager
def _lleaves_model(text: str) -> Iterator[Any]:
    """lleaves' (uncompiled) model of a LightGBM model text, read from a temporary file."""
    import lleaves

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "model.txt"
        source.write_text(text)
        yield lleaves.Model(model_file=str(source))


def _load(text: str, raw_score: bool, target: Path):
    """lleaves' model of `text` with its object code read from `target`."""
    with _lleaves_model(text) as model:
        model.compile(cache=str(target), raw_score=raw_score)
        return model


def _compile(booster: lgb.Booster, text: str, raw_score: bool, target: Path):
    """lleaves' model of `text`, its object code read from `target` or compiled into it:
    written to a temporary file, read back and checked on probe rows, then renamed, so a
    reader never loads half a file or one a full disk cut short."""
    if target.exists():  # compiled by another process while this one waited for the lock
        return _load(text, raw_score, target)
    with _lleaves_model(text) as model:
        log.info("compiling %d trees with lleaves (once per model version)", model.num_trees())
        partial = target.with_suffix(f".{os.getpid()}.part")  # same directory: rename is atomic
        try:
            model.compile(cache=str(partial), raw_score=raw_score, finline=INLINE)
            if not Compiled(booster, _load(text, raw_score, partial), raw_score).verified():
                raise RuntimeError(f"the object code written to {partial} does not predict as "
                                   "LightGBM")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return model


_COMPILER: Compiler | None = None


def enable(cache_dir: Path, compile_new: bool = True) -> None:
    """Batch scoring in this process predicts large inputs with compiled boosters: those in
    `cache_dir`, and the others compiled there when `compile_new` (else LightGBM's)."""
    global _COMPILER
    _COMPILER = Compiler(cache_dir, compile_new)


def enable_cached(cache_dir: Path) -> None:
    """Use the boosters already compiled in `cache_dir` (by `nba serve` or a batch), compiling
    none: what a serving process does, which must never stall on a compile. Keeps a compiler
    this process already enabled."""
    if _COMPILER is None:
        enable(cache_dir, compile_new=False)


def counts() -> tuple[int, int]:
    """(compiled, LightGBM) boosters of this process (0, 0 when not enabled)."""
    return _COMPILER.counts() if _COMPILER is not None else (0, 0)


def disable() -> None:
    global _COMPILER
    _COMPILER = None


@contextmanager
def _swapped(compiler: Compiler | None) -> Iterator[None]:
    """This process's compiler is `compiler` for the block, then as it was."""
    global _COMPILER
    before, _COMPILER = _COMPILER, compiler
    try:
        yield
    finally:
        _COMPILER = before


def enabled(cache_dir: Path, compile_new: bool = True) -> AbstractContextManager[None]:
    """`enable` for the block, then restore this process's compiler as it was."""
    return _swapped(Compiler(cache_dir, compile_new))


def suspended() -> AbstractContextManager[None]:
    """LightGBM's own paths for the block (the compiled code kept for after it)."""
    return _swapped(None)


def compiled(booster: lgb.Booster, raw_score: bool) -> Compiled | None:
    """The compiled predictor when enabled and compilable, else None."""
    return _COMPILER.predictor(booster, raw_score) if _COMPILER is not None else None
