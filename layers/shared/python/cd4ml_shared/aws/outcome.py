"""The end of a run, on AWS: the inputs of its report (quality report, evaluation, curve images) read from S3, and
the SageMaker jobs a failed run left running stopped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..layout import RunLayout
from ..s3_uri import parse_s3_uri
from .client_errors import error_code


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


def stop_run_jobs(sagemaker: Any, job_prefix: str) -> list[str]:
    """Stop the SageMaker jobs a failed run leaves running (a waiting task that timed out does not stop its job, and
    a GPU instance left training costs money for nothing). Returns the names of the jobs asked to stop."""
    stopped: list[str] = []
    for kind in ("training", "processing"):
        lister = getattr(sagemaker, f"list_{kind}_jobs")
        stopper = getattr(sagemaker, f"stop_{kind}_job")
        summaries = lister(NameContains=job_prefix, StatusEquals="InProgress", MaxResults=100)
        for summary in summaries[f"{kind.capitalize()}JobSummaries"]:
            name = summary[f"{kind.capitalize()}JobName"]
            if not name.startswith(job_prefix + "-"):
                continue
            try:
                stopper(**{f"{kind.capitalize()}JobName": name})
            except ClientError as error:
                # it ended between the listing and the stop: nothing left to do
                if error_code(error) != "ValidationException":
                    raise
                continue
            stopped.append(name)
    return stopped
