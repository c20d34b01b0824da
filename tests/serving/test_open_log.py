"""The open log: what every `GET /open` showed, written by the recorder process with the opens'
`email_open` events (run in-process here, with a stand-in for the live path)."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import ClassVar

import orjson
import pytest

from features.settings import Settings
from serving.open_content import open_event, open_record, record_opens
from tests.serving.test_open_content_policy import CART, at_open, sent


@pytest.fixture
def live(monkeypatch):
    """The live path, recording what it is asked to ingest (`fail`: the store is down)."""
    from features.online import live as live_module

    class Live(live_module.LiveUpdater):
        frames: ClassVar[list] = []
        fail = False

        def __init__(self, settings) -> None:  # no store, no history
            self.settings = settings

        def ingest(self, frame):
            if Live.fail:
                raise ConnectionError("store gone")
            Live.frames.append(frame)

    monkeypatch.setattr(live_module, "LiveUpdater", Live)
    return Live


def _record(settings: Settings, shown: list) -> None:
    q: queue.Queue = queue.Queue()
    for o in shown:
        q.put((open_event(o.decision_id, o.customer_id, o.opened_at), open_record(o)))
    q.put(None)
    record_opens(settings, q, flush_s=0.01, nice=0)


def _lines(data: Path) -> list[dict]:
    files = sorted((data / "opens").glob("opens-*.jsonl"))
    return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]


def test_every_render_is_logged_and_one_open_per_email_reaches_the_features(tmp_path, live):
    settings = Settings.from_env(env={}, data_dir=tmp_path / "data")
    d, stored = sent(CART)
    shown = [at_open(stored, CART, hours=2, intent=0.6),  # fetched twice: one open, two lines
             at_open(stored, CART, hours=80, intent=0.05)]
    _record(settings, shown)
    lines = _lines(settings.data_dir)
    assert [line["decision_id"] for line in lines] == [d.decision_id] * 2
    assert [line["variant"] for line in lines] == [o.variant.value for o in shown]
    assert lines[0]["offer"] == {"type": d.offer.type.value, "value": d.offer.value}
    assert lines[1]["offer"]["type"] == "none"  # expired by then
    assert [r["product_id"] for r in lines[0]["recommendations"]] == [
        r.product_id for r in shown[0].recommendations]
    assert lines[0]["reasons"] == shown[0].reasons and lines[0]["degraded"] is False
    assert lines[1]["opened_at"] == shown[1].opened_at.isoformat().replace("+00:00", "Z")
    assert len(live.frames) == 1 and live.frames[0]["event_id"].tolist() == [
        f"open-{d.decision_id}"]


def test_an_outage_still_logs_what_was_shown_and_keeps_the_open_for_replay(tmp_path, live):
    settings = Settings.from_env(env={}, data_dir=tmp_path / "data")
    live.fail = True
    _, stored = sent(CART)
    degraded = at_open(stored, {}, intent=0.6, degraded=True)
    _record(settings, [degraded])
    (line,) = _lines(settings.data_dir)
    assert line["degraded"] is True and "store_unavailable_stored_content" in line["reasons"]
    kept = (settings.data_dir / "live" / "events.jsonl").read_bytes()
    assert f"open-{degraded.decision_id}".encode() in kept


def test_the_open_log_rotates_and_stays_bounded_like_the_decision_log(tmp_path) -> None:
    from datetime import UTC, datetime

    from serving.decision_log import daily_log

    settings = Settings.from_env(env={"NBA_LOG_MAX_MB": "0.0001", "NBA_LOG_KEEP": "0"},
                                 data_dir=tmp_path / "data")
    log = daily_log(settings, "opens")
    for i in range(20):  # each line is over the 104-byte limit: a new part each time
        log.write([{"i": i, "pad": "x" * 120}], datetime(2026, 6, 1, tzinfo=UTC))
    log.close()
    names = [p.name for p in (settings.data_dir / "opens").iterdir()]
    assert len(names) == 15 == 15 * (settings.log_keep + 1)  # the oldest 5 deleted
    assert all(n.startswith("opens-2026-06-01") for n in names), names
