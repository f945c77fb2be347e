"""Batch scoring rows/s on the local cloud beside the model's own `predict` on the same rows.

Run from the repository root:

    .venv/bin/python bench/batch_scoring.py                      # 100,000 orders to score (~2 min on 2 cores)
    .venv/bin/python bench/batch_scoring.py --rows 1000000

The real template is deployed on the local cloud, the model code published, one model trained by the training
pipeline (small, fixed size: `--train-rows`) and deployed by the deployment workflow. Then a file of `--rows`
orders without labels is uploaded under scoring/: end to end is from just before PutObject until the scoring run
has ended (validation, feature job, batch transform, join and write, record). The transform job alone is its
TransformStartTime..TransformEndTime. Baselines in this process on the same orders: the registered model's
`inplace_predict` on the feature matrix (the model alone), and the feature code plus predict.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from cd4ml_model.artifacts import load_model_dir  # noqa: E402
from cd4ml_model.features import feature_columns  # noqa: E402
from cd4ml_shared.contract import ORDERS  # noqa: E402
from cd4ml_shared.s3_uri import parse_s3_uri  # noqa: E402
from cd4ml_shared.scoring import scoring_run_id  # noqa: E402

from cd4ml.data import generate_orders  # noqa: E402
from cd4ml.localcloud import LocalCloud  # noqa: E402
from cd4ml.pipeline_driver import PipelineDriver  # noqa: E402

PARAMETERS = {
    "Stage": "dev",
    "ModelApprovalStatus": "Approved",
    "TrainingInstanceType": "ml.m5.xlarge",
    "TrainingHyperparameters": json.dumps({"num_round": 100, "max_depth": 6, "early_stopping_rounds": 0}),
    "GateMinPrAuc": "0.05",
    "GateMinRocAuc": "0.7",
    "GateMaxBrierScore": "0.2",
    "BakingPeriodSeconds": "1",
    "TerminationWaitSeconds": "0",
    "DeploymentTimeoutSeconds": "600",
}


def ended(cloud: LocalCloud, arn: str, timeout: float) -> dict[str, Any]:
    """The execution once it ended (waited for while the event that starts it is on its way)."""
    return cloud.wait_for_execution(arn, timeout, started_by_event=True)


def execution_arn(cloud: LocalCloud, machine: str, name: str) -> str:
    return cloud.execution_arn(machine, name)


def state_seconds(cloud: LocalCloud, arn: str) -> list[tuple[str, float]]:
    """Each state's time from its Entered to its Exited event, in the order they ran."""
    sfn = cloud.client("stepfunctions")
    events = [
        e for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn) for e in page["events"]
    ]
    entered: dict[str, datetime] = {}
    spans: list[tuple[str, float]] = []
    for event in events:
        for kind, key in (("Entered", "stateEnteredEventDetails"), ("Exited", "stateExitedEventDetails")):
            if key in event:
                name = event[key]["name"]
                if kind == "Entered":
                    entered[name] = event["timestamp"]
                elif name in entered:
                    spans.append((name, (event["timestamp"] - entered.pop(name)).total_seconds()))
    return spans


def load_average() -> str:
    """The machine's load averages: on a shared machine, numbers taken under load are not comparable."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def train_and_deploy(cloud: LocalCloud, driver: PipelineDriver, rows: int, now: datetime) -> str:
    """Publish the model code, train one model on `rows` generated orders of the two weeks before `now` and follow
    its deployment to the end; the version's ARN (SystemExit naming the cause when either fails)."""
    driver.publish_code("dev")
    start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=14)
    run = driver.run(generate_orders(rows, seed=1, start=start, days=14), "datasets/orders/b/o.csv")
    if run.status != "SUCCEEDED":
        raise SystemExit(f"training run {run.status}: {run.cause}")
    package_arn = str(run.outcome["model_package_arn"])
    deployment = execution_arn(cloud, "DeploymentStateMachine", f"deploy-v{package_arn.rsplit('/', 1)[-1]}")
    if (deployed := ended(cloud, deployment, 600))["status"] != "SUCCEEDED":
        raise SystemExit(f"deployment {deployed['status']}: {deployed.get('cause')}")
    return package_arn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="orders to score")
    parser.add_argument("--train-rows", type=int, default=8_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the in-process baselines (best kept)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    print("cd4ml batch scoring: the scoring run on the local cloud vs. the model's own predict")
    print(f"date:     {now:%Y-%m-%d %H:%M:%S} UTC; machine: {platform.machine()}, {os.cpu_count()} cores")
    print(f"settings: rows={args.rows:,} train_rows={args.train_rows:,} seed={args.seed}")
    print(f"load:     {load_average()} at the start (1, 5, 15 min; the machine may be shared)")

    with LocalCloud.deployed(ROOT / "template.yaml", PARAMETERS) as cloud:
        driver = PipelineDriver(cloud)
        package_arn = train_and_deploy(cloud, driver, args.train_rows, now)

        scoring_start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=2)
        orders = generate_orders(args.rows, seed=args.seed, start=scoring_start, days=2)
        orders = orders.drop_columns([ORDERS.label.name])
        began = time.perf_counter()
        dataset = driver.upload(orders, f"scoring/orders/{now:%Y-%m-%d}/bench.csv")
        scored = ended(cloud, execution_arn(cloud, "BatchInferenceStateMachine", scoring_run_id(dataset)), 1800)
        end_to_end = time.perf_counter() - began
        if scored["status"] != "SUCCEEDED":
            raise SystemExit(f"scoring run {scored['status']}: {scored.get('cause')}")
        output = json.loads(scored["output"])
        states = state_seconds(cloud, scored["executionArn"])
        transform = cloud.client("sagemaker").describe_transform_job(TransformJobName=output["transform"]["job_name"])
        transform_s = (transform["TransformEndTime"] - transform["TransformStartTime"]).total_seconds()

        package = cloud.client("sagemaker").describe_model_package(ModelPackageName=package_arn)
        bucket, key = parse_s3_uri(package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])
        body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()

    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(fileobj=io.BytesIO(body)) as archive:
            archive.extractall(folder, filter="data")
        model = load_model_dir(folder)
    model.booster.set_param({"device": "cpu"})
    predict_s, features_s = float("inf"), float("inf")
    for _ in range(args.repeats):
        started = time.perf_counter()
        x = np.column_stack(list(feature_columns(orders).values())).astype(np.float32)
        built = time.perf_counter()
        model.booster.inplace_predict(x)
        done = time.perf_counter()
        features_s, predict_s = min(features_s, built - started), min(predict_s, done - built)

    rows = args.rows
    print()
    print("| what | seconds | rows/s |")
    print("| --- | ---: | ---: |")
    label = "scoring run end to end (upload → scores written, local cloud)"
    print(f"| {label} | {end_to_end:.2f} | {rows / end_to_end:,.0f} |")
    print(f"| of which the batch transform job | {transform_s:.2f} | {rows / transform_s:,.0f} |")
    print(f"| the model's own predict (inplace_predict, this process) | {predict_s:.3f} | {rows / predict_s:,.0f} |")
    both = features_s + predict_s
    print(f"| feature code + predict (this process) | {both:.3f} | {rows / both:,.0f} |")
    print("\nthe scoring run's states (entered → exited, execution history):")
    for name, seconds in states:
        print(f"  {name:<16} {seconds:6.2f} s")
    print(f"end to end / model predict: {(rows / end_to_end) / (rows / predict_s):.3f} of the model's rows/s")
    print(f"load:     {load_average()} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
