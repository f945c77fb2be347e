"""The correlation id of every function's log lines (powertools' `correlation_id`): the id a person follows with
`cd4ml logs <id>`. JMESPath expressions for `inject_lambda_context(correlation_id_path=...)` where the event holds
the id (as powertools' own `correlation_paths`), and the few ids a function derives from its payload.

Which id a function's lines carry:
- a training or batch run: the run id, which is the execution name (`RunInput.run_id`), from start_pipeline /
  start_scoring naming the run to record_outcome / record_scoring, and job_completion resuming one of its jobs;
- a deployment: its execution name (`deploy-v<N>`, `rollback-v<N>`);
- a monitoring run: its window (`<start>--<end>`), or its execution when it failed before measuring one;
- a retraining request: its request id; a decision: its inference id;
- a Kinesis batch (feedback, decision log): `<shard id>:<first sequence number>`, the first record's eventID.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .deployment import execution_name, rollback_name, version_of_package

# A task of a training or batch run: the execution input's run_id, passed to every task.
RUN = "run_id"
# The Record* tasks of both pipelines get the whole execution state under `state`.
RECORDED_RUN = "state.run_id"
# A Kinesis batch (record_feedback, record_decisions): its first record's eventID, `<shard id>:<sequence number>`.
STREAM_BATCH = "Records[0].eventID"


def execution_name_of(execution_arn: str) -> str:
    """The name at the end of an execution ARN (`arn:aws:states:<region>:<account>:execution:<machine>:<name>`)."""
    return execution_arn.rsplit(":", 1)[-1]


def deployment_execution(deployment: Mapping[str, Any] | None) -> str | None:
    """The deployment workflow's execution name, from the `deployment` start_deployment started it with: the
    rollback of a rejected version is `rollback-v<rejected>`, any other deployment `deploy-v<version>`. None when
    the payload says neither (the step then fails on its own checks)."""
    if not isinstance(deployment, Mapping):
        return None
    rejected = deployment.get("rollback_of")
    try:
        if isinstance(rejected, str) and rejected:
            return rollback_name(version_of_package(rejected))
    except ValueError:
        return None
    version = deployment.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        return execution_name(version)
    return None


def deployment_step_execution(event: Mapping[str, Any]) -> str | None:
    """The deployment a deploy_model step belongs to: the task's `execution` where the state machine passes it
    (the waiting steps), else derived from its `deployment`."""
    return _named(event) or deployment_execution(event.get("deployment"))


def smoke_test_execution(event: Mapping[str, Any]) -> str | None:
    """The deployment a smoke test belongs to: the task's `execution` where the state machine passes it, else the
    deployment of the version it tests (`deploy-v<N>`: a rollback's smoke test needs `execution` to be named
    `rollback-v<N>`)."""
    package = event.get("model_package_arn")
    try:
        derived = execution_name(version_of_package(package)) if isinstance(package, str) else None
    except ValueError:
        derived = None
    return _named(event) or derived


def _named(event: Mapping[str, Any]) -> str | None:
    """`execution` of a task's payload: `$$.Execution.Name`, or `$$.Execution.Id` (its ARN)."""
    named = event.get("execution")
    return execution_name_of(named) if isinstance(named, str) and named else None
