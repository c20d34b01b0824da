"""Every policy knob is a `PolicyConfig` field: no numeric constant at module level elsewhere in
serving/policy/, and the knobs that are settings take the settings' values."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

from features.settings import Settings
from serving.policy.config import FROM_SETTINGS, PolicyConfig

POLICY = Path(__file__).resolve().parents[2] / "serving" / "policy"


def test_policy_modules_hold_no_numeric_constants() -> None:
    bad = []
    for path in sorted(POLICY.glob("*.py")):
        if path.name == "config.py":
            continue
        for node in ast.parse(path.read_text()).body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if isinstance(value, ast.Constant) and type(value.value) in (int, float):
                bad.append(f"{path.name}:{node.lineno}")
    assert not bad, f"numeric constants outside PolicyConfig: {bad}"


def test_config_is_built_from_settings() -> None:
    settings = replace(Settings(), cap_per_day=4, quiet_start_hour=20, explore_share=0.2)
    cfg = PolicyConfig.from_settings(settings)
    assert (cfg.cap_per_day, cfg.quiet_start_hour, cfg.explore_share) == (4, 20, 0.2)
    assert all(getattr(cfg, name) == getattr(settings, name) for name in FROM_SETTINGS)
