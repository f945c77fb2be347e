"""The training pipeline's plain vocabulary: where a run keeps its files, which keys are datasets, and the errors
its Catch clauses match. The execution's input and the run's names are in `run_input` (pydantic models, imported
only by the functions that parse them, so the others do not pay pydantic's import at cold start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DATASET_PREFIX = "datasets/"
QUARANTINE_PREFIX = "quarantine/"
DATA_SUFFIXES = (".csv", ".parquet")
RunStatus = Literal["succeeded", "gated_out", "quarantined", "failed"]
JobKind = Literal["features", "train", "evaluate"]


class PipelineError(Exception):
    """Base of the errors a pipeline Lambda raises on purpose; the class name is the `Error` a Catch matches."""


class NotADataset(PipelineError):
    """The object is not a dataset upload (wrong prefix or suffix); nothing is started."""


class DatasetMissing(PipelineError):
    """The uploaded object (that version) is gone by the time the run reads it."""


class ModelCodeMissing(PipelineError):
    """The model code the jobs run has not been published to the artifacts bucket."""


class JobThrottled(PipelineError):
    """SageMaker throttled a Create*Job call; the state machine retries it with backoff."""


class JobQuotaExceeded(PipelineError):
    """The account's quota for the instance type is exhausted (new accounts start at zero GPUs)."""


class JobRequestRejected(PipelineError):
    """SageMaker rejected a Create*Job request as invalid."""


class EvaluationMissing(PipelineError):
    """The evaluation job finished without a readable evaluation.json."""


def is_dataset_key(key: str) -> bool:
    return key.startswith(DATASET_PREFIX) and key.lower().endswith(DATA_SUFFIXES)


@dataclass(frozen=True)
class RunLayout:
    """Where one run keeps its files in the artifacts bucket."""

    bucket: str
    run_id: str

    @property
    def prefix(self) -> str:
        return f"runs/{self.run_id}/"

    def uri(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{relative}"

    def key(self, relative: str) -> str:
        return f"{self.prefix}{relative}"

    def dataset_key(self, filename: str) -> str:
        return self.key(f"dataset/{filename}")

    @property
    def quality_key(self) -> str:
        return self.key("quality.json")

    @property
    def outcome_key(self) -> str:
        return self.key("outcome.json")

    @property
    def report_key(self) -> str:
        return self.key("report.html")


def reference_profile_key(dataset: str) -> str:
    """The profile of the last accepted dataset of this name: the baseline for staleness and drift checks."""
    return f"reference/{dataset}/profile.json"


def code_prefix(version: str) -> str:
    """Published model code: `sourcedir.tar.gz` for training, `source/` for processing jobs, `manifest.json`."""
    return f"code/{version}/"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an S3 object URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key
