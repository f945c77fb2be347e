"""How reliable the champion/challenger gate is: equal-quality challengers must pass, worse ones must be gated out.

Run from the repository root:

    .venv/bin/python bench/gate_reliability.py                    # 10 runs at 20,000 orders (~4 min on 2 cores)
    .venv/bin/python bench/gate_reliability.py --runs 20 --rows 50000

It runs the model code directly, not the pipeline: the feature job (`features.main`), the training job
(`train.train`, the production hyperparameters), the evaluation job (`evaluate.evaluate`, given the champion's
model as the pipeline's Evaluate step gets it) and the gate's decision (`cd4ml_shared.gate.decide`, with the
template's default thresholds: PR AUC >= 0.2, ROC AUC >= 0.8, Brier <= 0.1, champion tolerance 0.01).

The champion is trained once, on orders of seed `--seed`. Each run then draws orders of another seed (the same
generator, size and fraud rate: data of the same quality) and trains two challengers on it:

  equal     trained on those orders as they are: it should pass (target: at least 90% of runs);
  shuffled  trained on the same orders with the labels of a random `--shuffle` share of the train and validation
            rows permuted among them: a real loss of PR AUC (the drop against `equal` on the same test rows is
            printed, and must be >= 0.1), which must be gated out every time.

Both are judged twice: by the gate as it decides now (the champion scored on the challenger's test rows, a paired
bootstrap interval of the PR AUC difference, the bounds with the test split's sampling interval, on calibrated
scores) and by the gate as it was (each model's PR AUC on its own test split, point values), for comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "model"), str(ROOT / "layers" / "shared" / "python"), str(ROOT)]

from cd4ml_model import evaluate, features, train  # noqa: E402
from cd4ml_model.artifacts import load_model_dir  # noqa: E402
from cd4ml_model.files import read_json  # noqa: E402
from cd4ml_shared.gate import (  # noqa: E402
    Champion,
    GateDecision,
    GatePolicy,
    comparison_of,
    decide,
    intervals_of,
    metrics_of,
)
from sklearn.metrics import brier_score_loss  # noqa: E402

from cd4ml.data import generate_orders  # noqa: E402
from cd4ml.data.orders import write_dataset  # noqa: E402

# the template's defaults (GateMinPrAuc, GateMinRocAuc, GateMaxBrierScore, ChampionTolerance)
POLICY = GatePolicy(minimums={"pr_auc": 0.2, "auc": 0.8}, maximums={"brier_score": 0.1}, tolerance=0.01)
CHAMPION_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/1"
START = datetime(2026, 1, 1)


@dataclass(frozen=True)
class Judged:
    kind: str
    seed: int
    pr_auc: float  # on its own test split
    raw_brier: float  # the booster's uncalibrated scores
    brier: float  # the served, calibrated scores
    champion_same_rows: float | None
    difference: float | None
    lower: float | None
    upper: float | None
    now: GateDecision
    before: GateDecision


def prepare(folder: Path, seed: int, rows: int, days: int, fraud_rate: float) -> Path:
    """The feature job's output (train/validation/test) for orders of `seed`."""
    (folder / "input").mkdir(parents=True)
    write_dataset(
        generate_orders(rows, seed=seed, start=START, days=days, fraud_rate=fraud_rate), folder / "input" / "o.parquet"
    )
    with _quiet():
        assert features.main(["--input-dir", str(folder / "input"), "--output-dir", str(folder / "features")]) == 0
    return folder / "features"


def shuffled_copy(source: Path, target: Path, share: float, seed: int) -> Path:
    """The feature sets with the labels of `share` of the train and validation rows permuted among those rows
    (test untouched: the challenger is judged on true labels)."""
    rng = np.random.default_rng(seed)
    for split in ("train", "validation", "test"):
        table = pq.read_table(source / split)
        if split != "test":
            y = table.column(train.LABEL).to_numpy().copy()
            chosen = np.flatnonzero(rng.random(len(y)) < share)
            y[chosen] = y[rng.permutation(chosen)]
            index = table.column_names.index(train.LABEL)
            table = table.set_column(index, train.LABEL, pa.array(y, type=table.schema.field(train.LABEL).type))
        (target / split).mkdir(parents=True)
        pq.write_table(table, target / split / f"{split}.parquet")
    return target


def fit(feature_dir: Path, model_dir: Path) -> Path:
    paths = train.TrainingPaths(
        train=feature_dir / "train",
        validation=feature_dir / "validation",
        model=model_dir,
        checkpoints=model_dir.parent / f"{model_dir.name}-checkpoints",
    )
    model_dir.mkdir(parents=True)
    with _quiet():
        train.train(train.Hyperparameters(checkpoint_every=0), paths, num_gpus=0)
    return model_dir


def judge(
    kind: str,
    seed: int,
    model_dir: Path,
    feature_dir: Path,
    out: Path,
    champion_dir: Path,
    champion_recorded: dict[str, float],
) -> Judged:
    with _quiet():
        document = evaluate.evaluate(model_dir, feature_dir / "test", out, champion_dir, CHAMPION_ARN)
    metrics = metrics_of(document)
    champion = Champion(CHAMPION_ARN, champion_recorded)
    comparison = comparison_of(document, POLICY.champion_metric)
    now = decide(metrics, POLICY, champion, intervals=intervals_of(document), comparison=comparison)
    before = decide(metrics, POLICY, champion)  # own test splits, point values
    model = load_model_dir(model_dir)
    labels, x = evaluate.labels_and_features(pq.read_table(feature_dir / "test"), model)
    raw = np.asarray(model.booster.inplace_predict(x), dtype=np.float64)
    return Judged(
        kind=kind,
        seed=seed,
        pr_auc=metrics["pr_auc"],
        raw_brier=float(brier_score_loss(labels, raw)),
        brier=metrics["brier_score"],
        champion_same_rows=None if comparison is None else comparison.champion,
        difference=None if comparison is None else comparison.difference,
        lower=None if comparison is None else comparison.lower,
        upper=None if comparison is None else comparison.upper,
        now=now,
        before=before,
    )


class _quiet:
    """The jobs print their progress lines; the bench prints its table."""

    def __enter__(self) -> None:
        self._stdout = sys.stdout
        sys.stdout = open(os.devnull, "w")

    def __exit__(self, *exc: Any) -> None:
        sys.stdout.close()
        sys.stdout = self._stdout


def _verdict(decision: GateDecision) -> str:
    if decision.passed:
        return "pass"
    failed = [c for c in decision.checks if not c.passed]
    return "OUT:" + ",".join(f"{c.kind[:5]}.{c.metric}" for c in failed)


def _num(value: float | None, sign: bool = False) -> str:
    return "-" if value is None else (f"{value:+.4f}" if sign else f"{value:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="challenger data seeds (each trains two challengers)")
    parser.add_argument("--rows", type=int, default=20_000, help="orders per dataset")
    parser.add_argument("--days", type=int, default=14, help="days the orders span")
    parser.add_argument("--fraud-rate", type=float, default=0.01)
    parser.add_argument("--shuffle", type=float, default=0.6, help="share of train/validation labels permuted")
    parser.add_argument("--seed", type=int, default=100, help="the champion's data seed; challengers use seed+1...")
    args = parser.parse_args(argv)

    when = f"{datetime.now():%Y-%m-%d %H:%M}"
    print(f"gate reliability bench, {when}, {platform.node()}, Python {platform.python_version()}")
    print(
        f"{args.runs} runs, {args.rows:,} orders over {args.days} days at fraud rate {args.fraud_rate}, "
        f"shuffled share {args.shuffle}; policy: minimums {dict(POLICY.minimums)}, maximums {dict(POLICY.maximums)}, "
        f"tolerance {POLICY.tolerance}"
    )
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    started = time.perf_counter()
    results: list[Judged] = []
    drops: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cd4ml-gate-bench-") as scratch:
        root = Path(scratch)
        champion_features = prepare(root / "champion", args.seed, args.rows, args.days, args.fraud_rate)
        champion_dir = fit(champion_features, root / "champion" / "model")
        with _quiet():
            champion_document = evaluate.evaluate(champion_dir, champion_features / "test", root / "champion" / "eval")
        recorded = metrics_of(champion_document)
        print(
            f"champion (seed {args.seed}): PR AUC {recorded['pr_auc']:.4f} on its own test split "
            f"({champion_document['dataset']['positives']} frauds in {champion_document['dataset']['rows']:,} rows), "
            f"Brier {recorded['brier_score']:.4f}; calibration "
            f"{read_json(champion_dir / 'calibration.json')}",
            flush=True,
        )
        header = (
            f"{'kind':<9}{'seed':>5}{'pr_auc':>8}{'champ*':>8}{'diff':>9}{'interval':>20}{'brier':>8}{'raw':>8}"
            f"   {'gate now':<40}{'gate before':<40}"
        )
        print(header)
        for run in range(1, args.runs + 1):
            seed = args.seed + run
            base = root / f"run-{run}"
            clean = prepare(base, seed, args.rows, args.days, args.fraud_rate)
            noisy = shuffled_copy(clean, base / "shuffled-features", args.shuffle, seed)
            pair = []
            for kind, feature_dir in (("equal", clean), ("shuffled", noisy)):
                model_dir = fit(feature_dir, base / f"{kind}-model")
                judged = judge(kind, seed, model_dir, clean, base / f"{kind}-eval", champion_dir, recorded)
                pair.append(judged)
                results.append(judged)
                interval = "-" if judged.lower is None else f"[{judged.lower:+.4f}, {judged.upper:+.4f}]"
                print(
                    f"{kind:<9}{seed:>5}{judged.pr_auc:>8.4f}{_num(judged.champion_same_rows):>8}"
                    f"{_num(judged.difference, True):>9}{interval:>20}{judged.brier:>8.4f}{judged.raw_brier:>8.4f}"
                    f"   {_verdict(judged.now):<40}{_verdict(judged.before):<40}",
                    flush=True,
                )
            drops.append(pair[0].pr_auc - pair[1].pr_auc)
    elapsed = time.perf_counter() - started

    def rate(kind: str, which: str) -> str:
        chosen = [r for r in results if r.kind == kind]
        passed = sum(getattr(r, which).passed for r in chosen)
        return f"{passed}/{len(chosen)} ({passed / len(chosen):.0%})"

    print("* champ: the champion's PR AUC on the challenger's test rows; diff and interval: challenger - champion")
    print()
    print(f"{'':<40}{'gate now':>16}{'gate before':>16}")
    print(f"{'equal-quality challengers passed':<40}{rate('equal', 'now'):>16}{rate('equal', 'before'):>16}")
    print(f"{'shuffled-label challengers passed':<40}{rate('shuffled', 'now'):>16}{rate('shuffled', 'before'):>16}")
    print(
        f"PR AUC drop of the shuffled challenger against the equal one on the same rows: min {min(drops):.4f}, "
        f"median {float(np.median(drops)):.4f}, max {max(drops):.4f}"
    )
    shuffled = [r for r in results if r.kind == "shuffled"]
    real = [r for r, drop in zip(shuffled, drops, strict=True) if drop >= 0.1]
    small = [(r, drop) for r, drop in zip(shuffled, drops, strict=True) if drop < 0.1]
    print(
        f"shuffled challengers with a real drop (>= 0.1) gated out now: "
        f"{sum(not r.now.passed for r in real)}/{len(real)}"
    )
    for r, drop in small:
        print(f"  seed {r.seed}: drop only {drop:.4f} (not a real drop by the target's measure): {_verdict(r.now)}")
    equal = [r for r in results if r.kind == "equal"]
    print(
        f"Brier of the equal challengers: served (calibrated) {min(r.brier for r in equal):.4f}-"
        f"{max(r.brier for r in equal):.4f}, booster's raw scores {min(r.raw_brier for r in equal):.4f}-"
        f"{max(r.raw_brier for r in equal):.4f}"
    )
    print(f"{elapsed:.0f} s; load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    equal_ok = sum(r.now.passed for r in equal) >= 0.9 * len(equal)
    shuffled_ok = bool(real) and not any(r.now.passed for r in real)
    print(
        f"targets: equal-quality pass >= 90%: {'met' if equal_ok else 'MISSED'}; every shuffled challenger with a "
        f"drop >= 0.1 gated out: {'met' if shuffled_ok else 'MISSED'}"
    )
    return 0 if equal_ok and shuffled_ok else 1


if __name__ == "__main__":
    sys.exit(main())
