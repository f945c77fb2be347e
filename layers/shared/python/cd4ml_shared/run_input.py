"""The training pipeline's execution input and the names of a run.

The state machine's data is documented here, once: the starter Lambda builds `RunInput`, every task reads the parts
it needs from it and adds its result under its own key (`validation`, `features`, `training`, `evaluation`, `gate`,
`registration`, `outcome`, or `error` from a Catch). Only S3 URIs travel through the execution, never data.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .layout import DATASET_PREFIX, QUARANTINE_PREFIX, REPORT_SUFFIX, SCORING_PREFIX


class DatasetRef(BaseModel):
    """One uploaded object, pinned to its version."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None

    @classmethod
    def from_s3_event(cls, detail: dict[str, Any]) -> DatasetRef:
        """The object of an S3 `Object Created` event's detail (EventBridge's shape)."""
        return cls(
            bucket=detail["bucket"]["name"],
            key=detail["object"]["key"],
            version_id=detail["object"].get("version-id"),
            etag=detail["object"].get("etag"),
            size=detail["object"].get("size"),
        )

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def dataset(self) -> str:
        """`datasets/<dataset>/<date>/<file>` (or `scoring/...`, orders to score) names the dataset (and so its
        contract); a flatter key uses its stem."""
        parts = self.key.split("/")
        if len(parts) >= 3 and parts[0] + "/" in (DATASET_PREFIX, SCORING_PREFIX):
            return parts[1]
        return PurePosixPath(self.key).stem

    @property
    def filename(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def report_key(self) -> str:
        """The data-quality report beside the data, named from the whole file name (`orders.csv` ->
        `orders.csv.quality.json`) so that `orders.csv` and `orders.parquet` in one folder keep their own reports.
        Its suffix is what the upload rule and the starter skip (no run validates a report); the jobs read the run's
        snapshot, never the upload's prefix, so the report sharing the data key's prefix reaches no job."""
        return self.key + REPORT_SUFFIX

    @property
    def quarantine_key(self) -> str:
        return QUARANTINE_PREFIX + self.key

    @property
    def quarantine_reason_key(self) -> str:
        """Beside the quarantined copy, from its whole name (as the report's)."""
        return self.quarantine_key + ".reason.json"


class Timeouts(BaseModel):
    """Seconds a waiting task may wait for its job's state-change event before the state machine gives up."""

    processing: int = Field(gt=0)
    training: int = Field(gt=0)


class RunInput(BaseModel):
    """The training pipeline's execution input, built by the starter Lambda."""

    run_id: str
    job_prefix: str
    dataset: DatasetRef
    artifacts_bucket: str
    timeouts: Timeouts
    trigger: dict[str, Any] = Field(default_factory=dict)
    # "scoring": the batch-scoring run validates with the label optional and leaves the reference alone
    purpose: Literal["training", "scoring"] = "training"


_NAME_UNSAFE = re.compile(r"[^0-9A-Za-z_-]+")


def object_digest(dataset: DatasetRef) -> str:
    """A short, stable digest of one object version: bucket, key and version id (or ETag when unversioned)."""
    identity = f"{dataset.bucket}/{dataset.key}@{dataset.version_id or dataset.etag or ''}"
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def execution_name(dataset: DatasetRef) -> str:
    """The execution name for an upload: readable (`orders-2026-11-25-<digest>`) and the same for every duplicate of
    the event, so Step Functions itself refuses a second run (ExecutionAlreadyExists). At most 80 characters."""
    parts = dataset.key.split("/")
    readable = "-".join(parts[1:-1]) if len(parts) >= 3 else dataset.dataset
    readable = _NAME_UNSAFE.sub("-", readable).strip("-")[:56] or "dataset"
    return f"{readable}-{object_digest(dataset)}"


def job_prefix(dataset: DatasetRef, stack_prefix: str) -> str:
    """The names of one run's jobs start `<stack prefix>-<digest>-`: scoped to the stack (its job-state rules match
    only its own jobs, so two stacks in one account never resume or stop each other's) and to the object version."""
    return f"{stack_prefix}-{object_digest(dataset)}"
