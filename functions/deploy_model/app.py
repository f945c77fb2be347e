"""The steps of the deployment workflow (statemachines/deployment.asl.json), one `step` per task: the version's
model and endpoint config, the endpoint as it is, the blue/green rollout (or the rollback) for a `.waitForTaskToken`
task whose token is stored under the endpoint's name until its state-change event resumes it (job_completion), the
check that the endpoint really serves the requested config, the variant's auto scaling in prod, and the deployment's
record and notification."""

import json
import os
import time
from collections.abc import Callable

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from cd4ml_shared import correlation
from cd4ml_shared.autoscaling import AutoscalingSettings
from cd4ml_shared.aws.autoscaling import register_autoscaling, release_for_update
from cd4ml_shared.aws.callbacks import discard_token
from cd4ml_shared.aws.client_errors import is_transient
from cd4ml_shared.aws.deployment import (
    describe_endpoint,
    drop_new_fleet_alarms,
    endpoint_state,
    ensure_endpoint_config,
    ensure_model,
    hold_endpoint,
    record_deployment,
    require_idle,
    start_rollback,
    start_rollout,
)
from cd4ml_shared.deployment import (
    DeploymentSettings,
    deployment_config,
    deployment_record,
    notification,
    verdict,
    wait_timeout,
)
from cd4ml_shared.environment import required
from cd4ml_shared.errors import InvalidPayload, SageMakerUnavailable
from cd4ml_shared.payload import PayloadKind, field, require

logger = Logger()
metrics = Metrics()
sagemaker = boto3.client("sagemaker")
s3 = boto3.client("s3")
sns = boto3.client("sns")
sfn = boto3.client("stepfunctions")
autoscaling = boto3.client("application-autoscaling")
cloudwatch = boto3.client("cloudwatch")
SETTINGS = DeploymentSettings.from_environment()
AUTOSCALING = AutoscalingSettings.from_environment()
TOPIC_ARN = required(os.environ, "NOTIFICATION_TOPIC_ARN")
tokens = boto3.resource("dynamodb").Table(required(os.environ, "TOKEN_TABLE"))
# What every step receives: the starter's deployment (start_deployment) and what earlier steps added
DEPLOYMENT_FIELDS: dict[str, PayloadKind] = {
    "step": "string",
    "deployment.model_package_arn": "string",
    "deployment.version": "integer",
    "deployment.endpoint_name": "string",
    "deployment.model_name": "string",
    "deployment.config_name": "string",
    "deployment.started_at": "number",
}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    logger.set_correlation_id(correlation.deployment_step_execution(event))
    try:
        return run_step(event)
    except ClientError as error:
        if is_transient(error):  # retried by the state machine under this name
            raise SageMakerUnavailable(f"deploy_model {event.get('step')}: {error}") from None
        raise


def run_step(event: dict) -> dict:
    require(event, DEPLOYMENT_FIELDS, where="deploy_model")
    step, deployment = event["step"], event["deployment"]
    logger.append_keys(step=step, model_package_arn=deployment["model_package_arn"])
    if deployment["endpoint_name"] != SETTINGS.endpoint_name:
        raise InvalidPayload(f"deploy_model: endpoint {deployment['endpoint_name']!r} is not this stack's")
    if step == "create_model":
        return ensure_model(sagemaker, SETTINGS, deployment["model_name"], deployment["model_package_arn"])
    if step == "create_endpoint_config":
        return ensure_endpoint_config(sagemaker, SETTINGS, deployment["config_name"], deployment["model_name"])
    if step == "inspect":
        state = endpoint_state(sagemaker, SETTINGS.endpoint_name)
        require_idle(state, SETTINGS.endpoint_name)
        return {
            **state,
            "wait_timeout": wait_timeout(SETTINGS),
            "deployment_config": deployment_config(SETTINGS, deployment["config_name"]) if state["exists"] else None,
        }
    if step == "rollout":
        return wait_for(event, lambda: rollout(deployment))
    if step == "rollback":
        previous = field(event, "deployment.before.config_name", "string", where="deploy_model")
        return wait_for(event, lambda: start_rollback(sagemaker, SETTINGS.endpoint_name, previous))
    if step == "delete_endpoint":
        return start_rollback(sagemaker, SETTINGS.endpoint_name, None)
    if step == "verify":
        # after a rollback the config expected in service is the previous one
        expected = field(event, "expected_config", "string", where="deploy_model", optional=True)
        return verdict(describe_endpoint(sagemaker, SETTINGS.endpoint_name), expected or deployment["config_name"])
    if step == "autoscale":
        return register_autoscaling(autoscaling, AUTOSCALING)
    if step == "record":
        return record(event)
    raise InvalidPayload(f"deploy_model: unknown step {step!r}")


def wait_for(event: dict, start: Callable[[], dict]) -> dict:
    """Store the task's token under the endpoint's name, then start what the endpoint's next settled state ends;
    without a start, no event will come, so the token goes."""
    token = field(event, "token", "string", where="deploy_model")
    timeout = field(event, "deployment.before.wait_timeout", "integer", where="deploy_model")
    execution = field(event, "execution", "string", where="deploy_model")
    require_idle(endpoint_state(sagemaker, SETTINGS.endpoint_name), SETTINGS.endpoint_name)
    hold_endpoint(tokens, SETTINGS.endpoint_name, token, execution=execution, timeout_s=timeout)
    try:
        started = start()
    except Exception:
        discard_token(tokens, SETTINGS.endpoint_name)
        raise
    logger.info("endpoint moving", extra=started)
    return started


def rollout(deployment: dict) -> dict:
    """The rollout, after taking the variant out of auto scaling when the update changes its instance type (AWS
    refuses that update otherwise; the Autoscale step registers the variant again once the version serves)."""
    released = release_for_update(
        autoscaling,
        sagemaker,
        AUTOSCALING,
        serving_config=(deployment.get("before") or {}).get("config_name"),
        instance_type=SETTINGS.instance_type,
    )
    if released:
        logger.info("variant deregistered from auto scaling for an instance type change")
    started = start_rollout(sagemaker, cloudwatch, SETTINGS, deployment["config_name"])
    return {**started, "autoscaling_released": released}


def record(event: dict) -> dict:
    """Write the record, mark a deployed version on its package, and tell the topic (the outcome either way)."""
    deployment = event["deployment"]
    error = field(event, "error", "object", where="deploy_model", optional=True)
    result = "deployed" if error is None else "failed"
    document = deployment_record(deployment, result=result, error=error, finished_at=time.time())
    drop_new_fleet_alarms(cloudwatch, deployment["config_name"])  # the fleet is in service or gone: they watch nothing
    package = sagemaker.describe_model_package(ModelPackageName=deployment["model_package_arn"])
    uri = record_deployment(s3, sagemaker, SETTINGS.artifacts_bucket, document, deployed=error is None)
    subject, message = notification(document, package, record_uri=uri)
    sns.publish(TopicArn=TOPIC_ARN, Subject=subject, Message=json.dumps(message))
    metrics.add_metric(name="Deployments" + result.capitalize(), unit=MetricUnit.Count, value=1)
    logger.info("deployment recorded", extra={"record_uri": uri, "result": result})
    return {"record_uri": uri, "result": result}
