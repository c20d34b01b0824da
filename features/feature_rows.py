"""Feature rows as the serving path hands them on: one dict per customer, with the same values
by feature name for the steps that work a column at a time (model matrices), so those do not
walk every dict again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class FeatureRows(list):
    """Feature dicts, one per customer, that also carry their values by feature name:
    `columns[name][i]` is `self[i].get(name)`. Read-only by convention (the online read builds
    them; nothing changes a row afterwards)."""

    def __init__(self, rows: Sequence[dict[str, Any]], columns: dict[str, list[Any]]) -> None:
        super().__init__(rows)
        self.columns = columns


def column(rows: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    """`name`'s value in each row (None: missing), from the rows' columns when they carry it."""
    columns = getattr(rows, "columns", None)
    if columns is not None and name in columns:
        return columns[name]
    return [r.get(name) for r in rows]
