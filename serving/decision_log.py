"""The decision log: every decision with its inputs and scores, as JSON lines per day, so
outcomes can be joined to decisions later (response/uplift training)."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from features.transforms import RESPONSE_FEATURES

LOG_FIELDS = tuple(dict.fromkeys((
    "cart_open", "cart_value", "hours_since_last_view", "hours_since_last_cart_add",
    "hours_since_last_purchase", "hours_since_last_site", "emails_sent_24h", "emails_sent_7d",
    "purchases_90d", "spend_90d", "consent", "unsubscribed", *RESPONSE_FEATURES)))


class DecisionLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._day: str | None = None
        self._file = None

    def path_for(self, when: datetime) -> Path:
        return self.directory / f"decisions-{when:%Y-%m-%d}.jsonl"

    def write(self, records: list[dict[str, Any]], when: datetime) -> None:
        day = f"{when:%Y-%m-%d}"
        blob = b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
                        for r in records)
        with self._lock:
            if day != self._day:
                if self._file is not None:
                    self._file.close()
                # unbuffered append: one write call per batch, so processes sharing the
                # file (batch workers, service workers) never interleave inside a line
                self._file = self.path_for(when).open("ab", buffering=0)
                self._day = day
            self._file.write(blob)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def log_inputs(features: dict[str, Any]) -> dict[str, Any]:
    """The features worth keeping with a decision (enough to audit and learn from it)."""
    return {k: features.get(k) for k in LOG_FIELDS}
