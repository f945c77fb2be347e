"""Validating and profiling a large orders CSV: cd4ml_shared.data_quality side by side with pandas + pandera.

Run from the repository root:

    .venv/bin/python bench/data_validation.py                  # 200,000 rows, 3 repeats: about 1 minute on 2 cores
    .venv/bin/python bench/data_validation.py --rows 1000000   # the issue's size: about 3 minutes on 2 cores
    .venv/bin/python bench/data_validation.py --help

The data: the orders generator (cd4ml.data.orders, seeded) gives the contract's 14 columns and numpy, from the same
seed, six more numeric features; a 20-column contract extends ORDERS with them. The CSV is written once to a
temporary directory, and a reference Profile (the "last accepted dataset") is made from an earlier window.

Each side runs in a fresh Python process of its own, one after the other, so that its peak RSS is its own and
neither warms the other's caches: imports (timed), one warm-up run thrown away, then --repeats timed runs, of which
the median is reported. All times are wall clock (time.perf_counter()).
  (a) this project: read_table (pyarrow CSV with the contract's types) + validate (every check of
      docs/data-quality.md, including the profile, PSI against the reference, staleness and leakage).
  (b) pandas.read_csv + a pandera DataFrameSchema with the checks pandera expresses (types, nullability, ranges,
      categories, unique key, minimum rows, label rate, freshness, future timestamps), validated lazily so every
      failure is collected, + the same profile, PSI, per-day staleness and single-feature AUC written in pandas.
At the end both sides' profiles are compared (quantile edges, shares, dominant values) and must agree.
See bench/README.md and docs/data-quality.md for the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared" / "python")]

from cd4ml_shared.contract import ORDERS, Column  # noqa: E402

START = datetime(2026, 2, 1, tzinfo=UTC)  # the bench dataset's window: 28 days from here
DAYS = 28
NOW = START + timedelta(days=DAYS, hours=6)  # validation time: fresh data
FUTURE_TOLERANCE = timedelta(seconds=ORDERS.future_tolerance_s)  # as the contract says
EXTRA_FEATURES = (
    Column("orders_last_7d", "int", minimum=0, maximum=1_000),
    Column("orders_last_30d", "int", minimum=0, maximum=5_000),
    Column("distinct_merchants_30d", "int", minimum=0, maximum=1_000),
    Column("avg_amount_30d", "float", minimum=0.0, maximum=100_000.0),
    Column("hours_since_last_order", "float", minimum=0.0, maximum=100_000.0),
    Column("refund_rate_90d", "float", minimum=0.0, maximum=1.0),
)
FAULTS = ("missing_values", "out_of_range", "stale_column", "duplicate_rows", "label_leakage", "distribution_drift")
# ORDERS and six more numeric features: the 20 columns.
CONTRACT = replace(ORDERS, columns=ORDERS.columns + EXTRA_FEATURES)


# ---- the data -------------------------------------------------------------------------------------------------
def generate(rows: int, seed: int, start: datetime, faults: list[str] | None = None) -> Any:
    """A 20-column orders table: the generator's 14 columns (with its faults, if any) and six numeric features."""
    import numpy as np
    import pyarrow as pa

    from cd4ml.data.orders import generate_orders

    table = generate_orders(rows, seed=seed, start=start, days=DAYS, faults=faults or ())
    rng = np.random.default_rng([seed, 20])
    rows = table.num_rows  # duplicate_rows adds some
    # the customer's usual spend follows this order's amount (a fault's nulls or negatives stay in order_amount only)
    amount = np.abs(np.nan_to_num(table.column("order_amount").to_numpy(), nan=30.0))
    week = rng.poisson(2.0, rows)
    extras = {
        "orders_last_7d": week,
        "orders_last_30d": week + rng.poisson(6.0, rows),
        "distinct_merchants_30d": 1 + rng.poisson(2.0, rows),
        "avg_amount_30d": np.round(np.minimum(amount * rng.lognormal(0.0, 0.3, rows), 100_000.0), 2),
        "hours_since_last_order": np.round(rng.exponential(72.0, rows), 1),
        "refund_rate_90d": np.round(rng.beta(1.0, 20.0, rows), 4),
    }
    for name, values in extras.items():
        table = table.append_column(name, pa.array(values))
    return table


def prepare(rows: int, seed: int, faults: list[str], folder: Path) -> tuple[Path, Path, float]:
    """Write the dataset's CSV and the reference profile (of the 28 days before); return their paths and size."""
    from cd4ml_shared.data_quality import profile

    from cd4ml.data.orders import write_dataset

    csv = folder / f"orders-{rows}.csv"
    size = write_dataset(generate(rows, seed, START, faults), csv)
    reference = profile(generate(min(rows, 200_000), seed + 1, START - timedelta(days=DAYS)), CONTRACT)
    reference_path = folder / "reference.json"
    reference_path.write_text(reference.to_json())
    return csv, reference_path, size / 2**20


# ---- (a) this project -----------------------------------------------------------------------------------------
def run_ours(csv: Path, reference_path: Path) -> Callable[[], dict[str, Any]]:
    import pyarrow.compute
    import pyarrow.csv  # noqa: F401  (data_quality imports these two lazily: count them as imports here too)
    from cd4ml_shared.data_quality import read_table, validate
    from cd4ml_shared.drift import Profile

    reference = Profile.from_json(reference_path.read_text())

    def once() -> dict[str, Any]:
        started = time.perf_counter()
        table = read_table(csv, "csv", contract=CONTRACT)
        read = time.perf_counter()
        report = validate(table, CONTRACT, reference=reference, now=NOW)
        done = time.perf_counter()
        return {
            "parts": {"read": read - started, "checks + profile": done - read},
            "rows": table.num_rows,
            "columns": table.num_columns,
            "failures": sorted(f"{f.code}:{f.column}" for f in report.failures),
            "profile": report.profile.to_dict()["columns"],
        }

    return once


# ---- (b) pandas + pandera -------------------------------------------------------------------------------------
def run_pandas(csv: Path, reference_path: Path) -> Callable[[], dict[str, Any]]:
    import numpy as np
    import pandas as pd
    import pandera.pandas as pdr

    reference = json.loads(reference_path.read_text())
    ts = CONTRACT.timestamp.name
    label = CONTRACT.label.name
    features = CONTRACT.by_role("feature")
    dtypes: dict[str, Any] = {
        "string": str,
        "category": str,
        "int": "int64",
        "float": "float64",
        "bool": bool,
        "timestamp": pd.DatetimeTZDtype("us", "UTC"),
    }
    now = pd.Timestamp(NOW)

    def schema() -> pdr.DataFrameSchema:
        columns = {}
        for column in CONTRACT.columns:
            checks = []
            if column.minimum is not None:
                checks.append(pdr.Check.ge(column.minimum))
            if column.maximum is not None:
                checks.append(pdr.Check.le(column.maximum))
            if column.categories is not None:
                checks.append(pdr.Check.isin(column.categories))
            if column.role == "timestamp":
                checks.append(pdr.Check.le(now + FUTURE_TOLERANCE))  # no future timestamps
            columns[column.name] = pdr.Column(
                dtypes[column.dtype], checks, nullable=column.nullable, unique=column.role == "key"
            )
        frame_checks = [
            pdr.Check(lambda df: len(df) >= CONTRACT.min_rows, name="min_rows"),
            pdr.Check(
                lambda df: CONTRACT.label_min_rate <= df[label].mean() <= CONTRACT.label_max_rate, name="label_rate"
            ),
            pdr.Check(lambda df: now - df[ts].max() <= pd.Timedelta(days=CONTRACT.max_age_days), name="freshness"),
        ]
        return pdr.DataFrameSchema(columns, checks=frame_checks, strict=False)

    def psi(expected: Any, actual: Any) -> float:
        e = np.maximum(np.asarray(expected, dtype=float), 1e-4)
        a = np.maximum(np.asarray(actual, dtype=float), 1e-4)
        return float(((a - e) * np.log(a / e)).sum())

    def auc(scores: Any, positive: Any) -> float:
        ranks = scores.rank(method="average")
        p = int(positive.sum())
        n = len(scores) - p
        return float((ranks[positive].sum() - p * (p + 1) / 2) / (p * n))

    def profile_and_compare(df: pd.DataFrame) -> tuple[dict[str, Any], list[str]]:
        rows = len(df)
        profile: dict[str, Any] = {}
        problems: list[str] = []
        positive = df[label] == 1
        day = df[ts].dt.floor("D")
        qs = [i / CONTRACT.drift.bins for i in range(1, CONTRACT.drift.bins)]
        for column in [*features, CONTRACT.label]:
            series = df[column.name]
            before = reference["columns"].get(column.name)
            if column.dtype in ("int", "float"):
                present = series.dropna()
                edges = present.quantile(qs).unique()
                bins = [-np.inf, *edges, np.inf]
                shares = pd.cut(present, bins).value_counts(sort=False).to_numpy() / rows
                counts = present.value_counts()
                dominant, dominant_share = float(counts.idxmax()), counts.max() / rows
                profile[column.name] = {"edges": list(edges), "shares": list(shares), "dominant_share": dominant_share}
                if before is not None and column.role == "feature":
                    now_shares = pd.cut(present, [-np.inf, *before["edges"], np.inf]).value_counts(sort=False)
                    actual = [*(now_shares.to_numpy() / rows), series.isna().mean()]
                    value = psi([*before["shares"], before["null_share"]], actual)
                    if value >= CONTRACT.drift.warn:
                        problems.append(f"drift.psi:{column.name}")
                if column.role == "feature":
                    # per day, the share of the most common value (stuck "day after day")
                    per_day = (series == dominant).groupby(day).agg(["mean", "size"])
                    stuck = per_day[(per_day["mean"] >= CONTRACT.stale_dominant_share) & (per_day["size"] >= 30)]
                    if len(stuck) >= 2 and (before is None or before["dominant_share"] < CONTRACT.stale_dominant_share):
                        problems.append(f"column.stale:{column.name}")
                    if auc_strength(auc(series.fillna(-np.inf), positive)) >= CONTRACT.leakage_auc:
                        problems.append(f"label.leakage:{column.name}")
            else:
                if column.dtype == "bool":
                    series = series.map({True: "true", False: "false"})
                # shares of all rows, as the profile keeps them (value_counts normalises over the non-null ones)
                shares = series.value_counts(normalize=True) * (1 - series.isna().mean())
                profile[column.name] = {"shares": shares.sort_index().to_dict(), "dominant_share": shares.max()}
                if before is not None:
                    values = sorted(set(before["shares"]) | set(shares.index))
                    value = psi(
                        [before["shares"].get(v, 0.0) for v in values] + [before["null_share"]],
                        [shares.get(v, 0.0) for v in values] + [series.isna().mean()],
                    )
                    if value >= CONTRACT.drift.warn:
                        problems.append(f"drift.psi:{column.name}")
                if column.role == "feature":
                    rate = positive.groupby(series, dropna=False).transform("mean")
                    if auc_strength(auc(rate, positive)) >= CONTRACT.leakage_auc:
                        problems.append(f"label.leakage:{column.name}")
        return profile, problems

    def auc_strength(value: float) -> float:
        return max(value, 1 - value)

    def once() -> dict[str, Any]:
        started = time.perf_counter()
        df = pd.read_csv(csv, parse_dates=[ts])
        read = time.perf_counter()
        try:
            schema().validate(df, lazy=True)
            failures: list[str] = []
        except pdr.errors.SchemaErrors as errors:
            cases = errors.failure_cases
            failures = sorted(
                {f"{check}:{column}" for check, column in zip(cases["check"], cases["column"], strict=True)}
            )
        checked = time.perf_counter()
        profile, problems = profile_and_compare(df)
        done = time.perf_counter()
        return {
            "parts": {
                "read": read - started,
                "pandera schema": checked - read,
                "profile, PSI, stale, AUC": done - checked,
            },
            "rows": len(df),
            "columns": len(df.columns),
            "failures": failures + problems,
            "profile": profile,
        }

    return once


# ---- one side, in its own process -----------------------------------------------------------------------------
def peak_rss_mib() -> float:
    """This process's peak resident set size. Linux keeps ru_maxrss across exec (a child started by a big parent
    would report the parent's peak), so VmHWM of the new address space is read where there is one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def side(name: str, csv: Path, reference: Path, repeats: int, warmup: int) -> None:
    """Run one side and print its result as one JSON line (the parent process reads it)."""
    started = time.perf_counter()
    once = run_ours(csv, reference) if name == "ours" else run_pandas(csv, reference)
    imports = time.perf_counter() - started
    rss_after_imports = peak_rss_mib()
    for _ in range(warmup):
        once()
    runs = []
    for _ in range(repeats):
        began, cpu = time.perf_counter(), time.process_time()
        result = once()
        result["total"] = time.perf_counter() - began
        result["cpu"] = time.process_time() - cpu  # all threads: more than the wall time when cores work together
        runs.append(result)
    last = runs[-1]
    print(
        json.dumps(
            {
                "imports": imports,
                "total": [run["total"] for run in runs],
                "cpu": [run["cpu"] for run in runs],
                "parts": {part: [run["parts"][part] for run in runs] for part in last["parts"]},
                "rows": last["rows"],
                "columns": last["columns"],
                "failures": last["failures"],
                "profile": last["profile"],
                "rss_after_imports_mib": rss_after_imports,
                "peak_rss_mib": peak_rss_mib(),
            },
            default=float,
        )
    )


def run_side(name: str, csv: Path, reference: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--side", name, "--csv", str(csv), "--reference", str(reference)]
    command += ["--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the {name} side failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---- comparing and printing -----------------------------------------------------------------------------------
def agree(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Differences between the two sides' profiles (none expected) and verdicts."""
    import numpy as np

    differences = []
    for name, mine in ours["profile"].items():
        other = theirs["profile"][name]
        if mine["kind"] == "numeric":
            same = np.allclose(mine["edges"], other["edges"]) and np.allclose(mine["shares"], other["shares"])
        else:
            keys = sorted(mine["shares"])
            same = keys == sorted(other["shares"]) and np.allclose(
                [mine["shares"][k] for k in keys], [other["shares"][k] for k in keys]
            )
        if not same or not np.isclose(mine["dominant_share"], other["dominant_share"]):
            differences.append(f"profile of {name}")
    if bool(ours["failures"]) != bool(theirs["failures"]):
        differences.append(f"verdict: ours {ours['failures'] or 'passed'}, pandas {theirs['failures'] or 'passed'}")
    return differences


def header(args: argparse.Namespace) -> None:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print("cd4ml data validation bench: cd4ml_shared.data_quality vs pandas + pandera")
    print(f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"machine:  {platform.machine()} {platform.processor() or ''}".rstrip() + f", {cores} cores ({usable} usable)"
    )
    print(f"system:   {platform.platform()}")
    print(f"python:   {platform.python_implementation()} {platform.python_version()}")
    packages = ", ".join(f"{name} {version(name)}" for name in ("numpy", "pyarrow", "pandas", "pandera"))
    print(f"packages: {packages}")
    faults = f" --faults {' '.join(args.faults)}" if args.faults else ""
    print(f"settings: --rows={args.rows} --seed={args.seed} --repeats={args.repeats} --warmup={args.warmup}{faults}")


def print_results(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    median = statistics.median

    def line(name: str, a: str, b: str, ratio: str = "") -> None:
        print(f"{name:<44} {a:>17} {b:>19} {ratio:>7}")

    def seconds(name: str, a: list[float] | None, b: list[float] | None) -> None:
        ratio = f"{median(b) / median(a):.1f}x" if a and b else ""
        line(name, f"{median(a):.3f}" if a else "", f"{median(b):.3f}" if b else "", ratio)

    def spread(values: list[float]) -> str:
        return f"{min(values):.2f} .. {max(values):.2f}"

    line("seconds (median of the timed runs)", "(a) data_quality", "(b) pandas+pandera", "b / a")
    print("-" * 90)
    checks_b = [
        p + q
        for p, q in zip(theirs["parts"]["pandera schema"], theirs["parts"]["profile, PSI, stale, AUC"], strict=True)
    ]
    seconds("read CSV", ours["parts"]["read"], theirs["parts"]["read"])
    seconds("checks + profile (+ PSI, stale, leakage)", ours["parts"]["checks + profile"], checks_b)
    seconds("  of which the pandera schema, lazy", None, theirs["parts"]["pandera schema"])
    seconds("  of which profile, PSI, stale, AUC (pandas)", None, theirs["parts"]["profile, PSI, stale, AUC"])
    seconds("total: read + validate + profile", ours["total"], theirs["total"])
    line("  range of the totals", spread(ours["total"]), spread(theirs["total"]))
    seconds("CPU seconds (user + system, all threads)", ours["cpu"], theirs["cpu"])
    line(
        "rows/s, total",
        f"{ours['rows'] / median(ours['total']):,.0f}",
        f"{theirs['rows'] / median(theirs['total']):,.0f}",
    )
    seconds("imports (once, in a fresh process)", [ours["imports"]], [theirs["imports"]])
    line("peak RSS (MiB)", f"{ours['peak_rss_mib']:,.0f}", f"{theirs['peak_rss_mib']:,.0f}")
    line(
        "  after the imports (MiB)", f"{ours['rss_after_imports_mib']:,.0f}", f"{theirs['rss_after_imports_mib']:,.0f}"
    )
    line("rows x columns", f"{ours['rows']:,} x {ours['columns']}", f"{theirs['rows']:,} x {theirs['columns']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the dataset (the issue's size: 1000000)")
    parser.add_argument("--seed", type=int, default=20260201, help="seed of the generated data")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side; the median is reported")
    parser.add_argument("--warmup", type=int, default=1, help="runs per side before the timed ones, thrown away")
    parser.add_argument(
        "--faults",
        nargs="+",
        default=[],
        choices=FAULTS,
        help="generator faults to put in the data (default: none, a clean dataset); schema_change is left out, "
        "the pandas side's profile code would need the renamed columns",
    )
    parser.add_argument(
        "--keep", type=Path, help="write the CSV and reference here and keep them (default: a temp dir)"
    )
    parser.add_argument("--side", choices=("ours", "pandas"), help=argparse.SUPPRESS)  # the child processes
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.side:
        side(args.side, args.csv, args.reference, args.repeats, args.warmup)
        return
    began = time.perf_counter()
    header(args)
    with tempfile.TemporaryDirectory(prefix="cd4ml-bench-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        generating = time.perf_counter()
        csv, reference, mib = prepare(args.rows, args.seed, args.faults, folder)
        print(
            f"data:     {args.rows:,} rows x {len(CONTRACT.columns)} columns, {mib:,.1f} MiB of CSV "
            f"(generated and written in {time.perf_counter() - generating:.1f} s)"
        )
        ours = run_side("ours", csv, reference, args)
        theirs = run_side("pandas", csv, reference, args)
    print_results(ours, theirs)
    differences = agree(ours, theirs)
    print(f"\nboth sides agree (profiles, verdict): {'yes' if not differences else 'NO: ' + '; '.join(differences)}")
    print(f"failures, (a): {ours['failures'] or 'none'}; (b): {theirs['failures'] or 'none'}")
    print(f"\ntotal bench time: {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
