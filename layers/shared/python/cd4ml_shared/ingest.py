"""The validation step of a run: read the uploaded version, check it against its contract and the last accepted
dataset, write the report beside the data, and either snapshot the data for the run or quarantine it with a reason.

Takes an S3 client and a clock, so tests hand in moto's and a fixed time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .contract import CONTRACTS
from .data_quality import DataQualityError, QualityReport, read_table, validate
from .drift import Profile
from .pipeline import DatasetMissing, RunLayout, reference_profile_key
from .run_input import DatasetRef

# S3 user metadata is limited to 2 KiB in all; the full reason is in the .reason.json beside the copy.
_METADATA_REASON_CHARS = 1024


@dataclass(frozen=True)
class ValidationOutcome:
    passed: bool
    reason: str  # machine-readable: the failing finding codes, comma-separated ('' when passed)
    summary: str  # one line for people
    rows: int
    sha256: str
    report_uri: str  # beside the data
    run_report_uri: str  # the run's copy
    dataset_uri: str | None  # the run's snapshot of the accepted data
    quarantine_uri: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def validate_upload(
    s3: Any, dataset: DatasetRef, *, artifacts_bucket: str, run_id: str, now: datetime
) -> ValidationOutcome:
    body = _read_version(s3, dataset)
    sha256 = hashlib.sha256(body).hexdigest()
    contract = CONTRACTS.get(dataset.dataset)
    layout = RunLayout(artifacts_bucket, run_id)
    reference = _reference(s3, artifacts_bucket, dataset.dataset) if contract is not None else None
    report: QualityReport | None = None
    if contract is None:
        reason = "dataset.unknown"
        summary = f"no contract for dataset {dataset.dataset!r} (known: {', '.join(sorted(CONTRACTS))})"
        document: dict[str, Any] = {"dataset": dataset.dataset, "passed": False, "quarantine_reason": reason}
        document["failures"] = [{"code": reason, "severity": "fail", "message": summary}]
        rows = 0
    else:
        fmt: Literal["csv", "parquet"] = "parquet" if dataset.key.lower().endswith(".parquet") else "csv"
        try:
            table = read_table(body, fmt, contract=contract)
        except DataQualityError as error:
            reason = "dataset.unreadable"
            summary = str(error)
            document = {"dataset": dataset.dataset, "passed": False, "quarantine_reason": reason}
            document["failures"] = [{"code": reason, "severity": "fail", "message": summary}]
            rows = 0
        else:
            report = validate(table, contract, reference=reference, now=now)
            document = report.to_dict()
            reason = report.quarantine_reason()
            rows = table.num_rows
            summary = (
                f"{rows} rows passed {contract.name} checks ({len(report.warnings)} warnings)"
                if report.passed
                else "; ".join(f.message for f in report.failures[:5])
            )
    document["source"] = {"uri": dataset.uri, "version_id": dataset.version_id, "sha256": sha256, "run_id": run_id}
    text = json.dumps(document, sort_keys=True, indent=2, allow_nan=False).encode("utf-8")
    s3.put_object(Bucket=dataset.bucket, Key=dataset.report_key, Body=text, ContentType="application/json")
    s3.put_object(Bucket=artifacts_bucket, Key=layout.quality_key, Body=text, ContentType="application/json")
    report_uri = f"s3://{dataset.bucket}/{dataset.report_key}"

    def outcome(passed: bool, dataset_uri: str | None, quarantine_uri: str | None) -> ValidationOutcome:
        return ValidationOutcome(
            passed=passed,
            reason=reason,
            summary=summary,
            rows=rows,
            sha256=sha256,
            report_uri=report_uri,
            run_report_uri=layout.uri("quality.json"),
            dataset_uri=dataset_uri,
            quarantine_uri=quarantine_uri,
        )

    if report is not None and report.passed:
        snapshot_key = layout.dataset_key(dataset.filename)
        s3.copy_object(
            Bucket=artifacts_bucket, Key=snapshot_key, CopySource=_copy_source(dataset), MetadataDirective="COPY"
        )
        # Accepted: this dataset is the baseline the next one is compared with.
        s3.put_object(
            Bucket=artifacts_bucket,
            Key=reference_profile_key(dataset.dataset),
            Body=report.profile.to_json().encode("utf-8"),
            ContentType="application/json",
        )
        return outcome(True, f"s3://{artifacts_bucket}/{snapshot_key}", None)
    s3.copy_object(
        Bucket=dataset.bucket,
        Key=dataset.quarantine_key,
        CopySource=_copy_source(dataset),
        MetadataDirective="REPLACE",
        Metadata={"quarantine-reason": reason[:_METADATA_REASON_CHARS], "run-id": run_id},
    )
    reason_document = {
        "reason": reason,
        "summary": summary,
        "source": document["source"],
        "report_uri": report_uri,
        "failures": document.get("failures", []),
        "quarantined_at": now.isoformat(),
    }
    s3.put_object(
        Bucket=dataset.bucket,
        Key=dataset.quarantine_reason_key,
        Body=json.dumps(reason_document, sort_keys=True, indent=2).encode("utf-8"),
        ContentType="application/json",
    )
    return outcome(False, None, f"s3://{dataset.bucket}/{dataset.quarantine_key}")


def _read_version(s3: Any, dataset: DatasetRef) -> bytes:
    request = {"Bucket": dataset.bucket, "Key": dataset.key}
    if dataset.version_id:
        request["VersionId"] = dataset.version_id
    try:
        body: bytes = s3.get_object(**request)["Body"].read()
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchVersion", "404", "NoSuchKey", "NoSuchBucket"):
            raise DatasetMissing(f"{dataset.uri} (version {dataset.version_id}) no longer exists") from None
        raise
    return body


def _reference(s3: Any, bucket: str, name: str) -> Profile | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=reference_profile_key(name))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None  # the first dataset of this name: nothing to compare with
    return Profile.from_json(body)


def _copy_source(dataset: DatasetRef) -> dict[str, str]:
    source = {"Bucket": dataset.bucket, "Key": dataset.key}
    if dataset.version_id:
        source["VersionId"] = dataset.version_id
    return source
