"""A simulated world written chunk by chunk, so memory holds one chunk of customers, not the world.

The simulated customers do not interact: each one's sessions, carts, purchases, emails and churn
depend on their own traits, the catalog (static: prices, stock and popularity never change) and
the broadcast calendar. So a world can be simulated in chunks of customers, each from its own
random stream derived from the world seed, with the catalog and the calendar drawn once from the
world seed and shared (`Simulator(chunk=...)`). The chunks are written through `DatasetWriter`:
one dataset, the same files as `write_dataset`, events in time order.

A chunked world is the same statistical world as the whole-world simulation of the same config,
not the same data: the catalog is identical, but the customers and the broadcasts' categories
are other draws from the same distributions (docs/simulator.md, "Large worlds").
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from features.simulation.behavior import Chunk, SimConfig, Simulator, simulate
from features.sources.dataset import DatasetWriter, write_dataset

CHUNK_CUSTOMERS = 50_000  # customers per chunk: about 1.5 GB at 30 days (docs/scale.md)


def chunk_plan(customers: int, chunk_customers: int) -> list[Chunk]:
    """Consecutive chunks of at most `chunk_customers` customers, as even as possible."""
    if chunk_customers < 1:
        raise ValueError(f"chunk_customers must be >= 1, got {chunk_customers}")
    n = -(-customers // chunk_customers)
    bounds = [customers * i // n for i in range(n + 1)]
    return [Chunk(i, a, b - a) for i, (a, b) in enumerate(itertools.pairwise(bounds))]


def write_simulated(out: Path, cfg: SimConfig, *, chunk_customers: int = CHUNK_CUSTOMERS,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Simulate `cfg` into the dataset directory `out`; return the manifest. A world of at most
    `chunk_customers` customers is `simulate(cfg)` as is; a larger one is simulated and written
    in chunks (the chunk size is part of the world's identity: it is in the manifest)."""
    say = progress or (lambda _msg: None)
    cfg.validate()
    chunks = chunk_plan(cfg.customers, chunk_customers)
    if len(chunks) == 1:
        return write_dataset(out, simulate(cfg, progress))
    writer: DatasetWriter | None = None
    first_event = 0
    for chunk in chunks:
        say(f"chunk {chunk.index + 1}/{len(chunks)}: customers {chunk.first:,} to "
            f"{chunk.first + chunk.customers - 1:,}")
        ds = Simulator(cfg, chunk=chunk, first_event=first_event).run()
        writer = writer or DatasetWriter(out, ds.products)
        writer.add(ds)
        first_event += len(ds.events)
        del ds  # before the next chunk is simulated
    say("merging the chunks' events in time order")
    assert writer is not None  # two chunks or more
    return writer.close(extra_manifest={"chunk_customers": chunk_customers,
                                        "chunks": len(chunks)})
