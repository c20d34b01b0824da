"""The decision log: every decision with its inputs and scores, as JSON lines per day, so
outcomes can be joined to decisions later (response/uplift training). The open log (what
`GET /open` showed, serving/open_content.py) is kept the same way."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from features.repo.feature_services import service_features
from features.settings import Settings

LOG_FIELDS = service_features("decision_log_v1")  # the Feast feature service, in its order


class DecisionLog:
    """Records as JSON lines, one file per day (`<prefix>-YYYY-MM-DD.jsonl`, a day past
    `max_bytes` continues in `<prefix>-YYYY-MM-DD-2.jsonl`, ...); the oldest files are deleted
    once the directory holds more than `max_files`, so the log's disk use is bounded."""

    def __init__(self, directory: Path, max_bytes: int = 64 * 2**20, max_files: int = 60,
                 prefix: str = "decisions") -> None:
        self.directory, self.prefix = directory, prefix
        directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.max_files = max_bytes, max_files
        self._lock = threading.Lock()
        self._day: str | None = None
        self._part = 1
        self._size = 0
        self._file = None

    def path_for(self, when: datetime, part: int = 1) -> Path:
        suffix = "" if part == 1 else f"-{part}"
        return self.directory / f"{self.prefix}-{when:%Y-%m-%d}{suffix}.jsonl"

    def _open(self, when: datetime) -> None:
        if self._file is not None:
            self._file.close()
        path = self.path_for(when, self._part)
        # unbuffered append: one write call per batch, so processes sharing the file (batch
        # workers, service workers) never interleave inside a line
        self._file = path.open("ab", buffering=0)
        self._size = path.stat().st_size
        self._prune()

    def _prune(self) -> None:
        files = sorted(self.directory.glob(f"{self.prefix}-*.jsonl"),
                       key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.max_files)]:
            old.unlink(missing_ok=True)

    def write(self, records: list[dict[str, Any]], when: datetime) -> None:
        day = f"{when:%Y-%m-%d}"
        blob = b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
                        for r in records)
        with self._lock:
            if day != self._day:
                self._day, self._part = day, 1
                self._open(when)
            elif self._size + len(blob) > self.max_bytes:
                self._part += 1
                self._open(when)
            self._file.write(blob)
            self._size += len(blob)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def daily_log(settings: Settings, name: str) -> DecisionLog:
    """The deployment's `name` log (`decisions`, `opens`) in `DATA/<name>/`, bounded by
    NBA_LOG_MAX_MB per file and 15 x (NBA_LOG_KEEP + 1) files (at least 10)."""
    return DecisionLog(settings.data_dir / name, settings.log_max_bytes,
                       max_files=max(10, 15 * (settings.log_keep + 1)), prefix=name)


def log_inputs(features: dict[str, Any]) -> dict[str, Any]:
    """The features worth keeping with a decision (enough to audit and learn from it)."""
    return {k: features.get(k) for k in LOG_FIELDS}
