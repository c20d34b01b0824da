"""Time-based splits of snapshot times: train, then validation, then a clean test period."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.transforms import ENTITY_TS


class SplitError(ValueError):
    """Not enough history for a time-based split."""


@dataclass(frozen=True)
class TimeSplit:
    train: tuple[pd.Timestamp, ...]
    val: tuple[pd.Timestamp, ...]
    test: tuple[pd.Timestamp, ...]
    horizon: pd.Timedelta

    def describe(self) -> dict[str, str]:
        return {f"{name}_snapshots": ", ".join(f"{t:%Y-%m-%d}" for t in times)
                for name, times in (("train", self.train), ("val", self.val),
                                    ("test", self.test))}


def split_by_time(times: list[pd.Timestamp], horizon: pd.Timedelta,
                  rows: dict[pd.Timestamp, int] | None = None,
                  min_test_rows: int = 2_000) -> TimeSplit:
    """Test = the last snapshot(s); validation = the latest snapshot whose label window closes
    by the first test snapshot; train = every snapshot before validation.

    No training or validation label is observed after the test period starts, so the test
    period is clean. Training label windows may overlap the validation window: validation only
    picks the number of trees and fits the calibration. With `rows` (labelled rows per
    snapshot), the test period grows backwards until it holds `min_test_rows` rows (small data),
    keeping at least two earlier snapshots for train and validation.
    """
    times = sorted(times)
    if len(times) < 3:
        raise SplitError(f"need at least 3 snapshots for train/validation/test, got {len(times)}"
                         f" (horizon {horizon.days} days): use a longer dataset")
    k = 1
    if rows:
        while (sum(rows.get(t, 0) for t in times[-k:]) < min_test_rows
               and len([t for t in times if t + horizon <= times[-k - 1]]) >= 2):
            k += 1
    test_times = times[-k:]
    test = test_times[0]
    before = [t for t in times[:-k] if t + horizon <= test]
    if not before:
        raise SplitError(f"no snapshot's {horizon.days}-day label window closes before the test "
                         f"snapshot {test:%Y-%m-%d}: use a longer dataset")
    val = before[-1]
    train = [t for t in times if t < val]
    if not train:
        raise SplitError(f"no training snapshot before the validation snapshot {val:%Y-%m-%d}: "
                         "use a longer dataset")
    return TimeSplit(tuple(train), (val,), tuple(test_times), horizon)


def apply_split(frame: pd.DataFrame, split: TimeSplit) -> dict[str, pd.DataFrame]:
    """Rows of each part, by snapshot time."""
    ts = frame[ENTITY_TS]
    return {name: frame[ts.isin(list(times))].reset_index(drop=True)
            for name, times in (("train", split.train), ("val", split.val),
                                ("test", split.test))}


@dataclass(frozen=True)
class FitSplit:
    """Snapshots the model learns from (label windows closed by the test time) and the test
    snapshots; validation rows are held-out customers among the fit snapshots."""

    fit: tuple[pd.Timestamp, ...]
    test: tuple[pd.Timestamp, ...]
    horizon: pd.Timedelta

    def describe(self) -> dict[str, str]:
        return {"fit_snapshots": ", ".join(f"{t:%Y-%m-%d}" for t in self.fit),
                "test_snapshots": ", ".join(f"{t:%Y-%m-%d}" for t in self.test)}


def split_for_fit(times: list[pd.Timestamp], horizon: pd.Timedelta,
                  rows: dict[pd.Timestamp, int] | None = None,
                  min_test_rows: int = 2_000) -> FitSplit:
    """Test = the last snapshot(s) (growing backwards until `min_test_rows`, keeping at least
    two fit snapshots); fit = every snapshot whose label window closes by the first test one,
    so no fit label is observed after the test period starts."""
    times = sorted(times)
    days = horizon / pd.Timedelta(days=1)
    if len(times) < 2:
        raise SplitError(f"need at least 2 snapshots for fitting and testing, got {len(times)} "
                         f"(horizon {days:g} days): use a longer dataset or a shorter horizon")
    k = 1
    if rows:
        while (sum(rows.get(t, 0) for t in times[-k:]) < min_test_rows
               and len([t for t in times if t + horizon <= times[-k - 1]]) >= 2):
            k += 1
    test = times[-k:]
    fit = [t for t in times[:-k] if t + horizon <= test[0]]
    if not fit:
        raise SplitError(f"no snapshot's {days:g}-day label window closes before the test "
                         f"snapshot {test[0]:%Y-%m-%d}: use a longer dataset or a shorter "
                         "horizon")
    return FitSplit(tuple(fit), tuple(test), horizon)


def holdout_customers(customer_ids: pd.Series | np.ndarray, share: float = 0.2,
                      salt: str = "nba-validation") -> np.ndarray:
    """A stable pseudo-random share of customers (by a hash of the id): validation rows come
    from customers the model never trains on, so early stopping cannot reward memorizing a
    customer seen a week earlier with an overlapping label window."""
    ids = pd.Series(np.asarray(customer_ids, dtype=object)).astype(str)
    h = pd.util.hash_pandas_object(salt + ids, index=False).to_numpy()
    return (h % 10_000) < share * 10_000


def customer_folds(customer_ids: pd.Series | np.ndarray, k: int,
                   salt: str = "nba-folds") -> np.ndarray:
    """Fold index 0..k-1 per row, stable by a hash of the customer id: all rows of a customer
    share a fold, so a model is always judged on customers it never trained on."""
    ids = pd.Series(np.asarray(customer_ids, dtype=object)).astype(str)
    return (pd.util.hash_pandas_object(salt + ids, index=False).to_numpy() % k).astype(int)
