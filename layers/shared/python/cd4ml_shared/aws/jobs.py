"""Creating a run's SageMaker jobs: the published model code is checked first, and a refused Create*Job call becomes
the error the state machine retries or catches (the mapping itself is `jobs.job_error`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..jobs import JobSettings, JobType, job_error, model_code_missing
from .client_errors import error_code, error_message


def require_code_published(s3: Any, settings: JobSettings) -> None:
    """Raises `ModelCodeMissing` when the settings' code version has no sourcedir.tar.gz in the artifacts bucket."""
    try:
        s3.head_object(Bucket=settings.artifacts_bucket, Key=settings.sourcedir_key)
    except ClientError as error:
        missing = model_code_missing(error_code(error), settings)
        if missing is None:
            raise
        raise missing from None


def create_job(sagemaker: Any, kind: JobType, request: Mapping[str, Any]) -> str:
    """Create the job; returns its ARN."""
    try:
        if kind == "training":
            return str(sagemaker.create_training_job(**request)["TrainingJobArn"])
        return str(sagemaker.create_processing_job(**request)["ProcessingJobArn"])
    except ClientError as error:
        named = job_error(error_code(error), error_message(error), kind, request)
        if named is None:
            raise
        raise named from None
