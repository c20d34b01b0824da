"""LightGBM boosters compiled to machine code for batch scoring (lleaves).

`Booster.predict` walks every tree through LightGBM's generic predictor: for the demo's
champions (about 4,000 trees over five boosters) that is about 150 us per customer, the largest
part of a batch decision. lleaves compiles the same model text with LLVM into one function per
booster: the same predictions to rounding (float64), about 5x faster on a batch.

Compiling costs about 30 s for the demo's champions (without inlining: inlining made
predictions about 10% faster for 2.5x the compile time), so the object code is cached on disk
under a hash of the model text, the prediction type and the compiler, and compiled once per
model version by whichever process gets there first (the others wait on a file lock, then
load it). Only bulk scoring turns it on (`enable`), and compiles only when a campaign is large
enough to repay it (pipelines/serve_steps.py): an API worker must never stall on a compile, and
one row is as fast through LightGBM's single-row path (`lgbm_predict`).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import lightgbm as lgb
import numpy as np

log = logging.getLogger(__name__)

Predictor = Callable[[np.ndarray], np.ndarray]


class Compiler:
    """Compiled predictors per (booster, raw_score), loaded from or written to `cache_dir`."""

    def __init__(self, cache_dir: Path, compile_new: bool = True) -> None:
        self.cache_dir = Path(cache_dir)
        self.compile_new = compile_new
        self._compiled: weakref.WeakKeyDictionary[lgb.Booster, dict[bool, Predictor | None]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    def predictor(self, booster: lgb.Booster, raw_score: bool) -> Predictor | None:
        """The booster's compiled predictor (None: lleaves cannot compile it; LightGBM then)."""
        per_booster = self._compiled.get(booster)
        if per_booster is not None and raw_score in per_booster:
            return per_booster[raw_score]
        with self._lock:
            per_booster = self._compiled.setdefault(booster, {})
            if raw_score not in per_booster:
                per_booster[raw_score] = self._build(booster, raw_score)
        return per_booster[raw_score]

    def _build(self, booster: lgb.Booster, raw_score: bool) -> Predictor | None:
        text = booster.model_to_string()
        try:
            target = self.cache_dir / f"{_cache_key(text, raw_score)}.o"
            if not (self.compile_new or target.exists()):
                return None
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            with open(self.cache_dir / "compile.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one compile per model version
                model = _compile(text, raw_score, target)
        except Exception as exc:  # no llvmlite, an unsupported model, an unwritable cache:
            # LightGBM's own predict still works
            log.warning("lleaves could not compile a booster (%s: %s); batch scoring uses "
                        "LightGBM for it", type(exc).__name__, exc)
            return None
        width = booster.num_model_per_iteration()

        def predict(X: np.ndarray) -> np.ndarray:
            out = model.predict(X, n_jobs=1)
            out = out if width == 1 else out.reshape(len(X), width)
            if not _agrees(booster, raw_score, X, out):
                log.warning("a compiled booster disagrees with LightGBM; batch scoring uses "
                            "LightGBM for it")
                with self._lock:
                    self._compiled[booster][raw_score] = None
                return booster.predict(X, raw_score=raw_score, num_threads=1)
            return out

        return predict


CHECK_ROWS = 8  # rows of every batch also predicted by LightGBM (single-row path: ~1 us a row)


def _agrees(booster: lgb.Booster, raw_score: bool, X: np.ndarray, out: np.ndarray) -> bool:
    """Whether the compiled predictions equal LightGBM's on a spread of the batch's rows: a
    guard against a model feature lleaves would mis-translate rather than refuse."""
    from training.lgbm_predict import predict

    rows = np.unique(np.linspace(0, len(X) - 1, CHECK_ROWS).astype(int))
    want = predict(booster, X[rows], raw_score)
    return bool(np.allclose(out[rows], want, rtol=1e-9, atol=1e-9, equal_nan=True))


def _cache_key(text: str, raw_score: bool) -> str:
    """The object code's name: the model, the prediction type, the compiler and the CPU."""
    import llvmlite.binding as llvm

    return hashlib.sha256("\n".join([
        text, f"raw_score={raw_score}", version("lleaves"), version("llvmlite"),
        llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
    ]).encode()).hexdigest()[:32]


def _compile(text: str, raw_score: bool, target: Path):
    """lleaves' model of `text`, its object code read from `target` or compiled into it
    (written to a temporary file first and renamed: a reader never sees half a file)."""
    import lleaves

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "model.txt"
        source.write_text(text)
        model = lleaves.Model(model_file=str(source))
        if target.exists():
            model.compile(cache=str(target), raw_score=raw_score)
            return model
        log.info("compiling %d trees with lleaves (once per model version)", model.num_trees())
        partial = target.with_suffix(f".{os.getpid()}.part")  # same directory: rename is atomic
        model.compile(cache=str(partial), raw_score=raw_score, finline=False)
        os.replace(partial, target)
        return model


_COMPILER: Compiler | None = None


def enable(cache_dir: Path, compile_new: bool = True) -> None:
    """Batch scoring in this process predicts large inputs with compiled boosters: those in
    `cache_dir`, and the others compiled there when `compile_new` (else LightGBM's)."""
    global _COMPILER
    _COMPILER = Compiler(cache_dir, compile_new)


def disable() -> None:
    global _COMPILER
    _COMPILER = None


def compiled(booster: lgb.Booster, raw_score: bool) -> Predictor | None:
    """The compiled predictor when enabled and compilable, else None."""
    return _COMPILER.predictor(booster, raw_score) if _COMPILER is not None else None
