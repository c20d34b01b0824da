"""The decision policy: pure functions from features and scores to a decision (no I/O)."""

from serving.policy.config import PolicyConfig
from serving.policy.decide import decide
from serving.policy.inputs import Catalog, PolicyInputs, Product, Scores

__all__ = ["Catalog", "PolicyConfig", "PolicyInputs", "Product", "Scores", "decide"]
