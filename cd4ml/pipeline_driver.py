"""Drives the deployed training pipeline as a user would: upload a dataset, follow the run it starts, read its
outcome. Shared by `make demo`, the integration tests and the end-to-end bench."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from cd4ml_shared.run_input import DatasetRef, execution_name

from .data import write_dataset
from .localcloud import LocalCloud
from .model_code import PublishedCode, publish

# The states a run passes through, in order, and what each one does (for progress lines).
STAGES = {
    "ValidateData": "validating the dataset against its contract",
    "FindEarlierRun": "looking for an earlier run of the same content",
    "BuildFeatures": "feature job (SageMaker processing)",
    "Train": "training job (XGBoost, SageMaker training)",
    "Evaluate": "evaluation job (SageMaker processing)",
    "Gate": "evaluation gate (thresholds and champion)",
    "Register": "registering the model package",
    "RecordSuccess": "recording the outcome",
    "RecordGatedOut": "recording the outcome",
    "RecordQuarantine": "recording the quarantine",
    "RecordFailure": "recording the failure",
    "RecordDuplicate": "recording that an earlier run trained this content",
}


class RunNotFinished(TimeoutError):
    """The run did not end within the time allowed."""


@dataclass
class RunResult:
    execution_arn: str
    status: str  # the execution's: SUCCEEDED, FAILED, ...
    output: dict[str, Any]  # the final state (SUCCEEDED) or {}
    outcome: dict[str, Any]  # outcome.json of the run
    seconds: float
    states: list[tuple[str, float]] = field(default_factory=list)  # (state entered, seconds since the start)
    error: str | None = None
    cause: str | None = None

    @property
    def run_status(self) -> str:
        return str(self.outcome.get("status", "unknown"))


class PipelineDriver:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.s3 = cloud.client("s3")
        self.sfn = cloud.client("stepfunctions")
        self.raw_bucket = cloud.physical_id("RawDataBucket")
        self.artifacts_bucket = cloud.physical_id("ArtifactsBucket")
        self.state_machine_arn = cloud.physical_id("TrainingPipeline")

    def publish_code(self, version: str, progress: Callable[[str], None] = lambda _: None) -> PublishedCode:
        return publish(self.s3, self.artifacts_bucket, version, progress=progress)

    def upload(self, data: pa.Table | bytes, key: str) -> DatasetRef:
        """Put a dataset (a table written as the key's format, or bytes) into the raw bucket."""
        if isinstance(data, pa.Table):
            scratch = self.cloud.work_dir / "uploads" / Path(key).name
            scratch.parent.mkdir(parents=True, exist_ok=True)
            write_dataset(data, scratch)
            body = scratch.read_bytes()
        else:
            body = data
        put = self.s3.put_object(Bucket=self.raw_bucket, Key=key, Body=body)
        return DatasetRef(
            bucket=self.raw_bucket,
            key=key,
            version_id=put.get("VersionId"),
            etag=put["ETag"].strip('"'),
            size=len(body),
        )

    def execution_arn(self, dataset: DatasetRef) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_name(dataset)}"

    def follow(
        self, dataset: DatasetRef, timeout: float = 300.0, progress: Callable[[str, float], None] | None = None
    ) -> RunResult:
        """Wait for the run of `dataset` to start and end, reporting each state it enters."""
        arn = self.execution_arn(dataset)
        started = time.monotonic()
        deadline = started + timeout
        seen: list[tuple[str, float]] = []
        description: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            try:
                description = self.sfn.describe_execution(executionArn=arn)
            except self.sfn.exceptions.ExecutionDoesNotExist:
                time.sleep(0.05)
                continue
            for name in self._entered_states(arn)[len(seen) :]:
                seen.append((name, time.monotonic() - started))
                if progress is not None:
                    progress(name, seen[-1][1])
            if description["status"] != "RUNNING":
                break
            time.sleep(0.1)
        if description is None or description["status"] == "RUNNING":
            raise RunNotFinished(f"the run {arn} did not finish within {timeout:.0f} s")
        self.cloud.wait_idle()
        return RunResult(
            execution_arn=arn,
            status=description["status"],
            output=json.loads(description.get("output") or "{}"),
            outcome=self.outcome(execution_name(dataset)),
            seconds=time.monotonic() - started,
            states=seen,
            error=description.get("error"),
            cause=description.get("cause"),
        )

    def run(self, data: pa.Table | bytes, key: str, timeout: float = 300.0) -> RunResult:
        return self.follow(self.upload(data, key), timeout=timeout)

    def outcome(self, run_id: str) -> dict[str, Any]:
        try:
            body = self.s3.get_object(Bucket=self.artifacts_bucket, Key=f"runs/{run_id}/outcome.json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return {}
        document: dict[str, Any] = json.loads(body)
        return document

    def _entered_states(self, arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
