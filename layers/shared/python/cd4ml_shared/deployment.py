"""The deployment workflow's decisions, as plain values: which approved version may be deployed, what the model,
endpoint config and blue/green update requests are, whether the endpoint really runs what was asked for (AWS rolls a
failed update back to InService on the old config, often with an empty reason), and what a deployment record says.
The SageMaker, S3 and SNS calls are in `aws.deployment`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .environment import SettingsError, environment, required, whole_number
from .errors import PipelineError
from .job_security import JobSecurity

TrafficRouting = Literal["CANARY", "LINEAR"]
VARIANT = "AllTraffic"
# SageMaker's name limit for models, endpoint configs and endpoints.
_MAX_NAME = 63
_VERSIONED = re.compile(r"-v(\d+)$")
# A waiting rollout task gives up this long after SageMaker itself would have ended the update.
WAIT_MARGIN_SECONDS = 600
# botocore's documented minimum for MaximumExecutionTimeoutInSeconds.
MIN_EXECUTION_TIMEOUT = 600
# prod keeps serving while an instance is replaced
PROD_MIN_INSTANCES = 2


class DeploymentRolledBack(PipelineError):
    """The endpoint is InService but not on the requested config: SageMaker rolled the update back (an alarm, a
    fleet that could not start), or the workflow rolled it back after a failed smoke test."""


class DeploymentFailed(PipelineError):
    """The endpoint did not reach InService on the requested config (it failed, or is in a status nobody asked for)."""


class EndpointBusy(PipelineError):
    """The endpoint is Creating or Updating (another deployment is in flight); the state machine retries later."""


@dataclass(frozen=True)
class DeploymentSettings:
    """What the deployment functions read from their environment (the stage's parameters in template.yaml)."""

    endpoint_name: str
    stage: str
    model_package_group: str
    artifacts_bucket: str
    role_arn: str
    instance_type: str
    instance_count: int
    capture_percent: int
    capture_kms_key: str  # "" for the bucket's default encryption
    routing: TrafficRouting
    step_percent: int  # canary size, or the linear step
    baking_seconds: int
    termination_wait_seconds: int
    max_execution_seconds: int
    alarms: tuple[str, ...]
    latency_budget_us: int = 100_000  # the new fleet's average ModelLatency over a minute that rolls it back
    security: JobSecurity = field(default_factory=JobSecurity)  # the endpoint's storage key, VPC and isolation

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> DeploymentSettings:
        env = environment(environ)
        routing = required(env, "TRAFFIC_ROUTING")
        if routing not in ("CANARY", "LINEAR"):
            raise SettingsError(f"TRAFFIC_ROUTING must be CANARY or LINEAR, got {routing!r}")
        settings = cls(
            endpoint_name=required(env, "ENDPOINT_NAME"),
            stage=env.get("STAGE", "dev"),
            model_package_group=required(env, "MODEL_PACKAGE_GROUP"),
            artifacts_bucket=required(env, "ARTIFACTS_BUCKET"),
            role_arn=required(env, "SAGEMAKER_ROLE_ARN"),
            instance_type=required(env, "INSTANCE_TYPE"),
            instance_count=whole_number(env, "INSTANCE_COUNT"),
            capture_percent=whole_number(env, "CAPTURE_PERCENT"),
            capture_kms_key=env.get("CAPTURE_KMS_KEY", ""),
            routing=routing,  # type: ignore[arg-type]
            step_percent=whole_number(env, "TRAFFIC_STEP_PERCENT"),
            baking_seconds=whole_number(env, "BAKING_SECONDS"),
            termination_wait_seconds=whole_number(env, "TERMINATION_WAIT_SECONDS"),
            max_execution_seconds=whole_number(env, "MAX_EXECUTION_SECONDS"),
            alarms=tuple(a for a in env.get("ROLLBACK_ALARMS", "").split(",") if a),
            latency_budget_us=whole_number(env, "LATENCY_BUDGET_US", 100_000),
            security=JobSecurity.from_environment(env),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """The limits SageMaker would refuse later, named now."""
        least = PROD_MIN_INSTANCES if self.stage == "prod" else 1
        if self.instance_count < least:
            raise SettingsError(
                f"INSTANCE_COUNT must be at least {least} in {self.stage} (one instance is one failure away from "
                f"no fraud decisions), got {self.instance_count}"
            )
        if not 0 <= self.capture_percent <= 100:
            raise SettingsError(f"CAPTURE_PERCENT must be 0..100, got {self.capture_percent}")
        if not 1 <= self.step_percent <= 100:
            raise SettingsError(f"TRAFFIC_STEP_PERCENT must be 1..100, got {self.step_percent}")
        if self.max_execution_seconds < MIN_EXECUTION_TIMEOUT:
            raise SettingsError(
                f"MAX_EXECUTION_SECONDS must be at least {MIN_EXECUTION_TIMEOUT} (SageMaker's minimum), "
                f"got {self.max_execution_seconds}"
            )


def version_of_package(arn: str) -> int:
    """The version number at the end of a model package ARN (`.../model-package/<group>/<version>`)."""
    tail = arn.rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise ValueError(f"{arn!r} is not the ARN of a model package version")
    return int(tail)


def versioned_name(endpoint_name: str, version: int) -> str:
    """The name of the model and of the endpoint config made for a package version: one per version, so a retried
    step finds what the first attempt made, and the version in service can be read from the endpoint's config."""
    suffix = f"-v{version}"
    return endpoint_name[: _MAX_NAME - len(suffix)].rstrip("-") + suffix


def version_in_service(config_name: str | None) -> int | None:
    """The package version an endpoint config made by this workflow serves; None for another config (or none)."""
    match = _VERSIONED.search(config_name or "")
    return int(match.group(1)) if match else None


def execution_name(version: int) -> str:
    """The deployment's execution name: one per package version, so a duplicated approval event deploys once."""
    return f"deploy-v{version}"


def refusal(version: int, serving: int | None) -> str | None:
    """Why an approved version must not be deployed by approval (None: it may): an older version than the one in
    service is deployed only as the rollback of a rejection, never because an old approval event came late."""
    if serving is not None and version < serving:
        return f"version {version} is older than version {serving} in service"
    return None


def rollback_name(rejected: int) -> str:
    """The execution that takes a rejected version out of service: one per rejected version."""
    return f"rollback-v{rejected}"


def rollback_target(rejected: int, serving: int | None, approved: Iterable[int]) -> tuple[int | None, str]:
    """(version to deploy, why) for a rejection: only the version in service is rolled back, to the newest approved
    version older than it (a newer approved one was not in service, so nobody vouched for it in production)."""
    if serving != rejected:
        return None, f"version {rejected} is not in service (version {serving} is)"
    earlier = [v for v in approved if v < rejected]
    if not earlier:
        return None, f"version {rejected} is in service and no earlier version is approved: nothing to roll back to"
    target = max(earlier)
    return target, f"version {rejected} was rejected in service: back to version {target}"


def wait_timeout(settings: DeploymentSettings) -> int:
    """Seconds the rollout task waits for the endpoint's event: SageMaker's own bound on the update, plus a
    margin, so the task gives up only after SageMaker would have ended the update itself."""
    return max(settings.max_execution_seconds, _baking_total(settings)) + WAIT_MARGIN_SECONDS


def _baking_total(settings: DeploymentSettings) -> int:
    steps = 2 if settings.routing == "CANARY" else -(-100 // settings.step_percent)
    return steps * settings.baking_seconds + settings.termination_wait_seconds


MODEL_VERSION_VARIABLE = "CD4ML_MODEL_VERSION"  # the serving container reports it beside its predictions


def model_request(settings: DeploymentSettings, name: str, package_arn: str) -> dict[str, Any]:
    """CreateModel from the registered version: the package's container, image and model data as registered, with
    the version number in the container's environment (merged over the package's), so that the answers of each
    fleet say which version gave them, a canary's included; in the stack's VPC and isolation
    (`JobSecurity.secure_model`: an isolated container serves the code inside its model data)."""
    request: dict[str, Any] = {
        "ModelName": name,
        "ExecutionRoleArn": settings.role_arn,
        "PrimaryContainer": {
            "ModelPackageName": package_arn,
            "Environment": {MODEL_VERSION_VARIABLE: str(version_of_package(package_arn))},
        },
        "Tags": [{"Key": "cd4ml:model_package_arn", "Value": package_arn}],
    }
    return settings.security.secure_model(request)


def endpoint_config_request(settings: DeploymentSettings, name: str, model_name: str) -> dict[str, Any]:
    """One production variant of the stage's instances, with input and output captured under capture/ (encrypted
    with CAPTURE_KMS_KEY, else the stack's key), and the stack's key on the instances' storage."""
    capture: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": settings.capture_percent,
        "DestinationS3Uri": f"s3://{settings.artifacts_bucket}/capture/",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    if settings.capture_kms_key:
        capture["KmsKeyId"] = settings.capture_kms_key
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": VARIANT,
                "ModelName": model_name,
                "InstanceType": settings.instance_type,
                "InitialInstanceCount": settings.instance_count,
                "InitialVariantWeight": 1.0,
            }
        ],
        "DataCaptureConfig": capture,
    }
    return settings.security.secure_endpoint_config(request)


def new_fleet_alarms(settings: DeploymentSettings, config_name: str) -> list[dict[str, Any]]:
    """PutMetricAlarm requests for the new fleet of an update to `config_name`: any 5XX, and an average
    ModelLatency over the budget, each over a minute, on the metrics SageMaker publishes with the dimension
    EndpointConfigName=<new config> once that fleet takes traffic. The stack's own alarms watch the variant, where
    the old fleet's traffic dilutes a canary's: a canary at 10 % that is three times too slow stays under an
    average over both fleets (AWS's guide, "Monitor model latency on the new fleet")."""
    dimensions = [
        {"Name": "EndpointName", "Value": settings.endpoint_name},
        {"Name": "VariantName", "Value": VARIANT},
        {"Name": "EndpointConfigName", "Value": config_name},
    ]
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": dimensions,
        "Period": 60,
        "EvaluationPeriods": 1,
        "TreatMissingData": "notBreaching",
    }
    errors, latency = new_fleet_alarm_names(config_name)
    return [
        {
            **common,
            "AlarmName": errors,
            "AlarmDescription": f"The new fleet of {config_name} answered 5XX; its deployment rolls back.",
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Sum",
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
        {
            **common,
            "AlarmName": latency,
            "AlarmDescription": f"The new fleet of {config_name} is over its latency budget; its update rolls back.",
            "MetricName": "ModelLatency",
            "Statistic": "Average",
            "Threshold": float(settings.latency_budget_us),
            "ComparisonOperator": "GreaterThanThreshold",
        },
    ]


def new_fleet_alarm_names(config_name: str) -> tuple[str, str]:
    """The names of a config's new-fleet alarms (errors, latency): `<config>-new-fleet-5xx` / `-latency`."""
    return f"{config_name}-new-fleet-5xx", f"{config_name}-new-fleet-latency"


def deployment_config(settings: DeploymentSettings, config_name: str | None = None) -> dict[str, Any]:
    """Blue/green with canary (or linear) traffic shifting, rolled back by SageMaker when an alarm fires: the
    stack's alarms on the endpoint, and, for an update to `config_name`, that config's new-fleet alarms."""
    size = {"Type": "CAPACITY_PERCENT", "Value": settings.step_percent}
    routing: dict[str, Any] = {"Type": settings.routing, "WaitIntervalInSeconds": settings.baking_seconds}
    routing["CanarySize" if settings.routing == "CANARY" else "LinearStepSize"] = size
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": settings.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": settings.max_execution_seconds,
        }
    }
    alarms = [*settings.alarms, *(new_fleet_alarm_names(config_name) if config_name else ())]
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def verdict(described: Mapping[str, Any], requested_config: str) -> dict[str, Any]:
    """Whether the endpoint runs what was asked for, after its wait: InService on the requested config is success;
    InService on another config is `DeploymentRolledBack` (with SageMaker's reason, or saying it gave none); any
    other status is `DeploymentFailed`."""
    status = described.get("EndpointStatus")
    serving = described.get("EndpointConfigName")
    reason = described.get("FailureReason") or ""
    name = described.get("EndpointName")
    if status == "InService" and serving == requested_config:
        return {"endpoint_name": name, "config_name": serving, "status": status}
    if status == "InService":
        raise DeploymentRolledBack(
            f"endpoint {name} is InService on {serving}, not on the requested {requested_config}: "
            f"{reason or 'SageMaker rolled the update back and gave no reason'}"
        )
    raise DeploymentFailed(
        f"endpoint {name} is {status} on {serving} after deploying {requested_config}: {reason or 'no reason given'}"
    )


def deployment_record(
    deployment: Mapping[str, Any], *, result: str, error: Mapping[str, Any] | None, finished_at: float
) -> dict[str, Any]:
    """What `deployments/<endpoint>/<time>-v<N>.json` says about one deployment, successful or not (`before`
    is the InspectEndpoint step's result; `rollout` where the endpoint settled; `smoke` the smoke test's report)."""
    before = deployment.get("before") or {}
    return {
        "endpoint_name": deployment["endpoint_name"],
        "model_package_arn": deployment["model_package_arn"],
        "version": deployment["version"],
        "model_name": deployment["model_name"],
        "endpoint_config_name": deployment["config_name"],
        "previous_config_name": before.get("config_name"),
        "rollback_of": deployment.get("rollback_of"),  # the rejected version's ARN, for a rollback
        "deployment_config": before.get("deployment_config"),
        "settled": deployment.get("rollout"),
        "smoke_test": deployment.get("smoke"),
        "autoscaling": deployment.get("autoscaling"),  # prod: the variant's registration (the Autoscale step)
        "result": result,
        "error": dict(error) if error else None,
        "started_at": deployment["started_at"],
        "finished_at": finished_at,
        "duration_s": round(finished_at - float(deployment["started_at"]), 3),
    }


def record_key(endpoint_name: str, version: int, finished_at: float) -> str:
    """Where a deployment's record lives: by endpoint, in time order."""
    stamp = datetime.fromtimestamp(finished_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"deployments/{endpoint_name}/{stamp}-v{version}.json"


def notification(
    record: Mapping[str, Any], package: Mapping[str, Any], *, record_uri: str
) -> tuple[str, dict[str, Any]]:
    """(subject, message) for the stack's topic. The message names the run whose model it is (`run_id`, as the
    training pipeline's messages do), so a reader of one run's messages also hears where its model went."""
    metadata = package.get("CustomerMetadataProperties") or {}
    deployed = record["result"] == "deployed"
    error = record.get("error") or {}
    subject = (
        f"cd4ml: model version {record['version']} is in service on {record['endpoint_name']}"
        if deployed
        else f"cd4ml: deployment of model version {record['version']} failed: {error.get('Error', 'unknown')}"
    )
    message = {
        "kind": "deployment",
        "status": record["result"],
        "run_id": metadata.get("cd4ml:run_id"),
        "endpoint_name": record["endpoint_name"],
        "model_package_arn": record["model_package_arn"],
        "version": record["version"],
        "endpoint_config_name": record["endpoint_config_name"],
        "previous_config_name": record["previous_config_name"],
        "rollback_of": record.get("rollback_of"),
        "error": error.get("Error"),
        "reason": error.get("Cause"),
        "record_uri": record_uri,
        "duration_s": record["duration_s"],
    }
    return subject[:100], message
