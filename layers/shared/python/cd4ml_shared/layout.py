"""Where the training pipeline keeps its files: which uploaded keys are datasets, where one run keeps its files in
the artifacts bucket, the reference profile of each dataset and the published model code. Plain names, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DATASET_PREFIX = "datasets/"
# Orders to score in batch (`scoring/<dataset>/<date>/<file>`): validated as a dataset, label optional.
SCORING_PREFIX = "scoring/"
QUARANTINE_PREFIX = "quarantine/"
# What the validation writes beside an upload (`<file>.quality.json`): never a dataset, or each report would start
# the run that writes the next one. Case-sensitive, as the template's EventBridge rule is.
REPORT_SUFFIX = ".quality.json"
# The file names (any case) the validation reads, and how: (format, compression). Longest suffix first.
DATA_FORMATS: dict[str, tuple[Literal["csv", "parquet"], Literal["gzip"] | None]] = {
    ".csv.gz": ("csv", "gzip"),
    ".csv": ("csv", None),
    ".parquet": ("parquet", None),
}
DATA_SUFFIXES = tuple(DATA_FORMATS)


def is_report_key(key: str) -> bool:
    return key.endswith(REPORT_SUFFIX)


def is_dataset_key(key: str) -> bool:
    """Every object under datasets/ is an upload to validate (one of an unsupported format is quarantined with the
    reason), except the validation's own reports and the zero-byte "folders" the S3 console creates."""
    return key.startswith(DATASET_PREFIX) and not is_report_key(key) and not key.endswith("/")


def is_scoring_key(key: str) -> bool:
    """Every object under scoring/ is a file to score, except the validation's reports and console "folders"."""
    return key.startswith(SCORING_PREFIX) and not is_report_key(key) and not key.endswith("/")


def data_format(key: str) -> tuple[Literal["csv", "parquet"], Literal["gzip"] | None] | None:
    """How to read a dataset from its file name (`.csv`, `.csv.gz`, `.parquet`, any case); None for any other."""
    name = key.rsplit("/", 1)[-1].lower()
    for suffix, how in DATA_FORMATS.items():
        if name.endswith(suffix):
            return how
    return None


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
