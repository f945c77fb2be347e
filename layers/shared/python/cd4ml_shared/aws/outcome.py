"""The end of a run, on AWS: the inputs of its report (quality report, evaluation, curve images) read from S3, and
the SageMaker jobs a failed run left running stopped (only its own, once its execution is confirmed)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from ..jobs import NotThisRun, is_run_job_name, job_prefix_of_running_execution
from ..layout import RunLayout
from ..s3_uri import parse_s3_uri
from .client_errors import error_code

# The SageMaker job types each kind of run starts (and a failure of it stops): a training run's training and
# processing jobs; a batch-scoring run's feature (processing) job and batch transform.
TRAINING_RUN_JOB_TYPES = ("training", "processing")
SCORING_RUN_JOB_TYPES = ("processing", "transform")


def report_inputs(s3: Any, record: Mapping[str, Any], bucket: str) -> tuple[Any, Any, dict[str, bytes]]:
    """The quality report, the evaluation and its curve images of a run, as far as the run got."""
    layout = RunLayout(bucket, record["run_id"])

    def read(bucket_name: str, key: str) -> bytes | None:
        try:
            body: bytes = s3.get_object(Bucket=bucket_name, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return body

    quality_bytes = read(bucket, layout.quality_key)
    evaluation = None
    images: dict[str, bytes] = {}
    if record.get("evaluation_uri"):
        eval_bucket, eval_key = parse_s3_uri(record["evaluation_uri"])
        raw = read(eval_bucket, eval_key)
        evaluation = json.loads(raw) if raw else None
        folder = eval_key.rsplit("/", 1)[0]
        for name in ("roc.png", "pr.png"):
            image = read(eval_bucket, f"{folder}/{name}")
            if image:
                images[name] = image
    quality = json.loads(quality_bytes) if quality_bytes else None
    return quality, evaluation, images


def stop_failed_run_jobs(
    sagemaker: Any,
    sfn: Any,
    *,
    execution_arn: str,
    run_id: str,
    claimed_prefix: str | None,
    stack_prefix: str,
    state_machine_arn: str,
    job_types: Sequence[str] = TRAINING_RUN_JOB_TYPES,
) -> list[str]:
    """Stop the jobs of a failed run, once its execution is confirmed: a running execution of this stack's state
    machine whose input names this run (a made-up payload must not stop anyone's jobs). `NotThisRun` otherwise."""
    executions = state_machine_arn.replace(":stateMachine:", ":execution:") + ":"
    if not execution_arn.startswith(executions):
        raise NotThisRun(f"{execution_arn!r} is not an execution of {state_machine_arn}")
    try:
        execution = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as error:
        if error_code(error) in ("ExecutionDoesNotExist", "InvalidArn"):
            raise NotThisRun(f"no execution {execution_arn}: {error_code(error)}") from None
        raise
    prefix = job_prefix_of_running_execution(
        execution, run_id=run_id, claimed_prefix=claimed_prefix, stack_prefix=stack_prefix
    )
    return stop_run_jobs(sagemaker, prefix, job_types)


def stop_run_jobs(sagemaker: Any, job_prefix: str, job_types: Sequence[str] = TRAINING_RUN_JOB_TYPES) -> list[str]:
    """Stop the SageMaker jobs of `job_types` a failed run leaves running (a waiting task that timed out does not
    stop its job, and a GPU instance left training costs money for nothing): exactly the run's names
    (`jobs.is_run_job_name`), not every job whose name contains the prefix. A job that ended between the listing and
    its stop is skipped. Returns the names of the jobs asked to stop."""
    stopped: list[str] = []
    for kind in job_types:
        lister = getattr(sagemaker, f"list_{kind}_jobs")
        stopper = getattr(sagemaker, f"stop_{kind}_job")
        request: dict[str, Any] = {"NameContains": job_prefix, "StatusEquals": "InProgress", "MaxResults": 100}
        while True:
            page = lister(**request)
            for summary in page[f"{kind.capitalize()}JobSummaries"]:
                name = summary[f"{kind.capitalize()}JobName"]
                if not is_run_job_name(job_prefix, name):
                    continue
                try:
                    stopper(**{f"{kind.capitalize()}JobName": name})
                except ClientError as error:
                    # it ended between the listing and the stop: nothing left to do
                    if error_code(error) != "ValidationException":
                        raise
                    continue
                stopped.append(name)
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    return stopped
