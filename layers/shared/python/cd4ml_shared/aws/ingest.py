"""The validation step's S3 side: read the uploaded version and the dataset's reference profile, write the report
beside the data and under the run, then snapshot the data for the run (and keep its profile under the run as the
candidate reference, which the run's outcome promotes: `aws.reference`) or quarantine it with a reason. What is
written is decided by `ingest.assess`.

Takes an S3 client and a clock, so tests hand in moto's and a fixed time.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..drift import Profile
from ..ingest import ValidationOutcome, assess, copy_source, dataset_missing, has_contract
from ..layout import RunLayout, reference_profile_key
from ..run_input import DatasetRef
from .client_errors import error_code
from .reference import write_candidate


def validate_upload(
    s3: Any,
    dataset: DatasetRef,
    *,
    artifacts_bucket: str,
    run_id: str,
    now: datetime,
    max_age_days: float | None = None,
    scoring: bool = False,
) -> ValidationOutcome:
    """`scoring`: a batch-scoring run's orders, label optional (`ingest.assess`); they are not compared with the
    reference (monitoring measures drift) and never become its candidate: only a registered run moves it."""
    body = read_version(s3, dataset)
    layout = RunLayout(artifacts_bucket, run_id)
    compared = has_contract(dataset) and not scoring
    reference = read_reference(s3, artifacts_bucket, dataset.dataset) if compared else None
    assessment = assess(
        body, dataset, reference=reference, run_id=run_id, now=now, max_age_days=max_age_days, scoring=scoring
    )
    text = assessment.report_json()
    s3.put_object(Bucket=dataset.bucket, Key=dataset.report_key, Body=text, ContentType="application/json")
    s3.put_object(Bucket=artifacts_bucket, Key=layout.quality_key, Body=text, ContentType="application/json")
    report_uri = f"s3://{dataset.bucket}/{dataset.report_key}"

    if assessment.report is not None and assessment.report.passed:
        snapshot_key = layout.dataset_key(dataset.filename)
        s3.copy_object(
            Bucket=artifacts_bucket, Key=snapshot_key, CopySource=copy_source(dataset), MetadataDirective="COPY"
        )
        # Accepted: its profile becomes the baseline only if the run registers a model (record_outcome promotes it).
        if not scoring:
            write_candidate(s3, artifacts_bucket, run_id, assessment.report.profile)
        return assessment.outcome(
            layout, report_uri, dataset_uri=f"s3://{artifacts_bucket}/{snapshot_key}", quarantine_uri=None
        )
    s3.copy_object(
        Bucket=dataset.bucket,
        Key=dataset.quarantine_key,
        CopySource=copy_source(dataset),
        MetadataDirective="REPLACE",
        Metadata=assessment.quarantine_metadata(run_id),
    )
    s3.put_object(
        Bucket=dataset.bucket,
        Key=dataset.quarantine_reason_key,
        Body=json.dumps(assessment.quarantine_reason(report_uri, now), sort_keys=True, indent=2).encode("utf-8"),
        ContentType="application/json",
    )
    return assessment.outcome(
        layout, report_uri, dataset_uri=None, quarantine_uri=f"s3://{dataset.bucket}/{dataset.quarantine_key}"
    )


def read_version(s3: Any, dataset: DatasetRef) -> bytes:
    """The bytes of exactly the uploaded version; `DatasetMissing` when it is gone."""
    request = {"Bucket": dataset.bucket, "Key": dataset.key}
    if dataset.version_id:
        request["VersionId"] = dataset.version_id
    try:
        body: bytes = s3.get_object(**request)["Body"].read()
    except ClientError as error:
        missing = dataset_missing(error_code(error), dataset)
        if missing is None:
            raise
        raise missing from None
    return body


def read_reference(s3: Any, bucket: str, name: str) -> Profile | None:
    """The last accepted dataset's profile; None for the first dataset of this name (nothing to compare with)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=reference_profile_key(name))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return Profile.from_json(body)
