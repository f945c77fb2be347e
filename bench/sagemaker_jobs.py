"""How long the local cloud takes to start a SageMaker job and to finish a job that does nothing.

Run from the repository root:

    .venv/bin/python bench/sagemaker_jobs.py              # 7 measured runs after 1 warm-up, about 10 s on 2 cores
    .venv/bin/python bench/sagemaker_jobs.py --runs 21

Each run creates a training job (script mode, a one-line script that prints "started", one 60-byte CSV channel)
and a processing job (`python3 -c ...`), through boto3 against the local cloud, and records, from the moment just
before the Create call (time.monotonic(), the clock the job runner stamps its steps with):
- create returned: the CreateTrainingJob round trip (the job is InProgress when it returns);
- InProgress seen: a DescribeTrainingJob right after the create call answered InProgress;
- first line: the script's first output line reached the job's log;
- Completed seen: DescribeTrainingJob, polled every 10 ms, answered Completed.
A bare `python noop.py` subprocess is measured too: the part of the first line that is Python starting up.
The numbers are in docs/sagemaker-jobs.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cd4ml.localcloud import LocalCloud  # noqa: E402

NOOP = ROOT / "tests" / "integration" / "fixtures" / "sagemaker_jobs" / "training" / "noop.py"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
BUCKET = "bench-jobs"


def header() -> None:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print("cd4ml local cloud: SageMaker job start overhead")
    print(f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"machine:  {platform.machine()} {platform.processor() or ''}".rstrip() + f", {cores} cores ({usable} usable)"
    )
    print(f"system:   {platform.platform()}")
    print(f"python:   {platform.python_implementation()} {platform.python_version()}")
    print(f"packages: {', '.join(f'{name} {version(name)}' for name in ('moto', 'boto3'))}")


def _tar_gz(path: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(path, arcname=path.name)
    return buffer.getvalue()


def _poll(describe: Any, status_key: str, wanted: str, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if describe()[status_key] == wanted:
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError(f"not {wanted} after {timeout}s")


def training_run(cloud: LocalCloud, name: str) -> dict[str, float]:
    sagemaker = cloud.client("sagemaker")
    started = time.monotonic()
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={
            "sagemaker_program": json.dumps(NOOP.name),
            "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/sourcedir.tar.gz"),
        },
        RoleArn=ROLE,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/train"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    created = time.monotonic()
    status = sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
    in_progress = time.monotonic()
    assert status == "InProgress", status
    completed = _poll(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus", "Completed")
    job = cloud.sagemaker_jobs.job(name)
    job.done.wait(10)
    timings = job.timings
    return {
        "create returned": created - started,
        "InProgress seen": in_progress - started,
        "process started": timings["process_started"] - started,
        "first line": timings["first_output"] - started,
        "process ended": timings["process_ended"] - started,
        "Completed seen": completed - started,
    }


def processing_run(cloud: LocalCloud, name: str) -> dict[str, float]:
    sagemaker = cloud.client("sagemaker")
    started = time.monotonic()
    sagemaker.create_processing_job(
        ProcessingJobName=name,
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}},
        AppSpecification={"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "-c", "print('started')"]},
        RoleArn=ROLE,
    )
    created = time.monotonic()
    completed = _poll(
        lambda: sagemaker.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus", "Completed"
    )
    job = cloud.sagemaker_jobs.job(name, kind="processing")
    job.done.wait(10)
    return {
        "create returned": created - started,
        "first line": job.timings["first_output"] - started,
        "Completed seen": completed - started,
    }


def bare_python() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, str(NOOP)], check=True, capture_output=True)
    return time.monotonic() - started


def table(title: str, runs: list[dict[str, float]]) -> None:
    print(f"\n{title} ({len(runs)} runs; milliseconds from just before the Create call)")
    print(f"  {'':<18}{'median':>9}{'min':>9}{'max':>9}")
    for key in runs[0]:
        values = [run[key] * 1000 for run in runs]
        print(f"  {key:<18}{statistics.median(values):>9.1f}{min(values):>9.1f}{max(values):>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs of each job kind (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="runs thrown away first (default 1)")
    args = parser.parse_args()
    header()
    print(f"settings: --runs {args.runs} --warmup {args.warmup}")
    with LocalCloud() as cloud:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=_tar_gz(NOOP))
        s3.put_object(Bucket=BUCKET, Key="data/train/data.csv", Body=b"tenure,charges,churned\n1,70.5,1\n24,30.0,0\n")
        training = [training_run(cloud, f"bench-train-{i}") for i in range(args.warmup + args.runs)][args.warmup :]
        processing = [processing_run(cloud, f"bench-process-{i}") for i in range(args.warmup + args.runs)][
            args.warmup :
        ]
    bare = [bare_python() for _ in range(args.warmup + args.runs)][args.warmup :]
    table("training job, no-op script", training)
    table("processing job, python3 -c", processing)
    print(f"\nbare `python noop.py` subprocess: median {statistics.median(bare) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
