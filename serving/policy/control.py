"""Deterministic control group: a stable hash of the customer id."""

from __future__ import annotations

import hashlib

from serving.policy.config import PolicyConfig


def in_control_group(customer_id: str, cfg: PolicyConfig) -> bool:
    """True for a stable `control_share` of customers (same answer on every call)."""
    if cfg.control_share <= 0:
        return False
    h = hashlib.sha256(f"{cfg.control_salt}:{customer_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < cfg.control_share
