"""The validation step of a run, as plain values: what an uploaded version's bytes are worth against its contract and
the last accepted dataset (the quality document, the quarantine reason, a one-line summary), and the documents and
names the step writes. Reading the version and writing the report, snapshot or quarantine copy is `aws.ingest`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .contract import CONTRACTS, scoring_contract
from .data_quality import DataQualityError, QualityReport, read_table, validate
from .drift import Profile
from .errors import DatasetMissing
from .layout import DATA_SUFFIXES, RunLayout, data_format
from .run_input import DatasetRef

# S3 user metadata is limited to 2 KiB in all; the full reason is in the .reason.json beside the copy.
_METADATA_REASON_CHARS = 1024
# What S3 answers for a version (or object, or bucket) that is no longer there.
MISSING_VERSION_CODES = frozenset({"NoSuchVersion", "404", "NoSuchKey", "NoSuchBucket"})


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


@dataclass(frozen=True)
class Assessment:
    """What the checks found in one upload, before anything is written."""

    document: dict[str, Any]  # the quality report, with its source
    reason: str
    summary: str
    rows: int
    sha256: str
    report: QualityReport | None  # None when the dataset has no contract or is not a readable table

    @property
    def passed(self) -> bool:
        return self.report is not None and self.report.passed

    def report_json(self) -> bytes:
        return json.dumps(self.document, sort_keys=True, indent=2, allow_nan=False).encode("utf-8")

    def quarantine_metadata(self, run_id: str) -> dict[str, str]:
        """S3 user metadata of the quarantined copy."""
        return {"quarantine-reason": self.reason[:_METADATA_REASON_CHARS], "run-id": run_id}

    def quarantine_reason(self, report_uri: str, now: datetime) -> dict[str, Any]:
        """The .reason.json beside a quarantined copy."""
        return {
            "reason": self.reason,
            "summary": self.summary,
            "source": self.document["source"],
            "report_uri": report_uri,
            "failures": self.document.get("failures", []),
            "quarantined_at": now.isoformat(),
        }

    def outcome(
        self, layout: RunLayout, report_uri: str, *, dataset_uri: str | None, quarantine_uri: str | None
    ) -> ValidationOutcome:
        return ValidationOutcome(
            passed=self.passed,
            reason=self.reason,
            summary=self.summary,
            rows=self.rows,
            sha256=self.sha256,
            report_uri=report_uri,
            run_report_uri=layout.uri("quality.json"),
            dataset_uri=dataset_uri,
            quarantine_uri=quarantine_uri,
        )


def has_contract(dataset: DatasetRef) -> bool:
    """Only a dataset with a contract is compared with a reference (and so needs it read)."""
    return dataset.dataset in CONTRACTS


def assess(
    body: bytes,
    dataset: DatasetRef,
    *,
    reference: Profile | None,
    run_id: str,
    now: datetime,
    max_age_days: float | None = None,
    scoring: bool = False,
) -> Assessment:
    """The verdict on one upload. Never raises for what the bytes hold: a name of no dataset format, bytes that are
    no table and every data problem are a reason (`dataset.unsupported_format`, `dataset.unreadable`, finding codes).
    `max_age_days` is the stage's freshness limit (the contract's when None). `scoring`: orders to score, checked
    against `scoring_contract` (label optional, no label checks, any row count)."""
    sha256 = hashlib.sha256(body).hexdigest()
    contract = CONTRACTS.get(dataset.dataset)
    how = data_format(dataset.key)
    report: QualityReport | None = None
    rows = 0
    if how is None:
        reason = "dataset.unsupported_format"
        summary = f"{dataset.uri} is not a dataset file: the name must end with {', '.join(DATA_SUFFIXES)} (any case)"
    elif contract is None:
        reason = "dataset.unknown"
        summary = f"no contract for dataset {dataset.dataset!r} (known: {', '.join(sorted(CONTRACTS))})"
    else:
        if scoring:
            contract = scoring_contract(contract)
        if max_age_days is not None:
            contract = replace(contract, max_age_days=max_age_days)
        fmt, compression = how
        try:
            table = read_table(body, fmt, contract=contract, source=dataset.uri, compression=compression)
        except DataQualityError as error:
            reason = "dataset.unreadable"
            summary = str(error)
        else:
            report = validate(table, contract, reference=reference, now=now)
            reason = report.quarantine_reason()
            rows = table.num_rows
            summary = (
                f"{rows} rows passed {contract.name} checks ({len(report.warnings)} warnings)"
                if report.passed
                else "; ".join(f.message for f in report.failures[:5])
            )
    if report is not None:
        document = report.to_dict()
    else:
        document = {"dataset": dataset.dataset, "passed": False, "quarantine_reason": reason}
        document["failures"] = [{"code": reason, "severity": "fail", "message": summary}]
    document["source"] = {"uri": dataset.uri, "version_id": dataset.version_id, "sha256": sha256, "run_id": run_id}
    return Assessment(document=document, reason=reason, summary=summary, rows=rows, sha256=sha256, report=report)


def copy_source(dataset: DatasetRef) -> dict[str, str]:
    """The CopySource of exactly the uploaded version."""
    source = {"Bucket": dataset.bucket, "Key": dataset.key}
    if dataset.version_id:
        source["VersionId"] = dataset.version_id
    return source


def dataset_missing(code: str, dataset: DatasetRef) -> DatasetMissing | None:
    """What a failed read of the uploaded version means: `DatasetMissing` when it is gone; None for any other error
    (it is raised as it is)."""
    if code not in MISSING_VERSION_CODES:
        return None
    return DatasetMissing(f"{dataset.uri} (version {dataset.version_id}) no longer exists")
