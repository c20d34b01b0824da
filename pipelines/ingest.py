"""The live ingest consumer: read events (JSON lines, CSV or Parquet), push in micro-batches."""

from __future__ import annotations

import gc
import logging
import os
import queue
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd

from features.online.live import LiveUpdater
from features.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IngestSummary:
    accepted: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


REJECT = "__nba_reject__"  # a record that could not be read: {REJECT: reason, "line": n}


def _json_lines(stream: IO[bytes], source: str) -> Iterator[dict[str, Any]]:
    """Objects of a JSON-lines stream; a line that is not a JSON object becomes a reject
    record (kept with its reason) and reading goes on."""
    for n, line in enumerate(stream, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield {REJECT: f"json: line {n} is not valid JSON ({exc})", "line": n,
                   "text": line[:500].decode("utf-8", "replace")}
            continue
        if not isinstance(rec, dict):
            yield {REJECT: f"json: line {n} is not a JSON object", "line": n,
                   "text": line[:500].decode("utf-8", "replace")}
            continue
        yield rec


def split_rejects(batch: list[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """Records to ingest, and unreadable lines (with their reasons)."""
    good = [r for r in batch if REJECT not in r]
    return good, [r for r in batch if REJECT in r]


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


def take_for_replay(settings: Settings) -> list[Path]:
    """Move every part of the rotating live event log aside (`live/replay/`, oldest first) so
    re-ingesting it does not grow the log; parts left there by a failed replay come first.
    Events carry stable ids, so replaying one twice changes nothing."""
    from features.online.live import EVENTS_LOG, LIVE_DIR
    from features.online.logfiles import rotated

    live = settings.data_dir / LIVE_DIR
    folder = live / "replay"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for i, part in enumerate(rotated(live / EVENTS_LOG, settings.log_keep)):
        part.rename(folder / f"{stamp}-{i:02d}.jsonl")
    parts = sorted(folder.glob("*.jsonl"))
    if not parts:
        raise FileNotFoundError(f"{live / EVENTS_LOG}: nothing to replay")
    return parts


def read_records(path: str) -> Iterator[dict[str, Any]]:
    """Records from '-' (stdin, JSON lines), a .jsonl, .csv or .parquet file."""
    if path == "-":
        return _json_lines(sys.stdin.buffer, "stdin")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.suffix in {".jsonl", ".json", ".ndjson"}:
        return _json_lines(p.open("rb"), str(p))
    from features.sources.loaders import read_table

    df = read_table(p)
    return iter(df.astype(object).where(df.notna(), None).to_dict("records"))


def ingest(settings: Settings, records: Iterator[dict[str, Any]], batch_size: int = 500,
           max_wait: float = 0.2, workers: int = 1) -> IngestSummary:
    """Consume a stream of events in micro-batches (in `workers` processes when > 1)."""
    summary = IngestSummary()
    if workers > 1:
        return _ingest_partitioned(settings, records, batch_size, max_wait, workers)
    updater = _started_updater(settings)
    t0 = time.perf_counter()
    for batch in micro_batches(records, batch_size, max_wait):
        good, bad = split_rejects(batch)
        if bad:
            _count_unreadable(updater, bad, summary)
        res = updater.ingest(pd.DataFrame(good)) if good else None
        summary.batches += 1
        if res is None:
            continue
        summary.accepted += res.accepted
        summary.rejected += res.rejected
        for k, v in res.rejected_by_reason.items():
            summary.rejected_by_reason[k] = summary.rejected_by_reason.get(k, 0) + v
    summary.seconds = time.perf_counter() - t0
    updater.close()
    return summary


def _started_updater(settings: Settings) -> LiveUpdater:
    """A consumer's updater, warmed up (views resolved, connections open) so the first events
    after a start are not the slow ones, and its start-up objects frozen out of the garbage
    collector's scans."""
    from features.online.store import store_errors

    updater = LiveUpdater(settings)
    try:
        updater.warm_up()
    except store_errors() as exc:  # the store is down: the first batch says so, events kept
        log.warning("live ingest: warm-up skipped, online store unavailable (%s)", exc)
    gc.freeze()  # long-lived objects (registry, models) leave the collector's scans
    return updater


def _count_unreadable(updater: LiveUpdater, bad: list[dict[str, Any]],
                      summary: IngestSummary) -> None:
    updater.reject(pd.DataFrame({"line": [r["line"] for r in bad],
                                 "text": [r["text"] for r in bad],
                                 "reason": [r[REJECT] for r in bad]}))
    summary.rejected += len(bad)
    summary.rejected_by_reason["json"] = summary.rejected_by_reason.get("json", 0) + len(bad)


def _ingest_partitioned(settings: Settings, records: Iterator[dict[str, Any]], batch_size: int,
                        max_wait: float, workers: int) -> IngestSummary:
    summary = IngestSummary()
    pool = PartitionedIngest(settings, workers)
    local = LiveUpdater.rejects_only(settings)
    t0 = time.perf_counter()
    try:
        for i, batch in enumerate(micro_batches(records, batch_size, max_wait)):
            good, bad = split_rejects(batch)
            if bad:
                _count_unreadable(local, bad, summary)
            if not good:
                continue
            pool.submit(i, pd.DataFrame(good))
            summary.batches += 1
            pool.poll(summary)
        while pool.pending():
            pool.poll(summary, timeout=1.0)
    finally:
        pool.close()
    summary.seconds = time.perf_counter() - t0
    return summary


# ---------------------------------------------------------------------------- scale-out
def partition_of(customer_id: str, n: int) -> int:
    """Stable partition of a customer (every event of a customer goes to the same worker)."""
    return zlib.crc32(customer_id.encode()) % n


def _worker(settings: Settings, index: int, inbox, outbox) -> None:
    from features.online.store import StoreUnavailable
    from pipelines.console import quiet_libraries

    quiet_libraries()
    updater = _started_updater(settings)
    outbox.put(("ready", index))
    parent = os.getppid()
    while True:
        try:
            item = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the consumer died without closing: do not linger
                break
            continue
        if item is None:
            break
        ids, frames = [item[0]], [item[1]]
        while True:  # coalesce whatever else is already waiting: one push for all of it
            try:
                nxt = inbox.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                inbox.put(None)
                break
            ids.append(nxt[0])
            frames.append(nxt[1])
        try:
            res = updater.ingest(pd.concat(frames, ignore_index=True))
            outbox.put(("done", ids, index, res.accepted, res.rejected, res.rejected_by_reason,
                        time.monotonic()))
        except StoreUnavailable as exc:
            outbox.put(("error", ids, index, str(exc), time.monotonic()))
    updater.close()


class PartitionedIngest:
    """Live ingest in `workers` processes, events partitioned by customer (like the partitions
    of an event stream), so per-customer order is kept and the cores are used."""

    def __init__(self, settings: Settings, workers: int = 2, start_timeout: float = 180) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.n = workers
        self.inboxes = [ctx.Queue() for _ in range(workers)]
        self.outbox = ctx.Queue()
        self.procs = [ctx.Process(target=_worker, args=(settings, i, self.inboxes[i],
                                                        self.outbox), daemon=True)
                      for i in range(workers)]
        for p in self.procs:
            p.start()
        ready = 0
        while ready < workers:
            msg = self.outbox.get(timeout=start_timeout)
            ready += msg[0] == "ready"
        self.parts: dict[int, int] = {}  # batch id -> partitions still running

    def submit(self, batch_id: int, events: pd.DataFrame) -> None:
        sent = 0
        for i, frame in events.groupby(self.partitions(events)):
            self.inboxes[int(i)].put((batch_id, frame))
            sent += 1
        self.parts[batch_id] = sent

    def partitions(self, events: pd.DataFrame) -> np.ndarray:
        """The partition (worker) of each event: by customer, so per-customer order is kept."""
        return events["customer_id"].astype(str).map(lambda c: partition_of(c, self.n)).to_numpy()

    def poll(self, summary: IngestSummary, timeout: float = 0.0
             ) -> list[tuple[int, int, float]]:
        """Add worker reports to `summary`; return the batch parts pushed since the last call
        as (batch id, partition, monotonic time its push returned): an event is visible once
        its own partition's part is."""
        done: list[tuple[int, int, float]] = []
        while True:
            try:
                msg = self.outbox.get(timeout=timeout) if timeout else self.outbox.get_nowait()
            except queue.Empty:
                return done
            timeout = 0.0
            if msg[0] == "error":
                from features.online.store import StoreUnavailable

                raise StoreUnavailable(msg[3])
            _, ids, index, accepted, rejected, reasons, t = msg
            summary.accepted += accepted
            summary.rejected += rejected
            for k, v in reasons.items():
                summary.rejected_by_reason[k] = summary.rejected_by_reason.get(k, 0) + v
            for b in ids:
                done.append((b, index, t))
                self.parts[b] -= 1
                if self.parts[b] == 0:
                    del self.parts[b]

    def pending(self) -> int:
        return len(self.parts)

    def close(self) -> None:
        for box in self.inboxes:
            box.put(None)
        for p in self.procs:
            p.join(timeout=30)
