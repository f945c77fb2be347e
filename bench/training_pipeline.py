"""End-to-end time of the training pipeline on the local cloud, and the share of it that is not model compute.

Run from the repository root:

    .venv/bin/python bench/training_pipeline.py                  # 100,000 orders, 1 measured run (~1 min on 2 cores)
    .venv/bin/python bench/training_pipeline.py --rows 20000 --runs 3

Baseline, in this process and without any cloud: the same dataset (CSV file) through the same code the pipeline
runs, called directly: `validate(read_table(...))`, then features.main, train.main (the template's default
hyperparameters) and evaluate.main on local folders. Their sum is the model compute of a run.
Then the real template is deployed on the local cloud (deploy time reported apart), the model code published, and
for each run a new object version is uploaded: end to end is from just before PutObject until the execution has
ended and its outcome is recorded. Each state's share comes from the execution history as the driver saw it, and
each SageMaker job's process time (interpreter start, imports, compute) from the local cloud's job records.
"Not model compute" = end to end minus the baseline's features + train + evaluate.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cd4ml_model import evaluate, features, train  # noqa: E402
from cd4ml_shared.contract import ORDERS  # noqa: E402
from cd4ml_shared.data_quality import read_table, validate  # noqa: E402

from cd4ml.data import generate_orders, write_dataset  # noqa: E402
from cd4ml.localcloud import LocalCloud  # noqa: E402
from cd4ml.pipeline_driver import PipelineDriver  # noqa: E402
from cd4ml.samconfig import stage_parameters  # noqa: E402


def header(args: argparse.Namespace) -> None:
    cores = os.cpu_count()
    print("cd4ml training pipeline: end to end on the local cloud vs. the model code called directly")
    print(f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"machine:  {platform.machine()}, {cores} cores; {platform.platform()}")
    print(f"python:   {platform.python_version()}")
    packages = ("moto", "boto3", "xgboost-cpu", "pyarrow", "numpy", "scikit-learn")
    print(f"packages: {', '.join(f'{name} {version(name)}' for name in packages)}")
    print(f"settings: rows={args.rows:,} days={args.days} runs={args.runs} seed={args.seed}")


def timed(work: object) -> float:
    started = time.perf_counter()
    result = work()  # type: ignore[operator]
    if result not in (None, 0):
        raise RuntimeError(f"{work} returned {result}")
    return time.perf_counter() - started


def baseline(csv: Path, scratch: Path, now: datetime) -> dict[str, float]:
    """The pipeline's compute, called directly on local files."""
    data, out, model = scratch / "data", scratch / "features", scratch / "model"
    data.mkdir(parents=True, exist_ok=True)
    (data / csv.name).write_bytes(csv.read_bytes())
    seconds = {"validation": timed(lambda: validate(read_table(csv), ORDERS, now=now) and None)}
    seconds["features"] = timed(lambda: features.main(["--input-dir", str(data), "--output-dir", str(out)]))
    os.environ.update(
        SM_CHANNEL_TRAIN=str(out / "train"),
        SM_CHANNEL_VALIDATION=str(out / "validation"),
        SM_MODEL_DIR=str(model),
        SM_NUM_GPUS="0",
        CD4ML_CHECKPOINT_DIR=str(scratch / "checkpoints"),
        CD4ML_FAILURE_FILE=str(scratch / "failure"),
    )
    seconds["train"] = timed(lambda: train.main([]))
    seconds["evaluate"] = timed(
        lambda: evaluate.main(
            ["--model-dir", str(model), "--test-dir", str(out / "test"), "--output-dir", str(scratch / "evaluation")]
        )
    )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    header(args)
    now = datetime.now(UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    table = generate_orders(args.rows, seed=args.seed, start=day - timedelta(days=args.days), days=args.days)
    with tempfile.TemporaryDirectory(prefix="cd4ml-bench-") as folder:
        scratch = Path(folder)
        csv = scratch / "orders.csv"
        write_dataset(table, csv)
        print(f"dataset:  {csv.stat().st_size:,} bytes of CSV")
        direct = [baseline(csv, scratch / f"baseline-{i}", now) for i in range(args.runs)]
        body = csv.read_bytes()

        with LocalCloud() as cloud:
            started = time.perf_counter()
            cloud.deploy(ROOT / "template.yaml", stage_parameters(ROOT / "samconfig.toml"))
            deploy_s = time.perf_counter() - started
            driver = PipelineDriver(cloud)
            driver.publish_code("dev")
            runs = []
            for i in range(args.runs):
                began = time.perf_counter()
                dataset = driver.upload(body, f"datasets/orders/{day:%Y-%m-%d}/orders-{i}.csv")
                result = driver.follow(dataset, timeout=1800)
                total = time.perf_counter() - began
                if result.run_status not in ("succeeded", "gated_out"):
                    raise RuntimeError(f"run {i} ended {result.run_status}: {result.outcome.get('reasons')}")
                jobs = {}
                for job in cloud.sagemaker_jobs.jobs():
                    if job.name.startswith(dataset_prefix(result)):
                        timings = job.timings
                        jobs[job.name.rsplit("-", 2)[1]] = timings["process_ended"] - timings["process_started"]
                runs.append({"total": total, "states": result.states, "jobs": jobs})

    print()
    print(f"deploy template.yaml: {deploy_s:.2f} s (once, not in the runs)")
    print()
    print("baseline (model code called directly, same process), median seconds:")
    compute = 0.0
    for part in ("validation", "features", "train", "evaluate"):
        value = statistics.median(d[part] for d in direct)
        compute += value if part != "validation" else 0.0
        print(f"  {part:<11} {value:8.2f}")
    validation = statistics.median(d["validation"] for d in direct)
    print(f"  {'model compute (features + train + evaluate)':<44} {compute:8.2f}")
    print()
    total = statistics.median(r["total"] for r in runs)
    print("local cloud, upload to recorded outcome, median seconds:")
    print(f"  end to end  {total:8.2f}")
    durations = state_durations(runs)
    for name, seconds in durations.items():
        print(f"    {name:<18} {seconds:8.2f}")
    for kind in ("features", "train", "evaluate"):
        values = [r["jobs"].get(kind) for r in runs if r["jobs"].get(kind) is not None]
        if values:
            print(f"  {kind} job process (start, imports, compute): {statistics.median(values):.2f}")
    print()
    print(f"not model compute: {total - compute:.2f} s = {(total - compute) / total:.0%} of end to end")
    print(f"  of which data validation compute: {validation:.2f} s")
    return 0


def dataset_prefix(result: object) -> str:
    training = getattr(result, "output", {}).get("training") or {}
    name = str(training.get("job_name", ""))
    return name.rsplit("-", 2)[0] if name else "\0"


def state_durations(runs: list[dict]) -> dict[str, float]:
    """Median seconds from entering each state to entering the next one."""
    spans: dict[str, list[float]] = {}
    for run in runs:
        states = [*run["states"], ("end", run["total"])]
        for (name, at), (_, next_at) in itertools.pairwise(states):
            spans.setdefault(name, []).append(next_at - at)
    return {name: statistics.median(values) for name, values in spans.items()}


if __name__ == "__main__":
    sys.exit(main())
