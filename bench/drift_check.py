"""The open-loop drift check on a large window: cd4ml_shared.monitoring_drift beside scipy's ks_2samp and Evidently.

Run from the repository root:

    .venv/bin/python bench/drift_check.py                          # 1,000,000 x 20 current rows, 5 repeats
    .venv/bin/python bench/drift_check.py --evidently /tmp/ev/bin/python   # also Evidently's data-drift report
    .venv/bin/python bench/drift_check.py --help

The data (numpy, seeded): a reference of --reference-rows and a current window of --rows orders-like rows over 20
columns: 9 normals, a lognormal amount, integer item counts with ties at every edge, a uniform tenure, a nullable
exponential distance, a uniform, a Student t, four categoricals and the model's score. Two shifts are planted in
the window: normal_0's standard deviation times 1.1 and normal_1's mean + 0.2 sigma; the other 18 columns are drawn
as the reference was; --seeds more windows from other seeds count false alarms and misses (not timed). The
reference Profile is made once (as validation makes it at training time, not timed) and stored as JSON; the check
reads it back and compares the window with it.

Timed, in this process, one after the other on the same arrays (median of --repeats, after one warm-up):
  (a) this project: Profile.from_json of the stored reference + check_drift (PSI and KS of every column with their
      calibrated thresholds and Holm's correction) + the report as JSON: the whole drift check;
  (b) scipy.stats.ks_2samp over the 20 columns (categoricals as their codes), which needs the reference rows
      themselves; flagged at a raw p < 0.05 and after Bonferroni over the columns;
  (c) with --evidently PYTHON: Evidently's DataDriftPreset report on the same data, in that interpreter (a throwaway
      venv: Evidently is no project dependency), once, from Parquet files written here (reading them not timed).
Printed: seconds of each, the load average beside them, and which features each flagged.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "shared" / "python")]

import numpy as np  # noqa: E402
from cd4ml_shared.drift import Profile, categorical_profile, numeric_profile  # noqa: E402
from cd4ml_shared.monitoring_drift import (  # noqa: E402
    CategoricalValues,
    DriftReference,
    WindowColumn,
    check_drift,
    score_profile,
)

PLANTED = ("normal_0", "normal_1")
CATEGORIES = {
    "merchant_category": (
        ("electronics", "fashion", "grocery", "travel", "digital_goods", "home"),
        (0.2, 0.25, 0.3, 0.1, 0.1, 0.05),
    ),
    "device_type": (("mobile", "desktop", "tablet"), (0.6, 0.3, 0.1)),
    "currency": (("USD", "EUR", "GBP", "JPY"), (0.6, 0.3, 0.095, 0.005)),
    "billing_shipping_match": (("false", "true"), (0.1, 0.9)),
}

EVIDENTLY_SCRIPT = r"""
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
started = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
document = snapshot.dict()
seconds = time.perf_counter() - started
flagged = []
for metric in document["metrics"]:
    name = str(metric.get("metric_name", ""))
    value = metric.get("value")
    if name.startswith("ValueDrift(") and isinstance(value, (int, float)):
        column = name[len("ValueDrift(column="):].split(",")[0].rstrip(")")
        threshold = metric.get("config", {}).get("threshold")
        method = name.split("method=")[-1].split(",")[0] if "method=" in name else ""
        # p-value methods drift below their threshold, distances above it
        drifted = value < threshold if "p_value" in method or "test" in method else value >= threshold
        if drifted:
            flagged.append(column)
print(json.dumps({"seconds": seconds, "flagged": sorted(flagged), "version": __import__("evidently").__version__}))
"""


def window(rng: np.random.Generator, rows: int, planted: bool) -> dict[str, WindowColumn]:
    columns: dict[str, WindowColumn] = {f"normal_{i}": rng.normal(size=rows) for i in range(9)}
    if planted:
        columns["normal_0"] = np.asarray(columns["normal_0"]) * 1.1
        columns["normal_1"] = np.asarray(columns["normal_1"]) + 0.2
    columns["order_amount"] = rng.lognormal(3.5, 1.0, size=rows).round(2)
    columns["num_items"] = np.minimum(rng.geometric(0.45, size=rows), 500).astype(np.float64)
    columns["account_tenure_days"] = rng.integers(0, 3_000, size=rows).astype(np.float64)
    distance = rng.exponential(300.0, size=rows)
    distance[rng.random(rows) < 0.05] = np.nan
    columns["shipping_distance_km"] = distance
    columns["uniform"] = rng.random(rows)
    columns["student_t"] = rng.standard_t(4, size=rows)
    for name, (values, shares) in CATEGORIES.items():
        columns[name] = CategoricalValues(rng.choice(len(values), size=rows, p=shares), values)
    columns["score"] = rng.beta(0.5, 8.0, size=rows)
    return columns


def stored_reference(columns: dict[str, WindowColumn]) -> str:
    """The reference as training stores it: the dataset's Profile JSON, with the score's profile beside it."""
    profiles = {}
    for name, column in columns.items():
        if name == "score":
            continue
        if isinstance(column, CategoricalValues):
            counts = np.bincount(column.codes + 1, minlength=len(column.categories) + 1)
            profiles[name] = categorical_profile(dict(zip(column.categories, map(int, counts[1:]), strict=True)), 0)
        else:
            values = np.asarray(column)
            missing = np.isnan(values)
            profiles[name] = numeric_profile(np.sort(values[~missing]), int(missing.sum()), bins=10)
    rows = len(np.asarray(columns["uniform"]))
    profile = Profile("orders", rows, None, None, None, profiles)
    score = Profile("scores", rows, None, None, None, {"score": score_profile(np.asarray(columns["score"]))})
    return json.dumps({"features": profile.to_dict(), "score": score.to_dict()})


def drift_check(stored: str, current: dict[str, WindowColumn]) -> tuple[list[str], str]:
    """The whole check as the monitor runs it: read the stored reference, compare, write the report."""
    document = json.loads(stored)
    features = Profile.from_dict(document["features"])
    score = Profile.from_dict(document["score"])
    reference = DriftReference.from_profile(features).with_column("score", score.columns["score"], score.rows)
    report = check_drift(reference, current)
    return report.drifted, json.dumps(report.to_dict(), allow_nan=False)


def ks_loop(reference: dict[str, WindowColumn], current: dict[str, WindowColumn]) -> tuple[list[str], list[str]]:
    from scipy.stats import ks_2samp

    def raw(column: WindowColumn) -> np.ndarray[Any, Any]:
        values = np.asarray(column.codes if isinstance(column, CategoricalValues) else column, dtype=np.float64)
        return values[~np.isnan(values)]

    p_values = {name: float(ks_2samp(raw(reference[name]), raw(current[name])).pvalue) for name in current}
    raw_flags = [n for n, p in p_values.items() if p < 0.05]
    bonferroni = [n for n, p in p_values.items() if p < 0.05 / len(p_values)]
    return raw_flags, bonferroni


def timed(function: Any, repeats: int) -> tuple[float, Any]:
    function()  # warm-up, thrown away
    seconds = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def to_parquet(columns: dict[str, WindowColumn], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, column in columns.items():
        if isinstance(column, CategoricalValues):
            arrays[name] = pa.array(np.asarray(column.categories, dtype=object)[column.codes])
        else:
            arrays[name] = pa.array(np.asarray(column), from_pandas=True)  # NaN is null
    pq.write_table(pa.table(arrays), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the current window")
    parser.add_argument("--reference-rows", type=int, default=1_000_000, help="rows the reference profile summarises")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=5, help="more windows (fresh seeds) to count false alarms on")
    parser.add_argument("--no-scipy", action="store_true", help="skip the ks_2samp loop")
    parser.add_argument("--evidently", metavar="PYTHON", help="an interpreter with evidently installed")
    args = parser.parse_args()

    print(f"python {platform.python_version()}, numpy {version('numpy')}, {os.cpu_count()} cpus, {platform.machine()}")
    print(f"rows {args.rows:,} x 20 current, reference {args.reference_rows:,} rows, seed {args.seed}")
    rng = np.random.default_rng(args.seed)
    reference_rows = window(rng, args.reference_rows, planted=False)
    current = window(rng, args.rows, planted=True)
    started = time.perf_counter()
    stored = stored_reference(reference_rows)
    print(
        f"reference profile (at training time, not in the check): {time.perf_counter() - started:.2f} s, "
        f"{len(stored) / 1024:.0f} KiB of JSON"
    )

    seconds, (flagged, report) = timed(lambda: drift_check(stored, current), args.repeats)
    print(f"\nload average {os.getloadavg()[0]:.2f}")
    print(
        f"drift check (cd4ml):  {seconds:.3f} s median of {args.repeats}  (target <= 0.5 s)  report {len(report):,} B"
    )
    print(f"  flagged: {flagged}  planted: {list(PLANTED)}")
    false_alarms = sorted(set(flagged) - set(PLANTED))
    missed = sorted(set(PLANTED) - set(flagged))
    print(f"  false alarms among the 18 untouched: {len(false_alarms)} {false_alarms}; planted missed: {missed}")

    alarms, misses = 0, 0
    for seed in range(1, args.seeds + 1):
        flagged, _ = drift_check(stored, window(np.random.default_rng(args.seed + 1_000 * seed), args.rows, True))
        alarms += len(set(flagged) - set(PLANTED))
        misses += len(set(PLANTED) - set(flagged))
    if args.seeds:
        print(
            f"  over {args.seeds} more windows (other seeds): {alarms} false alarms in {18 * args.seeds} untouched "
            f"columns, {misses} of {2 * args.seeds} planted shifts missed"
        )

    if not args.no_scipy and importlib.util.find_spec("scipy") is None:
        print("scipy is not installed (it comes with the dev extra's scikit-learn): the ks_2samp loop is skipped")
    elif not args.no_scipy:
        seconds, (raw_flags, bonferroni) = timed(lambda: ks_loop(reference_rows, current), max(1, args.repeats // 2))
        print(f"load average {os.getloadavg()[0]:.2f}")
        print(f"scipy ks_2samp loop:  {seconds:.3f} s median of {max(1, args.repeats // 2)} (needs the reference rows)")
        print(f"  flagged at p < 0.05: {raw_flags}")
        print(f"  flagged after Bonferroni: {bonferroni}")

    if args.evidently:
        with tempfile.TemporaryDirectory() as folder:
            to_parquet(reference_rows, Path(folder) / "reference.parquet")
            to_parquet(current, Path(folder) / "current.parquet")
            result = subprocess.run(
                [args.evidently, "-c", EVIDENTLY_SCRIPT, f"{folder}/reference.parquet", f"{folder}/current.parquet"],
                capture_output=True,
                text=True,
                check=False,
            )
        if result.returncode:
            print(f"evidently failed:\n{result.stderr[-2000:]}")
        else:
            evidently = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"load average {os.getloadavg()[0]:.2f}")
            print(f"evidently {evidently['version']} DataDriftPreset: {evidently['seconds']:.1f} s (once)")
            print(f"  flagged: {evidently['flagged']}")


if __name__ == "__main__":
    main()
