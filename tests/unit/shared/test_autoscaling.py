"""Prod's auto scaling of the endpoint's variant: the settings a deployment reads, the target and policy it
registers, and when an update must take the variant out of auto scaling first (AWS refuses an instance type change
on a registered variant, and allows a model change)."""

import boto3
import pytest
from cd4ml_shared.autoscaling import (
    AutoscalingSettings,
    must_deregister,
    resource_id,
    scalable_target_request,
    scaling_policy_request,
)
from cd4ml_shared.aws.autoscaling import register_autoscaling, release_for_update
from cd4ml_shared.environment import SettingsError
from moto import mock_aws

ENDPOINT = "cd4ml-prod-fraud"
PROD = {
    "ENDPOINT_NAME": ENDPOINT,
    "INSTANCE_COUNT": "2",
    "AUTOSCALING_MAX_INSTANCES": "6",
    "AUTOSCALING_TARGET_INVOCATIONS": "600",
}


def test_prod_scales_the_variant_between_its_instance_count_and_the_maximum_on_invocations_per_instance():
    settings = AutoscalingSettings.from_environment(PROD)

    target = scalable_target_request(settings)
    policy = scaling_policy_request(settings)

    assert target == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{ENDPOINT}/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": 2,
        "MaxCapacity": 6,
    }
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling" and policy["ResourceId"] == target["ResourceId"]
    assert tracking["TargetValue"] == 600.0
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["ScaleInCooldown"] > tracking["ScaleOutCooldown"]


def test_other_stages_keep_a_fixed_count():
    settings = AutoscalingSettings.from_environment({**PROD, "AUTOSCALING_MAX_INSTANCES": "0"})
    assert settings.enabled is False
    assert AutoscalingSettings.from_environment({"ENDPOINT_NAME": ENDPOINT, "INSTANCE_COUNT": "1"}).enabled is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"AUTOSCALING_MAX_INSTANCES": "1"}, r"AUTOSCALING_MAX_INSTANCES \(1\) must be at least INSTANCE_COUNT \(2\)"),
        ({"AUTOSCALING_TARGET_INVOCATIONS": "0"}, "AUTOSCALING_TARGET_INVOCATIONS must be at least 1"),
    ],
)
def test_bounds_aws_would_refuse_are_named_at_cold_start(changes, message):
    with pytest.raises(SettingsError, match=message):
        AutoscalingSettings.from_environment({**PROD, **changes})


def test_only_an_instance_type_change_takes_the_variant_out_of_auto_scaling():
    assert must_deregister("ml.m5.large", "ml.c5.xlarge") is True
    assert must_deregister("ml.m5.large", "ml.m5.large") is False  # a new model on the same instances
    assert must_deregister(None, "ml.m5.large") is False  # no endpoint yet


@pytest.fixture
def clients(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sagemaker.create_model(
            ModelName=f"{ENDPOINT}-v1",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"{ENDPOINT}-v1",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{ENDPOINT}-v1",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 2,
                }
            ],
        )
        yield boto3.client("application-autoscaling", region_name="us-east-1"), sagemaker


def registered(autoscaling) -> tuple[list, list]:
    targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    return targets, policies


def test_registering_twice_leaves_one_target_and_one_policy(clients):
    autoscaling, _ = clients
    settings = AutoscalingSettings.from_environment(PROD)

    first = register_autoscaling(autoscaling, settings)
    again = register_autoscaling(autoscaling, settings)

    targets, policies = registered(autoscaling)
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(resource_id(ENDPOINT), 2, 6)]
    assert [p["PolicyName"] for p in policies] == [f"{ENDPOINT}-invocations-per-instance"]
    assert again["policy_arn"] == policies[0]["PolicyARN"]
    assert {**first, "policy_arn": None} == {**again, "policy_arn": None} and first["enabled"] is True


def test_without_auto_scaling_nothing_is_registered(clients):
    autoscaling, _ = clients
    settings = AutoscalingSettings.from_environment({**PROD, "AUTOSCALING_MAX_INSTANCES": "0"})

    assert register_autoscaling(autoscaling, settings) == {"enabled": False}
    assert registered(autoscaling) == ([], [])


def test_an_instance_type_change_deregisters_the_variant_and_a_new_model_does_not(clients):
    autoscaling, sagemaker = clients
    settings = AutoscalingSettings.from_environment(PROD)
    register_autoscaling(autoscaling, settings)
    serving = f"{ENDPOINT}-v1"

    kept = release_for_update(autoscaling, sagemaker, settings, serving_config=serving, instance_type="ml.m5.large")
    assert kept is False and registered(autoscaling)[0]

    released = release_for_update(
        autoscaling, sagemaker, settings, serving_config=serving, instance_type="ml.c5.xlarge"
    )
    assert released is True and registered(autoscaling) == ([], [])
    # a second attempt (a retried step) finds nothing to deregister
    again = release_for_update(autoscaling, sagemaker, settings, serving_config=serving, instance_type="ml.c5.xlarge")
    assert again is False
