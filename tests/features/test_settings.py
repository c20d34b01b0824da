"""Settings: every field read from its NBA_* variable, defaults declared once on the field."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from features.settings import Settings, SettingsError


def test_defaults_come_from_the_fields_and_data_lives_in_home() -> None:
    s = Settings.from_env(env={})
    for f in fields(Settings):
        if f.name not in ("data_dir", "extra"):
            assert getattr(s, f.name) == f.default, f.name
    assert s.data_dir == Path(".nba/data")
    assert Settings.from_env(env={"NBA_HOME": "/srv/nba"}).data_dir == Path("/srv/nba/data")
    assert Settings.from_env(env={"NBA_CAP_PER_DAY": ""}).cap_per_day == 1  # empty: default


def test_every_field_is_read_from_its_variable() -> None:
    env = {"NBA_HOME": "/h", "NBA_DATA_DIR": "/d", "NBA_ONLINE_STORE": "redis://r:6379",
           "NBA_FEAST_PROJECT": "p2", "NBA_REQUIRE_SERVICES": "yes", "NBA_CONTROL_SHARE": "0.1",
           "NBA_EXPLORE_METHOD": "thompson", "NBA_CAP_PER_WEEK": "5", "NBA_MIN_GAP_HOURS": "6.5",
           "NBA_WORKERS": "4", "NBA_HORIZONS": "intent=14d"}
    s = Settings.from_env(env=env)
    assert (s.home, s.data_dir, s.online_store, s.feast_project) == (
        Path("/h"), Path("/d"), "redis://r:6379", "p2")
    assert s.require_services is True and s.control_share == 0.1
    assert (s.explore_method, s.cap_per_week, s.min_gap_hours, s.workers, s.horizons) == (
        "thompson", 5, 6.5, 4, "intent=14d")
    read = {f.metadata["env"] for f in fields(Settings) if "env" in f.metadata}
    assert read >= set(env) and all(v.startswith("NBA_") for v in read)
    assert Settings.from_env(env=env, workers=1).workers == 1  # CLI flags win


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"NBA_CAP_PER_DAY='two' is not an integer"):
        Settings.from_env(env={"NBA_CAP_PER_DAY": "two"})
    with pytest.raises(SettingsError, match=r"NBA_MIN_GAP_HOURS='x' is not a number"):
        Settings.from_env(env={"NBA_MIN_GAP_HOURS": "x"})
