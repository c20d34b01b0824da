"""The live ingest consumer: read events (JSON lines, CSV or Parquet), push in micro-batches."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import pandas as pd

from features.live import LiveUpdater
from features.validation import SchemaError


@dataclass
class IngestSummary:
    accepted: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


def _json_lines(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(stream, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SchemaError(f"{source} line {n}: not valid JSON ({exc})") from None
        if not isinstance(rec, dict):
            raise SchemaError(f"{source} line {n}: expected a JSON object per line")
        yield rec


def micro_batches(records: Iterator[dict[str, Any]], batch_size: int,
                  max_wait: float) -> Iterator[list[dict[str, Any]]]:
    """Group a (possibly slow) stream into batches of at most `batch_size` records, flushing
    a partial batch once its oldest record has waited `max_wait` seconds."""
    q: queue.Queue = queue.Queue(maxsize=batch_size * 4)
    done = object()
    failure: list[BaseException] = []

    def reader() -> None:
        try:
            for rec in records:
                q.put(rec)
        except BaseException as exc:
            failure.append(exc)
        q.put(done)

    threading.Thread(target=reader, daemon=True).start()
    batch: list[dict[str, Any]] = []
    first = 0.0
    while True:
        timeout = None if not batch else max(0.0, first + max_wait - time.monotonic())
        try:
            item = q.get(timeout=timeout)
        except queue.Empty:
            yield batch
            batch = []
            continue
        if item is done:
            break
        if not batch:
            first = time.monotonic()
        batch.append(item)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
    if failure:
        raise failure[0]


def read_records(path: str) -> Iterator[dict[str, Any]]:
    """Records from '-' (stdin, JSON lines), a .jsonl, .csv or .parquet file."""
    if path == "-":
        return _json_lines(sys.stdin.buffer, "stdin")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.suffix in {".jsonl", ".json", ".ndjson"}:
        return _json_lines(p.open("rb"), str(p))
    from features.loaders import read_table

    df = read_table(p)
    return iter(df.astype(object).where(df.notna(), None).to_dict("records"))


def ingest(updater: LiveUpdater, records: Iterator[dict[str, Any]], batch_size: int = 500,
           max_wait: float = 0.2) -> IngestSummary:
    summary = IngestSummary()
    t0 = time.perf_counter()
    for batch in micro_batches(records, batch_size, max_wait):
        res = updater.ingest(pd.DataFrame(batch))
        summary.accepted += res.accepted
        summary.rejected += res.rejected
        summary.batches += 1
        for k, v in res.rejected_by_reason.items():
            summary.rejected_by_reason[k] = summary.rejected_by_reason.get(k, 0) + v
    summary.seconds = time.perf_counter() - t0
    return summary
