"""Append-only JSON-lines files that never grow without limit.

The live path writes every accepted event (`events.jsonl`, replayed after an outage), every
refused one (`rejects.jsonl`), and the service every decision. Each file rotates when it passes
`max_bytes` (`name.jsonl` -> `name.1.jsonl` -> ... -> `name.<keep>.jsonl`, the oldest dropped),
so the disk a service uses is bounded: (keep + 1) x max_bytes per file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

_LOCK = threading.Lock()


def rotated(path: Path, keep: int) -> list[Path]:
    """The file and its rotated parts, oldest first."""
    parts = [path.with_name(f"{path.stem}.{i}{path.suffix}") for i in range(keep, 0, -1)]
    return [p for p in [*parts, path] if p.exists()]


def _rotate(path: Path, keep: int) -> None:
    if keep <= 0:
        path.unlink(missing_ok=True)
        return
    oldest = path.with_name(f"{path.stem}.{keep}{path.suffix}")
    oldest.unlink(missing_ok=True)
    for i in range(keep - 1, 0, -1):
        src = path.with_name(f"{path.stem}.{i}{path.suffix}")
        if src.exists():
            src.rename(path.with_name(f"{path.stem}.{i + 1}{path.suffix}"))
    path.rename(path.with_name(f"{path.stem}.1{path.suffix}"))


def _line(record: dict[str, Any]) -> bytes:
    """One JSON line; input that orjson refuses (an integer beyond 64 bits, a lone surrogate)
    is still kept, through the standard library with ASCII escapes."""
    try:
        return orjson.dumps(record, default=str) + b"\n"
    except TypeError:
        return json.dumps(record, default=str, ensure_ascii=True).encode() + b"\n"


def append_jsonl(path: Path, records: Iterable[dict[str, Any]], max_bytes: int,
                 keep: int) -> int:
    """Append records (one JSON object per line), rotating first when the file is full."""
    data = b"".join(_line(r) for r in records)
    if not data:
        return 0
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size + len(data) > max_bytes:
            _rotate(path, keep)
        with path.open("ab") as f:
            f.write(data)
    return len(data)
