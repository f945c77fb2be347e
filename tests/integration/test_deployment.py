"""The deployment workflow of template.yaml on the local cloud: an approved version is deployed (first a new
endpoint, then blue/green canary updates), duplicated or stale approval events deploy nothing, and an update that
SageMaker rolls back silently, or whose smoke test fails, ends in a named failure with production on the old config.

One training run makes a real model (module-scoped); later versions are registered directly with its artifacts, as
the pipeline's Register step would, so each test costs a deployment, not a training."""

import json
import threading
from pathlib import Path

import pytest
from quick_model import failing_code
from trained_model import (
    NOW,
    QUICK_DEPLOYMENTS,
    Inbox,
    deployment,
    describe_package,
    endpoint,
    register_like,
    train,
    version_of,
)

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).parents[2] / "events"


@pytest.fixture(scope="module")
def cloud(root):
    # real waits on the local cloud: short baking, no termination wait, updates by a canary of half the fleet
    with LocalCloud.deployed(root / "template.yaml", QUICK_DEPLOYMENTS) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def notifications(cloud):
    """Every deployment message the notification topic sends, through an SQS subscription, by version."""
    inbox = Inbox.notifications(cloud, "deployment-notifications")
    kept: list[dict] = []

    def received(version: int) -> list[dict]:
        while batch := inbox.take():
            kept.extend(body for body in batch if json.loads(body["Message"]).get("kind") == "deployment")
        return [m for m in kept if json.loads(m["Message"])["version"] == version]

    return received


def approval_event(package_arn: str, group: str) -> dict:
    """The registry's event for an approved version, in AWS's shape (events/sagemaker_model_package_approved.json)."""
    event = json.loads((EVENTS / "sagemaker_model_package_approved.json").read_text())
    event["resources"] = [package_arn]
    event["detail"].update(
        ModelPackageArn=package_arn, ModelPackageGroupName=group, ModelPackageVersion=version_of(package_arn)
    )
    return event


def invoke_starter(cloud, event: dict) -> dict:
    answer = cloud.client("lambda").invoke(
        FunctionName=cloud.physical_id("StartDeploymentFunction"), Payload=json.dumps(event).encode()
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    return json.loads(answer["Payload"].read())


@pytest.fixture(scope="module")
def first(cloud, notifications):
    """The training pipeline's first model: registered Approved (dev), which starts its deployment."""
    arn = train(cloud)
    package = describe_package(cloud, arn)
    return package, deployment(cloud, version_of(arn))


@pytest.fixture(scope="module")
def second(cloud, first):
    """A newer approved version of the same artifacts: a blue/green canary update."""
    package, _ = first
    arn = register_like(cloud, package)
    return arn, deployment(cloud, version_of(arn))


def test_an_approved_model_is_deployed_to_a_new_endpoint_that_answers(cloud, first, notifications):
    package, execution = first
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    version = package["ModelPackageVersion"]
    described = endpoint(cloud)
    name = cloud.stack.outputs["EndpointName"]
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{name}-v{version}"
    output = json.loads(execution["output"])
    assert output["smoke"]["passed"] is True and output["smoke"]["rows"] > 0
    assert output["smoke"]["max_abs_diff"] <= 1e-6
    # the config: one variant, the stage's instances, input and output captured under capture/
    config = cloud.client("sagemaker").describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == "ml.m5.large" and variant["InitialInstanceCount"] == 1
    capture = config["DataCaptureConfig"]
    assert capture["DestinationS3Uri"] == f"s3://{cloud.physical_id('ArtifactsBucket')}/capture/"
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    # it answers a request
    body = (
        cloud.client("sagemaker-runtime")
        .invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps({"instances": [{}]}))[
            "Body"
        ]
        .read()
    )
    assert json.loads(body)["model_version"] == version  # the container says which version answered
    # recorded: the deployment file, the package's metadata, a notification
    s3, bucket = cloud.client("s3"), cloud.physical_id("ArtifactsBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"deployments/{name}/")["Contents"]]
    (key,) = [k for k in keys if k.endswith(f"-v{version}.json")]
    record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert record["result"] == "deployed" and record["model_package_arn"] == package["ModelPackageArn"]
    assert record["previous_config_name"] is None and record["duration_s"] > 0
    metadata = cloud.client("sagemaker").describe_model_package(ModelPackageName=package["ModelPackageArn"])[
        "CustomerMetadataProperties"
    ]
    assert metadata["cd4ml:endpoint"] == name and metadata["cd4ml:deployed_at"].startswith(str(NOW.year))
    assert metadata["cd4ml:run_id"] == package["CustomerMetadataProperties"]["cd4ml:run_id"]  # lineage kept
    (message,) = notifications(version)
    assert json.loads(message["Message"])["status"] == "deployed"


def test_a_newer_approved_version_replaces_the_old_one_by_canary(cloud, first, second, notifications):
    arn, execution = second
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    version = version_of(arn)
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{cloud.stack.outputs['EndpointName']}-v{version}"
    policy = described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert policy["TrafficRoutingConfiguration"]["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}
    alarms = {a["AlarmName"] for a in described["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]}
    new_fleet = {f"{described['EndpointConfigName']}-new-fleet-{kind}" for kind in ("5xx", "latency")}
    assert alarms == {cloud.physical_id("EndpointErrorsAlarm"), cloud.physical_id("EndpointLatencyAlarm"), *new_fleet}
    uri = json.loads(execution["output"])["record"]["record_uri"]
    bucket, key = uri[len("s3://") :].split("/", 1)
    record = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert record["result"] == "deployed" and record["endpoint_config_name"] == described["EndpointConfigName"]
    assert record["deployment_config"]["BlueGreenUpdatePolicy"] == policy
    (message,) = notifications(version)
    assert json.loads(message["Message"])["previous_config_name"].endswith(f"-v{version - 1}")
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=described["EndpointName"], ContentType="application/json", Body=json.dumps({"instances": [{}]})
    )
    assert json.loads(answer["Body"].read())["model_version"] == version  # the new fleet answers, and says so


def test_a_duplicated_approval_event_deploys_once_and_an_older_version_is_refused(cloud, first, second):
    package, _ = first
    arn, _ = second
    group = package["ModelPackageGroupName"]
    again = invoke_starter(cloud, approval_event(arn, group))
    assert again == {"started": False, "execution_name": f"deploy-v{version_of(arn)}"}
    executions = cloud.client("stepfunctions").list_executions(
        stateMachineArn=cloud.physical_id("DeploymentStateMachine")
    )["executions"]
    assert [e["name"] for e in executions].count(f"deploy-v{version_of(arn)}") == 1
    older = invoke_starter(cloud, approval_event(package["ModelPackageArn"], group))
    assert older["started"] is False
    assert older["ignored"] == f"version {package['ModelPackageVersion']} is older than version " + (
        f"{version_of(arn)} in service"
    )


def test_an_update_sagemaker_rolls_back_silently_fails_named_with_production_on_the_old_config(
    cloud, first, second, notifications
):
    package, _ = first
    serving = endpoint(cloud)["EndpointConfigName"]
    # a version whose model archive is gone: its fleet never starts, SageMaker goes back to the old config
    broken = register_like(
        cloud,
        package,
        container={"ModelDataUrl": "s3://" + cloud.physical_id("ArtifactsBucket") + "/gone/model.tar.gz"},
    )
    version = version_of(broken)
    execution = deployment(cloud, version)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "DeploymentRolledBack"
    assert f"not on the requested {cloud.stack.outputs['EndpointName']}-v{version}" in execution["cause"]
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == serving
    (message,) = notifications(version)
    assert json.loads(message["Message"])["status"] == "failed"
    assert json.loads(message["Message"])["error"] == "DeploymentRolledBack"


def test_a_failed_smoke_test_puts_the_previous_config_back_and_fails_named(cloud, first, second, notifications):
    package, _ = first
    serving = endpoint(cloud)["EndpointConfigName"]
    # the same model, but an evaluation whose recorded scores are not the model's: parity cannot hold
    s3 = cloud.client("s3")
    evaluation_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    bucket, key = evaluation_uri[len("s3://") :].split("/", 1)
    folder = key.rpartition("/")[0]
    smoke = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}/smoke.json")["Body"].read())
    for row in smoke["rows"]:
        row["score"] = min(row["score"] + 0.25, 1.0) if row["score"] < 0.5 else row["score"] - 0.25
    s3.put_object(
        Bucket=bucket, Key="tampered/evaluation.json", Body=s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    )
    s3.put_object(Bucket=bucket, Key="tampered/smoke.json", Body=json.dumps(smoke).encode())
    metrics = {
        "ModelQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/tampered/evaluation.json"}
        }
    }
    arn = register_like(cloud, package, model_metrics=metrics)
    version = version_of(arn)
    execution = deployment(cloud, version)
    assert execution["status"] == "FAILED" and execution["error"] == "SmokeTestFailed", execution
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == serving
    history = cloud.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"], maxResults=1000
    )
    entered = [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]
    assert entered[-5:] == ["HadPreviousConfig", "RollBack", "VerifyRollBack", "RecordFailure", "Failed"]
    (message,) = notifications(version)
    assert json.loads(message["Message"])["error"] == "SmokeTestFailed"


def test_rejecting_the_version_in_service_rolls_production_back_to_the_previous_approved_one(
    cloud, first, second, notifications
):
    package, _ = first
    arn, _ = second
    rejected = version_of(arn)
    assert endpoint(cloud)["EndpointConfigName"].endswith(f"-v{rejected}")
    # newer approved versions exist (they failed to deploy): only the version in service may be rolled back to
    group = package["ModelPackageGroupName"]
    sagemaker = cloud.client("sagemaker")
    newer = [p for p in sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]]
    assert max(p["ModelPackageVersion"] for p in newer) > rejected

    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")

    execution = deployment(cloud, 0, name=f"rollback-v{rejected}")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"].endswith(f"-v{package['ModelPackageVersion']}")
    (message,) = notifications(package["ModelPackageVersion"])[-1:]
    sent = json.loads(message["Message"])
    assert sent["status"] == "deployed" and sent["rollback_of"] == arn
    # a version not in service rejected: nothing moves
    assert (
        invoke_starter(
            cloud,
            {
                **approval_event(arn, group),
                "detail": {**approval_event(arn, group)["detail"], "ModelApprovalStatus": "Rejected"},
            },
        )["ignored"]
        == f"version {rejected} is not in service (version {package['ModelPackageVersion']} is)"
    )


def test_a_canary_that_answers_5xx_is_rolled_back_by_its_alarm_and_the_workflow_fails_named(cloud, first, second):
    """Last in the module: the errors alarm stays in ALARM for its one-minute period after this test."""
    package, _ = first
    serving = endpoint(cloud)["EndpointConfigName"]
    environment = failing_code(cloud)
    # orders keep flowing while the canary bakes; those it takes fail with 5xx
    stop = threading.Event()
    runtime = cloud.client("sagemaker-runtime")

    def traffic() -> None:
        while not stop.is_set():
            try:
                runtime.invoke_endpoint(
                    EndpointName=cloud.stack.outputs["EndpointName"],
                    ContentType="application/json",
                    Body=b'{"instances": [{}]}',
                )
            except runtime.exceptions.ModelError:
                pass

    caller = threading.Thread(target=traffic, daemon=True)
    caller.start()
    try:
        arn = register_like(cloud, package, container={"Environment": environment})
        version = version_of(arn)
        execution = deployment(cloud, version)
    finally:
        stop.set()
        caller.join(timeout=10)
    assert execution["status"] == "FAILED" and execution["error"] == "DeploymentRolledBack", execution
    assert cloud.physical_id("EndpointErrorsAlarm") in execution["cause"]
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == serving
