"""The decision index (/open's lookup) and the catalog that follows product events."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from features.online.product_events import ProductState, SqliteProductState
from features.settings import Settings
from serving.decision_index import SqliteDecisionIndex
from serving.product_events import ProductSync, with_state
from serving.schemas import Action, Decision, Offer, OfferType, Recommendation
from tests.serving.test_policy import CATALOG

NOW = datetime(2026, 6, 1, 14, tzinfo=UTC)


def _decision(i: int, action: Action = Action.CART_ABANDONMENT) -> Decision:
    return Decision(decision_id=f"{i:032x}", customer_id=f"c{i}", decided_at=NOW, action=action,
                    send_at=NOW, offer=Offer(type=OfferType.PERCENT_OFF, value=10),
                    recommendations=[Recommendation(product_id="cart1", score=1.0,
                                                    reason="in_cart")])


def test_email_decisions_are_found_by_id_and_forgotten_after_the_keep(tmp_path) -> None:
    index = SqliteDecisionIndex(tmp_path / "i.db")
    index.put([_decision(1), _decision(2, Action.NONE)])
    other = SqliteDecisionIndex(tmp_path / "i.db")  # another worker
    got = other.get(f"{1:032x}")
    assert got == {"customer_id": "c1", "decided_at": NOW.isoformat(),
                   "send_at": NOW.isoformat(), "action": "cart_abandonment", "variant": None,
                   "offer": ["percent_off", 10.0], "recs": [["cart1", "in_cart"]]}
    assert other.get(f"{2:032x}") is None  # no email, nothing to open
    assert other.get("f" * 32) is None
    old = SqliteDecisionIndex(tmp_path / "i.db", keep_days=1)
    old.conn.execute("UPDATE decisions SET at = ?", (time.time() - 2 * 86_400,))
    old.conn.commit()
    assert old.get(f"{1:032x}") is None


def test_catalog_follows_the_product_state() -> None:
    states = {"pop1": ProductState(None, False), "gone": ProductState(9.0, True),
              "a1": ProductState(19.0, None), "unknown": ProductState(1.0, True)}
    cat = with_state(CATALOG, states)
    assert not cat.products["pop1"].in_stock and "pop1" not in cat.popular
    assert cat.products["gone"].in_stock and cat.popular[-1] == "gone"
    assert cat.products["a1"].price == 19.0 and cat.products["a1"].in_stock
    assert "unknown" not in cat.products
    assert CATALOG.products["pop1"].in_stock  # the base catalog is left alone


def test_every_worker_sees_a_change_within_the_refresh(tmp_path) -> None:
    settings = Settings.from_env(env={}, data_dir=tmp_path / "data")
    a, b = ProductSync(settings, CATALOG), ProductSync(settings, CATALOG)
    assert b.current(force=True).products["pop2"].in_stock
    SqliteProductState(settings.feature_repo_dir / "product_state.db").put(
        {"pop2": ProductState(None, False)})
    assert b.current().products["pop2"].in_stock  # checked at most once a second
    assert not b.current(force=True).products["pop2"].in_stock
    assert not a.current(force=True).products["pop2"].in_stock
    assert a.states_before({"pop2", "a2"}) == {"pop2": ProductState(None, False),
                                               "a2": ProductState(25.0, True)}
