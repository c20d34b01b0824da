"""Every policy knob is a `PolicyConfig` field: no numeric constant at module level elsewhere in
serving/policy/, and the knobs that are settings take the settings' values."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from features.settings import Settings, SettingsError
from serving.policy.config import FROM_PERCENT_SETTINGS, FROM_SETTINGS, PolicyConfig

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


def test_percent_settings_become_shares() -> None:
    cfg = PolicyConfig.from_settings(Settings.from_env(env={"NBA_PRICE_DROP_MIN_PCT": "25"}))
    assert cfg.price_drop_min == 0.25
    default = PolicyConfig.from_settings(Settings())
    assert all(getattr(default, knob) == getattr(Settings(), pct) / 100 == getattr(
        PolicyConfig(), knob) for knob, pct in FROM_PERCENT_SETTINGS.items())


@pytest.mark.parametrize(("env", "fragment"), [
    ({"NBA_FOLLOWUP_IGNORED_HOURS": "0"}, "NBA_FOLLOWUP_IGNORED_HOURS=0.0: expected hours > 0"),
    ({"NBA_FOLLOWUP_IGNORED_HOURS": "soon"}, "NBA_FOLLOWUP_IGNORED_HOURS='soon' is not a number"),
    ({"NBA_PRICE_DROP_MIN_PCT": "0.1"}, None),
    ({"NBA_PRICE_DROP_MIN_PCT": "100"}, "NBA_PRICE_DROP_MIN_PCT=100.0: expected a percent"),
    ({"NBA_PRICE_DROP_MIN_PCT": "-5"}, "NBA_PRICE_DROP_MIN_PCT=-5.0: expected a percent"),
])
def test_bad_policy_settings_name_the_variable(env: dict, fragment: str | None) -> None:
    if fragment is None:  # valid: a 0.1% drop
        assert Settings.from_env(env=env).price_drop_min_pct == 0.1
        return
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_env(env=env)


def test_an_ignored_window_beyond_the_follow_up_window_is_refused() -> None:
    settings = Settings.from_env(env={"NBA_FOLLOWUP_IGNORED_HOURS": "72"})
    with pytest.raises(SettingsError, match=r"NBA_FOLLOWUP_IGNORED_HOURS=72: expected less "
                                            r"than the follow-up window \(72 h\)"):
        PolicyConfig.from_settings(settings)
