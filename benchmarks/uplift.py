"""Uplift on real experiments and exploration on the simulator.

1. Starbucks randomized promotion (../shared/data/starbucks_promotion): `nba train-response` on
   training.csv only (a purchase is worth 10, a promotion costs 0.15, every row trains), then
   `nba evaluate-policy` on test.csv: IRR and NIR of the rows the policy promotes, against
   promoting everyone (NIR -1,132) and the exercise's best reported (about NIR 300).
2. Open Bandit Dataset, uniform-random log (../shared/data/open_bandit_sample): a per-position
   popularity policy learned on the first half of the log, valued on the second with IPS, SNIPS
   and DR (bootstrap 95% intervals), next to the uniform policy whose value is known (the
   observed CTR) and the on-policy CTR of the Thompson-sampling log.
3. Simulated campaign with known effects (5,000 customers x 26 weeks, 16 decision times): the
   learners compared out of fold and on held-out rows, against the truth.
4. Exploration: offline replay of epsilon-greedy (10%) and Thompson sampling on the simulator,
   250 rounds x 400 decisions, 3 seeds; regret per decision against the best treatment per
   customer, and the floor of the best treatment per context bucket. Plot: --plot FILE.

Run: python benchmarks/uplift.py [--shared ../shared/data] [--plot docs/img/exploration.png]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import header  # noqa: E402


def nba(*args: str, env_dir: Path) -> str:
    import os

    env = {**os.environ, "NBA_DATA_DIR": str(env_dir), "NBA_HOME": str(env_dir.parent)}
    r = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True,
                       text=True, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise SystemExit(f"nba {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def starbucks(shared: Path, work: Path) -> None:
    folder = shared / "starbucks_promotion"
    if not folder.exists():
        print(f"\n## starbucks: {folder} not found, skipped")
        return
    data = work / "starbucks" / "data"
    train = ["train-response", "--log", str(folder / "training.csv"), "--treatment",
             "Promotion", "--outcome", "purchase", "--control", "No", "--group", "",
             "--cost", "Yes=0.15", "--value", "10", "--holdout", "0"]
    evaluate = ["evaluate-policy", "--log", str(folder / "test.csv"), "--treatment",
                "Promotion", "--outcome", "purchase", "--group", "", "--model-version", "1"]
    print(f"\n## starbucks: nba {' '.join(train)}")
    t = time.perf_counter()
    print(nba(*train, env_dir=data).rstrip())
    print(f"(took {time.perf_counter() - t:.0f} s)\n\n## starbucks: nba {' '.join(evaluate)}")
    print(nba(*evaluate, env_dir=data).rstrip())


def open_bandit(shared: Path) -> None:
    import numpy as np
    import pandas as pd

    from training.ope import evaluate, one_hot

    folder = shared / "open_bandit_sample"
    if not folder.exists():
        print(f"\n## open bandit: {folder} not found, skipped")
        return
    log = pd.read_csv(folder / "random_all.csv.gz").sort_values("timestamp")
    bts = pd.read_csv(folder / "bts_all.csv.gz")
    first, second = log.iloc[: len(log) // 2], log.iloc[len(log) // 2:]
    items = np.sort(log["item_id"].unique())
    ctr = (first.groupby(["position", "item_id"])["click"].agg(["sum", "count"])
           .reindex(pd.MultiIndex.from_product([sorted(log["position"].unique()), items]),
                    fill_value=0))
    smoothed = ((ctr["sum"] + 1) / (ctr["count"] + 1 / first["click"].mean())).unstack()
    logged = np.searchsorted(items, second["item_id"].to_numpy())
    prop = second["propensity_score"].to_numpy()
    y = second["click"].to_numpy(dtype=float)
    mu = smoothed.loc[second["position"]].to_numpy()
    k = len(items)
    print(f"\n## open bandit (random log, {len(log):,} impressions, {k} items): a popularity "
          f"policy learned on {len(first):,}, valued on {len(second):,}")
    print(f"observed CTR of the second half (uniform policy, on-policy): {y.mean():.4%}; "
          f"Bernoulli TS log, on-policy: {bts['click'].mean():.4%}")
    for name, pi in (("uniform", np.full((len(y), k), 1 / k)),
                     ("popularity", one_hot(mu.argmax(axis=1), k))):
        est = evaluate(pi, logged, prop, y, mu, n_boot=1000)
        w = pi[np.arange(len(y)), logged] / prop
        ess = w.sum() ** 2 / (w ** 2).sum()
        print(f"  {name:<11} " + "  ".join(
            f"{e.upper()} {v.value:.4%} [{v.low:.4%}, {v.high:.4%}]" for e, v in est.items())
              + f"  (effective rows {ess:,.0f})")


def simulated_campaign(work: Path) -> None:
    from features.simulation.behavior import SimConfig, simulate
    from features.simulation.campaigns import campaign_log, decision_times
    from training.policy_eval import train_response
    from training.response import LogSpec

    ds = simulate(SimConfig(customers=5000, days=182, seed=7))
    log = campaign_log(ds, decision_times(ds, 16), seed=0)
    t = time.perf_counter()
    result, rep = train_response(log, LogSpec("treatment", "reward", "propensity"), n_boot=400)
    print(f"\n## simulated campaign ({len(log):,} rows, 30% of customers held out; "
          f"{time.perf_counter() - t:.0f} s)")
    print(f"policy: {result.dataset['policy']}")
    print("held-out DR value of each learner's own policy: " + ", ".join(
        f"{k} {v:.3f}" for k, v in sorted(rep.learners.items(), key=lambda kv: -kv[1])))
    for name in ("learned", "none", "email", "email_10", "email_20", "random", "oracle"):
        est = rep.estimates.get(name, {})
        snips = est.get("snips")
        cell = f"SNIPS {snips.value:.3f} [{snips.low:.2f}, {snips.high:.2f}]" if snips else ""
        print(f"  {name:<9} {cell:<28} true {rep.truth[name]:.3f}")
    d = rep.vs_best_single["dr"]
    print(f"learned - best single ({rep.best_single}), DR: {d.value:+.3f} [{d.low:+.3f}, "
          f"{d.high:+.3f}]; true {rep.truth['learned'] - rep.truth[rep.best_single]:+.3f}")


def exploration(plot: Path | None) -> None:
    import numpy as np

    from features.simulation.behavior import SimConfig, simulate
    from features.simulation.campaigns import campaign_log, decision_times
    from training.bandit import bucket_oracle_regret, replay

    ds = simulate(SimConfig(customers=2000, days=120, seed=7))
    log = campaign_log(ds, decision_times(ds, 6), seed=0)
    floor = bucket_oracle_regret(log)
    print(f"\n## exploration replay ({len(log):,} simulated customer-decisions, 250 rounds x "
          f"400 decisions, 3 seeds); floor (best treatment per context bucket): {floor:.3f}")
    curves = {}
    print(f"  {'method':<10} {'regret/decision':>16} {'rounds 1-25':>12} {'rounds 226-250':>15}")
    for method in ("uniform", "epsilon", "thompson"):
        runs = [replay(log, method, rounds=250, per_round=400, seed=s) for s in range(3)]
        curves[method] = np.mean([r.regret_per_round for r in runs], axis=0)
        per_seed = ", ".join(f"{r.cumulative_regret:.3f}" for r in runs)
        print(f"  {method:<10} {curves[method].mean():16.3f} {curves[method][:25].mean():12.3f} "
              f"{curves[method][-25:].mean():15.3f}   (seeds: {per_seed})")
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for method, c in curves.items():
            smooth = np.convolve(c, np.ones(10) / 10, mode="valid")
            ax.plot(np.arange(len(smooth)) + 10, smooth, label=method)
        ax.axhline(floor, color="k", ls=":", lw=0.8, label="best treatment per bucket")
        ax.set(xlabel="round (400 decisions each)", ylabel="regret per decision",
               title="exploration on the simulator (3 seeds, 10-round average)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=110)
        print(f"plot: {plot}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--only", default="starbucks,bandit,campaign,exploration")
    args = ap.parse_args()
    header("uplift on real experiments, exploration on the simulator")
    work = args.work or Path(tempfile.mkdtemp(prefix="nba-uplift-"))
    only = set(args.only.split(","))
    if "starbucks" in only:
        starbucks(args.shared, work)
    if "bandit" in only:
        open_bandit(args.shared)
    if "campaign" in only:
        simulated_campaign(work)
    if "exploration" in only:
        exploration(args.plot)


if __name__ == "__main__":
    main()
