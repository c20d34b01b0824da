"""Settings: every field read from its NBA_* variable, defaults declared once on the field."""

from __future__ import annotations

from dataclasses import fields, replace
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


def test_a_redis_cluster_url_gives_feasts_cluster_config(tmp_path: Path) -> None:
    """`redis+cluster://` lists the startup nodes: Feast's config says `redis_cluster` with the
    node list and no database (a cluster has db 0 only), and no password on disk."""
    from feast import RepoConfig

    from features.online.store import redacted, repo_config_dict
    from features.settings import redis_cluster_nodes

    url = "redis+cluster://:s3cret@r1:7000,r2.example:7001,r3/0"
    assert redis_cluster_nodes(url) == ([("r1", 7000), ("r2.example", 7001), ("r3", 6379)],
                                        "s3cret")
    settings = Settings.from_env(env={"NBA_ONLINE_STORE": url}, data_dir=tmp_path)
    assert settings.redis_online and Settings.from_env(env={}).redis_online is False
    online = repo_config_dict(settings)["online_store"]
    assert online == {"type": "redis", "redis_type": "redis_cluster",
                      "connection_string": "r1:7000,r2.example:7001,r3:6379,password=s3cret"}
    on_disk = repo_config_dict(settings, secret=False)["online_store"]["connection_string"]
    assert on_disk == "r1:7000,r2.example:7001,r3:6379,password=${NBA_REDIS_PASSWORD}"
    parsed = RepoConfig(repo_path=tmp_path, **repo_config_dict(settings, timeout=0.05))
    assert parsed.online_store.redis_type.value == "redis_cluster"
    assert "socket_timeout=0.05" in parsed.online_store.connection_string
    assert redacted(url) == "redis+cluster://r1:7000,r2.example:7001,r3:6379"
    single = repo_config_dict(replace(settings, online_store="redis://r1:6379/2"))
    assert single["online_store"] == {"type": "redis", "connection_string": "r1:6379,db=2"}


@pytest.mark.parametrize("url, fragment", [
    ("redis+cluster://r1:7000/1", "database 0 only"),
    ("redis+cluster://r1:7000,,r2:7001", "'' is not host:port"),
    ("redis+cluster://r1:port", "'r1:port' is not host:port"),
    ("rediss+cluster://r1:7000", "expected 'sqlite'"),
])
def test_a_bad_cluster_url_names_the_problem(url: str, fragment: str) -> None:
    with pytest.raises(SettingsError, match=r"NBA_ONLINE_STORE") as err:
        Settings.from_env(env={"NBA_ONLINE_STORE": url})
    assert fragment in str(err.value)
