"""Prod's auto scaling on the local cloud: the project template deployed with the prod stage's parameters of
samconfig.toml, a real model trained, registered for a person's approval and approved; its deployment registers the
variant with Application Auto Scaling (target tracking of invocations per instance), and a second version's
blue/green update still succeeds with the variant still registered."""

import json

import pytest
from quick_model import FAST_TRAINING
from trained_model import QUICK_ROLLOUT, deployment, describe_package, endpoint, register_like, train, version_of

from cd4ml.localcloud import LocalCloud
from cd4ml.samconfig import stage_parameters

pytestmark = pytest.mark.integration

# prod's waits are minutes; here they are real but short, and the model small (the rest is prod's samconfig)
FAST = {**FAST_TRAINING, "TrafficStepPercent": "50", **QUICK_ROLLOUT}


@pytest.fixture(scope="module")
def prod(root):
    parameters = {**stage_parameters(root / "samconfig.toml", "prod"), **FAST}
    assert parameters["Stage"] == "prod" and parameters["ModelApprovalStatus"] == "PendingManualApproval"
    with LocalCloud.deployed(root / "template.yaml", parameters) as cloud:
        yield cloud, parameters


@pytest.fixture(scope="module")
def approved(prod):
    """The pipeline's model, registered pending approval, then approved by a person: deploy-v1."""
    cloud, _ = prod
    arn = train(cloud)
    assert describe_package(cloud, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    cloud.client("sagemaker").update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="test"
    )
    return describe_package(cloud, arn), deployment(cloud, version_of(arn))


def scaling(cloud) -> tuple[list, list]:
    autoscaling = cloud.client("application-autoscaling")
    resource = f"endpoint/{cloud.stack.outputs['EndpointName']}/variant/AllTraffic"
    targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)
    return targets["ScalableTargets"], policies["ScalingPolicies"]


def test_the_first_prod_deployment_registers_the_variant_for_auto_scaling(prod, approved):
    cloud, parameters = prod
    _, execution = approved
    assert execution["status"] == "SUCCEEDED", execution.get("cause")

    (target,), (policy,) = scaling(cloud)

    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["MinCapacity"] == int(parameters["EndpointInstanceCount"]) == 2
    assert target["MaxCapacity"] == int(parameters["EndpointMaxInstanceCount"])
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tracking["TargetValue"] == 600.0  # the template's default, which prod keeps
    output = json.loads(execution["output"])
    assert output["autoscaling"]["policy_arn"] == policy["PolicyARN"]
    bucket, key = output["record"]["record_uri"][len("s3://") :].split("/", 1)
    record = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert record["autoscaling"]["max_instances"] == target["MaxCapacity"]


def test_a_second_version_rolls_out_blue_green_on_the_auto_scaled_variant(prod, approved):
    cloud, _ = prod
    package, _ = approved
    arn = register_like(cloud, package)

    execution = deployment(cloud, version_of(arn))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    described = endpoint(cloud)
    assert described["EndpointConfigName"].endswith(f"-v{version_of(arn)}")
    assert described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    output = json.loads(execution["output"])
    assert output["before"]["exists"] is True  # an update, not a new endpoint
    # the same instance type: the variant stayed registered through the update, and was registered again after it
    (target,), (policy,) = scaling(cloud)
    assert target["MinCapacity"] == 2 and policy["PolicyARN"] == output["autoscaling"]["policy_arn"]
