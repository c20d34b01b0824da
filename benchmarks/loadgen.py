"""A light open-loop HTTP/1.1 load generator (asyncio streams, keep-alive connections).

It shares the machine's cores with the server under test, so it is kept cheap: no HTTP library,
requests written as bytes, responses read by Content-Length. Open loop: request i is due at
start + i / rate whatever happened to earlier ones, and its latency counts from when it was
due (a server that falls behind shows its queue in the figures instead of slowing the client).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson


@dataclass
class Result:
    """One run: latencies (ms) of answered requests by status, and failures (no answer)."""

    rate: float
    seconds: float
    latency: dict[int, list[float]] = field(default_factory=dict)
    degraded: int = 0
    failed: int = 0
    why_failed: dict[str, int] = field(default_factory=dict)
    achieved: float = 0.0
    max_connections: int = 0

    def ok(self) -> list[float]:
        return self.latency.get(200, [])

    def count(self, status: int) -> int:
        return len(self.latency.get(status, []))

    @property
    def errors(self) -> int:
        """Anything but a 200 or a shed 503: a 5xx, a 4xx, no answer."""
        return self.failed + sum(len(v) for k, v in self.latency.items() if k not in (200, 503))

    def pct(self, q: float, status: int = 200) -> float:
        xs = self.latency.get(status, [])
        return float(np.percentile(xs, q)) if xs else float("nan")


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            status_line = await self.reader.readline()
        except ConnectionResetError as exc:
            raise _Stale from exc
        if not status_line:
            raise _Stale("server closed the connection before answering")
        status = int(status_line.split(b" ", 2)[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise ValueError("chunked responses are not supported by this client")
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            raise _Closed(status, data)
        return status, data


class _Stale(ConnectionError):
    """The connection was closed before any answer (an idle keep-alive timed out)."""


class _Closed(Exception):
    def __init__(self, status: int, data: bytes) -> None:
        super().__init__(status)
        self.status, self.data = status, data


async def open_loop(host: str, port: int, path: str, bodies: Callable[[int], bytes],
                    rate: float, seconds: float, max_connections: int = 256,
                    timeout: float = 30.0) -> Result:
    """POST bodies(i) to `path` at `rate` per second for `seconds`."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: ").encode()
    idle: list[_Conn] = []
    opened = 0
    result = Result(rate, seconds)

    async def one(due: float, body: bytes) -> None:
        nonlocal opened
        conn = idle.pop() if idle else None
        try:
            if conn is None:
                if opened >= max_connections:
                    result.failed += 1  # the client's own bound: counted, never hidden
                    result.why_failed["client connection limit"] = (
                        result.why_failed.get("client connection limit", 0) + 1)
                    return
                opened += 1
                conn = _Conn(*await asyncio.open_connection(host, port))
            try:
                status, data = await asyncio.wait_for(conn.post(head, body), timeout)
            except _Stale:  # the server closed an idle keep-alive connection: a new one, as
                conn.writer.close()  # every HTTP client does (latency still from due time)
                conn = _Conn(*await asyncio.open_connection(host, port))
                status, data = await asyncio.wait_for(conn.post(head, body), timeout)
            except _Closed as closed:
                status, data, conn = closed.status, closed.data, None
            result.latency.setdefault(status, []).append((time.perf_counter() - due) * 1000)
            if status == 200 and b'"degraded":true' in data:
                result.degraded += 1
            if conn is not None:
                idle.append(conn)
        except (TimeoutError, OSError, ConnectionError, ValueError) as exc:
            result.failed += 1
            why = type(exc).__name__
            result.why_failed[why] = result.why_failed.get(why, 0) + 1
            if conn is not None:
                conn.writer.close()

    n = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, bodies(i))))
    await asyncio.gather(*tasks)
    result.achieved = sum(len(v) for k, v in result.latency.items() if k == 200) / (
        time.perf_counter() - start)
    result.max_connections = opened
    for conn in idle:
        conn.writer.close()
    return result


async def closed_loop(host: str, port: int, path: str, bodies: Callable[[int], bytes],
                      clients: int, seconds: float) -> float:
    """Answered (200) requests per second from `clients` callers each waiting for its answer."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: ").encode()
    stop = time.perf_counter() + seconds
    done = 0

    async def caller(k: int) -> None:
        nonlocal done
        conn = _Conn(*await asyncio.open_connection(host, port))
        i = k
        while time.perf_counter() < stop:
            status, _ = await conn.post(head, bodies(i))
            done += status == 200
            i += clients
        conn.writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(clients)))
    return done / (time.perf_counter() - t0)


def decision_bodies(ids: list[str], now_iso: str) -> Callable[[int], bytes]:
    encoded = [orjson.dumps({"customer_id": c, "now": now_iso}) for c in ids]
    return lambda i: encoded[i % len(encoded)]
