"""The decision engine with a response model: it scores the same features it was trained on
(online read == offline state used for campaign logs), and acts on the expected gains."""

from __future__ import annotations

import numpy as np
import pytest

from features.simulation.campaigns import campaign_log, decision_times
from features.sources.dataset import read_dataset
from features.transforms import RESPONSE_FEATURES, customer_state_at
from serving.schemas import DecisionRequest
from training.policy_eval import train_response
from training.response import LogSpec

pytestmark = pytest.mark.slow  # every test uses the trained_world fixture


@pytest.fixture(scope="module")
def world(trained_world):
    from serving.engine import DecisionEngine
    from serving.scoring import Scorer

    settings, _ = trained_world
    ds = read_dataset(settings.data_dir, with_truth=True)
    log = campaign_log(ds, decision_times(ds, 4), seed=1)
    result, _ = train_response(log, LogSpec("treatment", "reward", "propensity"), n_boot=50)
    scorer = Scorer.from_registry(settings)
    scorer.bundles["response"], scorer.versions["response"] = result.model, "nba-response/test"
    engine = DecisionEngine(settings, scorer=scorer, log_decisions=False)
    yield ds, engine
    engine.close()


def test_online_features_match_the_offline_state_the_logs_are_built_from(world) -> None:
    ds, engine = world
    customers = ds.customers["customer_id"].head(200).tolist()
    when = ds.end.timestamp()
    rows = engine.online.read(customers, [when] * len(customers))
    offline = customer_state_at(ds.events, ds.customers, ds.end).set_index("customer_id")
    for c, row in zip(customers, rows, strict=True):
        for f in RESPONSE_FEATURES:
            want, got = offline.at[c, f], row.get(f)
            if want != want:  # NaN offline: missing online
                assert got is None or got != got, (c, f, got)
            else:
                assert got == pytest.approx(want, rel=1e-6, abs=1e-6), (c, f, got, want)


def test_engine_decides_with_the_response_model(world) -> None:
    ds, engine = world
    customers = ds.customers["customer_id"].tolist()
    decisions = engine.decide_many([DecisionRequest(customer_id=c, now=ds.end.to_pydatetime())
                                    for c in customers])
    assert all("expected_none" in d.scores for d in decisions)
    assert decisions[0].model_versions["response"] == "nba-response/test"
    reasons = [r for d in decisions for r in d.reasons]
    gained = [r for r in reasons if r.startswith("response_model_best:")]
    assert gained  # customers with something to send about were decided by expected gain
    # every send is the model's policy: its best single treatment, or one expected to gain
    # more than that (never one expected to do worse)
    model = engine.scorer.bundles["response"]
    for d in decisions:
        sent = [r for r in d.reasons if r.startswith("response_model_best:")]
        if sent:
            chosen = sent[0].split(":")[1]
            exp = {k.removeprefix("expected_"): v for k, v in d.scores.items()
                   if k.startswith("expected_")}
            assert chosen != "none"
            assert exp[chosen] >= exp[model.best_single] - 1e-6 or np.isclose(
                exp[chosen], exp[model.best_single], atol=1e-4)


def test_one_query_sqlite_read_equals_feasts_own_reads(world) -> None:
    """The serving read (one SQL query over the service's views) returns what Feast's
    `get_online_features` and the provider's per-view `online_read` return."""
    from serving.online import OnlineFeatures

    ds, engine = world
    assert type(engine.online._fast).__name__ == "_SqliteRead"  # the demo store is SQLite
    customers = [*ds.customers["customer_id"].head(150).tolist(), "never-seen"]
    when = [ds.end.timestamp()] * len(customers)
    fast = engine.online.read(customers, when)
    per_view = OnlineFeatures(engine.store)
    per_view._fast = None
    assert fast == per_view.read(customers, when)
    assert fast == OnlineFeatures(engine.store, direct=False).read(customers, when)
    assert fast[-1]["consent"] is None and fast[0]["consent"] is not None


def test_batch_decisions_equal_one_by_one(world) -> None:
    """Batch scoring (LightGBM on a matrix, one query for many customers) decides exactly what
    the one-customer path (LightGBM's single-row C path) decides."""
    ds, engine = world
    now = ds.end.to_pydatetime()
    customers = [*ds.customers["customer_id"].head(300).tolist(), "never-seen"]
    batch = engine.decide_many([DecisionRequest(customer_id=c, now=now) for c in customers])
    for c, b in zip(customers, batch, strict=True):
        _assert_same_decision(engine.decide(DecisionRequest(customer_id=c, now=now)), b)


def _assert_same_decision(one, other) -> None:
    same = ("action", "variant", "offer", "send_at", "recommendations", "reasons",
            "control_group", "degraded")
    c = one.customer_id
    assert {k: getattr(one, k) for k in same} == {k: getattr(other, k) for k in same}, c
    assert one.scores.keys() == other.scores.keys()
    for k, v in one.scores.items():
        assert (v is None and other.scores[k] is None) or v == pytest.approx(
            other.scores[k], rel=1e-9, abs=1e-9), (c, k)


def test_compiled_champions_decide_as_lightgbm(world, trained_world, monkeypatch) -> None:
    """`nba serve`'s compile step puts the champions' machine code where engines load it, and
    compiled champions (a direct call per row, and per batch) decide exactly what LightGBM's
    own paths decide."""
    import copy
    import shutil

    from pipelines.serve_steps import compile_champions
    from serving.scoring import Scorer
    from training import lgbm_compiled

    ds, engine = world
    settings = trained_world[0]
    now = ds.end.to_pydatetime()
    requests = [DecisionRequest(customer_id=c, now=now)
                for c in ds.customers["customer_id"].head(150).tolist()]
    with lgbm_compiled.suspended():
        want = [engine.decide(r) for r in requests]
    cache = settings.compiled_models_dir
    # the champions as the registry would give them: this world's own champions walk no trees
    # (baselines won), so the engine's, with its response model, in copies of their own
    monkeypatch.setattr(Scorer, "from_registry", classmethod(lambda cls, _: Scorer(
        copy.deepcopy(engine.scorer.bundles), dict(engine.scorer.versions))))
    try:
        _, compiled, left = compile_champions(settings)
        assert compiled >= 4 and left == 0 and len(list(cache.glob("*.o"))) == compiled
        with lgbm_compiled.enabled(cache, compile_new=False):  # as a worker: load, not compile
            engine.scorer.compile()
            assert lgbm_compiled.counts() == (compiled, 0)
            for w, one, batch in zip(want, [engine.decide(r) for r in requests],
                                     engine.decide_many(requests), strict=True):
                _assert_same_decision(w, one)
                _assert_same_decision(w, batch)
    finally:
        shutil.rmtree(cache, ignore_errors=True)  # other tests' engines: LightGBM, as before


def test_affinity_folds_in_the_lists_its_evaluation_uses(world, trained_world) -> None:
    """Training/serving parity for the affinity model: the lists serving folds in (online
    store) are the ones `served_lists` rebuilds from the events when training evaluates the
    model as served, with the same interaction weights, so the recommendations are equal."""
    from training.affinity import recent_items, served_lists

    ds, engine = world
    customers = ds.customers["customer_id"].head(300).tolist()
    rows = engine.online.read(customers, [ds.end.timestamp()] * len(customers))
    rebuilt = served_lists(ds.events, ds.end, customers)
    for c, row, offline in zip(customers, rows, rebuilt, strict=True):
        assert recent_items(row) == recent_items(offline), c
    assert sum(bool(recent_items(r)) for r in rows) > 50
    from training.model_specs import SPECS
    from training.pyfunc import load_bundle
    from training.tracking import configure

    configure(trained_world[0])
    trained = trained_world[1]["affinity"]
    model = load_bundle(f"models:/{SPECS['affinity'].registered}/{trained.version}")
    assert model.recommend_for_items([recent_items(r) for r in rows], 10) == \
        model.recommend_for_items([recent_items(r) for r in rebuilt], 10)
