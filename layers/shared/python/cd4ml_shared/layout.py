"""Where the training pipeline keeps its files: which uploaded keys are datasets, where one run keeps its files in
the artifacts bucket, the reference profile of each dataset and the published model code. Plain names, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

DATASET_PREFIX = "datasets/"
QUARANTINE_PREFIX = "quarantine/"
DATA_SUFFIXES = (".csv", ".parquet")


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
