"""Pipeline step for business events: `nba product-events ingest FILE`."""

from __future__ import annotations

from pathlib import Path

from features.settings import Settings
from pipelines.console import UserError
from pipelines.data_steps import write_table
from serving.product_events import ProductEventsResult


def product_events_step(settings: Settings, source: str, decide: bool = True,
                        out: Path | None = None) -> ProductEventsResult:
    """Apply a file of product events (JSON lines, CSV or Parquet) to the shared product state
    and, when `decide`, decide every trigger's audience through the policy in batch (decisions
    logged and indexed like any other, and written to `out`)."""
    from pipelines.feature_steps import ensure_features
    from pipelines.ingest import read_records
    from pipelines.serve_steps import decisions_frame
    from serving.engine import DecisionEngine
    from serving.product_events import apply_product_events

    rows = list(read_records(source))
    if not rows:
        raise UserError(f"{source}: no product events")
    ensure_features(settings)
    engine = DecisionEngine(settings)
    try:
        result = apply_product_events(engine, rows, decide)
    finally:
        engine.close()
    if out is not None and result.decisions:
        write_table(decisions_frame(result.decisions), out)
    return result
