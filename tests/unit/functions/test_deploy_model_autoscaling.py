"""DeployModelFunction's auto scaling in prod: the Autoscale step registers the variant in service once the smoke
test passed, a rollout onto another instance type first takes the variant out of auto scaling (AWS refuses that
update otherwise), and in dev the step registers nothing."""

import json
from pathlib import Path

import boto3
import pytest
from moto_world import create_token_table, deployment_step

DEFINITION = Path(__file__).resolve().parents[3] / "statemachines" / "deployment.asl.json"
TABLE = "cd4ml-prod-TaskTokenTable"
ENDPOINT = "cd4ml-prod-fraud"
PROD = {
    "TOKEN_TABLE": TABLE,
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:cd4ml-prod-NotificationTopic",
    "ENDPOINT_NAME": ENDPOINT,
    "MODEL_PACKAGE_GROUP": ENDPOINT,
    "ARTIFACTS_BUCKET": "artifacts",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker",
    "STAGE": "prod",
    "INSTANCE_TYPE": "ml.m5.large",
    "INSTANCE_COUNT": "2",
    "CAPTURE_PERCENT": "20",
    "TRAFFIC_ROUTING": "CANARY",
    "TRAFFIC_STEP_PERCENT": "10",
    "BAKING_SECONDS": "600",
    "TERMINATION_WAIT_SECONDS": "300",
    "MAX_EXECUTION_SECONDS": "3600",
    "ROLLBACK_ALARMS": "errors,latency",
    "AUTOSCALING_MAX_INSTANCES": "6",
    "AUTOSCALING_TARGET_INVOCATIONS": "600",
}


def step(name: str, version: int, before: dict | None = None) -> dict:
    """A task's payload for a version."""
    return deployment_step(name, version, ENDPOINT, before=before)


@pytest.fixture
def deploy(aws, load_function, context):
    """A step runner over the prod function, with version 1 in service on ml.m5.large."""
    create_token_table(TABLE)

    def load(environment: dict, *, serving: bool = True) -> object:
        app = load_function("deploy_model", environment)
        if serving:
            for name in ("create_model", "create_endpoint_config"):
                app.handler(step(name, 1), context)
            boto3.client("sagemaker").create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-v1")
        return app

    return load


def updates_of(app, monkeypatch) -> list[dict]:
    """The UpdateEndpoint requests the function makes (moto's plain SageMaker does not implement the call)."""
    updates: list[dict] = []
    monkeypatch.setattr(app.sagemaker, "update_endpoint", lambda **request: updates.append(request) or {})
    return updates


def registered() -> tuple[list, list]:
    autoscaling = boto3.client("application-autoscaling")
    return (
        autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"],
        autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"],
    )


def test_the_autoscale_step_registers_the_prod_variant_with_target_tracking(deploy, context):
    app = deploy(PROD)

    answer = app.handler(step("autoscale", 1), context)

    (target,), (policy,) = registered()
    assert target["ResourceId"] == f"endpoint/{ENDPOINT}/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    metric = policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert metric["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert answer["enabled"] is True and answer["max_instances"] == 6


def test_in_dev_the_autoscale_step_registers_nothing(deploy, context):
    dev = {**PROD, "STAGE": "dev", "INSTANCE_COUNT": "1", "AUTOSCALING_MAX_INSTANCES": "0"}
    app = deploy(dev)

    assert app.handler(step("autoscale", 1), context) == {"enabled": False}
    assert registered() == ([], [])


def test_a_rollout_onto_another_instance_type_deregisters_the_variant_first(deploy, context, monkeypatch):
    app = deploy(PROD)
    app.handler(step("autoscale", 1), context)
    bigger = deploy({**PROD, "INSTANCE_TYPE": "ml.c5.xlarge"}, serving=False)  # the stack's instance type changed
    updates = updates_of(bigger, monkeypatch)
    bigger.handler(step("create_model", 2), context)
    bigger.handler(step("create_endpoint_config", 2), context)
    before = {"exists": True, "config_name": f"{ENDPOINT}-v1", "wait_timeout": 1200}

    moved = bigger.handler(step("rollout", 2, before), context)

    assert moved["action"] == "update" and moved["autoscaling_released"] is True
    assert registered() == ([], [])
    assert [u["EndpointConfigName"] for u in updates] == [f"{ENDPOINT}-v2"]


def test_a_rollout_of_a_new_model_on_the_same_instances_keeps_auto_scaling(deploy, context, monkeypatch):
    app = deploy(PROD)
    app.handler(step("autoscale", 1), context)
    updates = updates_of(app, monkeypatch)
    for name in ("create_model", "create_endpoint_config"):
        app.handler(step(name, 2), context)
    before = {"exists": True, "config_name": f"{ENDPOINT}-v1", "wait_timeout": 1200}

    moved = app.handler(step("rollout", 2, before), context)

    assert moved["action"] == "update" and moved["autoscaling_released"] is False
    assert len(registered()[0]) == 1 and len(updates) == 1


def test_the_variant_is_registered_only_after_the_smoke_test_passed_and_a_failure_is_recorded():
    states = json.loads(DEFINITION.read_text())["States"]
    assert states["SmokeTest"]["Next"] == "Autoscale"
    autoscale = states["Autoscale"]
    assert autoscale["Parameters"]["step"] == "autoscale" and autoscale["Next"] == "RecordSuccess"
    assert autoscale["Catch"][0]["Next"] == "RecordFailure" and autoscale["ResultPath"] == "$.autoscaling"
