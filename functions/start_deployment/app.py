"""Starts the deployment workflow when a model package version of this stack's group is approved, or when the
version in service is rejected (the registry's `SageMaker Model Package State Change` through EventBridge).

An approval's execution is named after the version, so a duplicated or repeated event (every metadata update of an
approved package emits one) finds the name taken and deploys nothing. A version older than the one in service is
refused: going back happens only as the rollback of a rejection, which deploys the newest approved version older
than the rejected one, once per rejected version.
"""

import json
import os
import time

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.deployment import approved_versions, endpoint_state
from cd4ml_shared.aws.executions import start_once
from cd4ml_shared.deployment import (
    execution_name,
    refusal,
    rollback_name,
    rollback_target,
    version_in_service,
    version_of_package,
    versioned_name,
)
from cd4ml_shared.environment import required
from cd4ml_shared.payload import PayloadKind, require

# What a model package state change must carry (events/sagemaker_model_package_approved.json)
PACKAGE_FIELDS: dict[str, PayloadKind] = {
    "detail-type": "string",
    "detail.ModelPackageArn": "string",
    "detail.ModelPackageGroupName": "string",
    "detail.ModelApprovalStatus": "string",
}
logger = Logger()
metrics = Metrics()
sfn = boto3.client("stepfunctions")
sagemaker = boto3.client("sagemaker")
STATE_MACHINE_ARN = required(os.environ, "STATE_MACHINE_ARN")
ENDPOINT_NAME = required(os.environ, "ENDPOINT_NAME")
MODEL_PACKAGE_GROUP = required(os.environ, "MODEL_PACKAGE_GROUP")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, PACKAGE_FIELDS, where="start_deployment")
    change = EventBridgeEvent(event)
    detail = change.detail
    arn, status = detail["ModelPackageArn"], detail["ModelApprovalStatus"]
    if detail["ModelPackageGroupName"] != MODEL_PACKAGE_GROUP or status not in ("Approved", "Rejected"):
        # the rules match only these; a hand-edited rule or an imitating PutEvents must not deploy
        return {"started": False, "ignored": f"{arn} is not an approved or rejected version of {MODEL_PACKAGE_GROUP}"}
    version = version_of_package(arn)
    logger.append_keys(model_package_arn=arn, approval_status=status)
    # the execution this event starts (or would have started): what `cd4ml logs` follows for this deployment
    logger.set_correlation_id(rollback_name(version) if status == "Rejected" else execution_name(version))
    serving = version_in_service(endpoint_state(sagemaker, ENDPOINT_NAME)["config_name"])
    if status == "Rejected":
        target, why = rollback_target(version, serving, approved_versions(sagemaker, MODEL_PACKAGE_GROUP))
        if target is None:
            logger.info("no rollback", extra={"why": why})
            return {"started": False, "ignored": why}
        metrics.add_metric(name="RollbacksRequested", unit=MetricUnit.Count, value=1)
        return start(change, arn.rsplit("/", 1)[0] + f"/{target}", target, rollback_name(version), rollback_of=arn)
    refused = refusal(version, serving)
    if refused is not None:
        logger.warning("deployment refused", extra={"why": refused})
        metrics.add_metric(name="StaleApprovalEvents", unit=MetricUnit.Count, value=1)
        return {"started": False, "ignored": refused}
    return start(change, arn, version, execution_name(version))


def start(change: EventBridgeEvent, arn: str, version: int, name: str, rollback_of: str | None = None) -> dict:
    """Start the execution `name` deploying `arn`; a name already taken means this was done: nothing to do."""
    deployment = {
        "model_package_arn": arn,
        "version": version,
        "endpoint_name": ENDPOINT_NAME,
        "model_name": versioned_name(ENDPOINT_NAME, version),
        "config_name": versioned_name(ENDPOINT_NAME, version),
        "rollback_of": rollback_of,
        "started_at": time.time(),
        "trigger": {"source": change.source, "detail_type": change.detail_type, "event_id": change.get_id},
    }
    execution_arn = start_once(sfn, STATE_MACHINE_ARN, name, json.dumps(deployment))
    if execution_arn is None:  # the same version's event again: its deployment exists
        logger.info("deployment already exists", extra={"execution_name": name})
        metrics.add_metric(name="DuplicateApprovalEvents", unit=MetricUnit.Count, value=1)
        return {"started": False, "execution_name": name}
    logger.info("deployment started", extra={"execution_name": name, "execution_arn": execution_arn})
    metrics.add_metric(name="DeploymentsStarted", unit=MetricUnit.Count, value=1)
    return {"started": True, "execution_name": name, "execution_arn": execution_arn}
