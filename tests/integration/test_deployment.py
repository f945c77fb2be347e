"""The deployment workflow of template.yaml on the local cloud: an approved version is deployed (first a new
endpoint, then blue/green canary updates), duplicated or stale approval events deploy nothing, and an update that
SageMaker rolls back silently, or whose smoke test fails, ends in a named failure with production on the old config.

One training run makes a real model (module-scoped); later versions are registered directly with its artifacts, as
the pipeline's Register step would, so each test costs a deployment, not a training."""

import io
import json
import tarfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from quick_model import FAILING_SCRIPT, FAST_TRAINING

from cd4ml.data import generate_orders
from cd4ml.localcloud import LocalCloud
from cd4ml.pipeline_driver import PipelineDriver

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
START = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=14)
EVENTS = Path(__file__).parents[2] / "events"
PARAMETERS = {
    "Stage": "dev",
    "ModelApprovalStatus": "Approved",
    **FAST_TRAINING,
    # real waits on the local cloud: short baking, no termination wait
    "TrafficRoutingType": "CANARY",
    "TrafficStepPercent": "50",
    "BakingPeriodSeconds": "1",
    "TerminationWaitSeconds": "0",
    "DeploymentTimeoutSeconds": "600",
}


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud.deployed(root / "template.yaml", PARAMETERS) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def notifications(cloud):
    """Every deployment message the notification topic sends, through an SQS subscription, by version."""
    sqs, sns = cloud.client("sqs"), cloud.client("sns")
    url = sqs.create_queue(QueueName="deployment-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=cloud.physical_id("NotificationTopic"), Protocol="sqs", Endpoint=arn)
    kept: list[dict] = []

    def received(version: int) -> list[dict]:
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                body = json.loads(message["Body"])
                if json.loads(body["Message"]).get("kind") == "deployment":
                    kept.append(body)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [m for m in kept if json.loads(m["Message"])["version"] == version]

    return received


def deployment(cloud, version: int, timeout: float = 120.0, name: str = "") -> dict:
    """The deployment execution of a version (or the execution `name`), once it ended."""
    sfn = cloud.client("stepfunctions")
    name = name or f"deploy-v{version}"
    arn = cloud.physical_id("DeploymentStateMachine").replace(":stateMachine:", ":execution:") + f":{name}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            described = sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            described = {"status": "NOT_STARTED"}
        if described["status"] not in ("RUNNING", "NOT_STARTED"):
            return described
        time.sleep(0.1)
    raise TimeoutError(f"deployment {arn} did not end within {timeout} s")


def endpoint(cloud) -> dict:
    return cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.stack.outputs["EndpointName"])


def register_like(cloud, package: dict, **changes) -> str:
    """A new approved version of the group made of `package`'s artifacts (with `changes` to its container)."""
    container = {**package["InferenceSpecification"]["Containers"][0], **changes.pop("container", {})}
    container.pop("ImageDigest", None)
    request = {
        "ModelPackageGroupName": package["ModelPackageGroupName"],
        "InferenceSpecification": {**package["InferenceSpecification"], "Containers": [container]},
        "ModelMetrics": changes.pop("model_metrics", package["ModelMetrics"]),
        "CustomerMetadataProperties": package["CustomerMetadataProperties"],
        "ModelApprovalStatus": "Approved",
    }
    return str(cloud.client("sagemaker").create_model_package(**request)["ModelPackageArn"])


def approval_event(package_arn: str, group: str) -> dict:
    """The registry's event for an approved version, in AWS's shape (events/sagemaker_model_package_approved.json)."""
    event = json.loads((EVENTS / "sagemaker_model_package_approved.json").read_text())
    event["resources"] = [package_arn]
    event["detail"].update(
        ModelPackageArn=package_arn, ModelPackageGroupName=group, ModelPackageVersion=int(package_arn.rsplit("/")[-1])
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
    driver = PipelineDriver(cloud)
    driver.publish_code("dev")
    orders = generate_orders(8_000, seed=1, start=START, days=14)
    run = driver.run(orders, f"datasets/orders/{START:%Y-%m-%d}/orders.csv")
    assert run.status == "SUCCEEDED", run.cause
    arn = run.outcome["model_package_arn"]
    package = cloud.client("sagemaker").describe_model_package(ModelPackageName=arn)
    return package, deployment(cloud, int(arn.rsplit("/")[-1]))


@pytest.fixture(scope="module")
def second(cloud, first):
    """A newer approved version of the same artifacts: a blue/green canary update."""
    package, _ = first
    arn = register_like(cloud, package)
    return arn, deployment(cloud, int(arn.rsplit("/")[-1]))


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
    assert body
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
    version = int(arn.rsplit("/")[-1])
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{cloud.stack.outputs['EndpointName']}-v{version}"
    policy = described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert policy["TrafficRoutingConfiguration"]["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}
    alarms = {a["AlarmName"] for a in described["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]}
    assert alarms == {cloud.physical_id("EndpointErrorsAlarm"), cloud.physical_id("EndpointLatencyAlarm")}
    uri = json.loads(execution["output"])["record"]["record_uri"]
    bucket, key = uri[len("s3://") :].split("/", 1)
    record = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert record["result"] == "deployed" and record["endpoint_config_name"] == described["EndpointConfigName"]
    assert record["deployment_config"]["BlueGreenUpdatePolicy"] == policy
    (message,) = notifications(version)
    assert json.loads(message["Message"])["previous_config_name"].endswith(f"-v{version - 1}")


def test_a_duplicated_approval_event_deploys_once_and_an_older_version_is_refused(cloud, first, second):
    package, _ = first
    arn, _ = second
    group = package["ModelPackageGroupName"]
    again = invoke_starter(cloud, approval_event(arn, group))
    assert again == {"started": False, "execution_name": f"deploy-v{arn.rsplit('/')[-1]}"}
    executions = cloud.client("stepfunctions").list_executions(
        stateMachineArn=cloud.physical_id("DeploymentStateMachine")
    )["executions"]
    assert [e["name"] for e in executions].count(f"deploy-v{arn.rsplit('/')[-1]}") == 1
    older = invoke_starter(cloud, approval_event(package["ModelPackageArn"], group))
    assert older["started"] is False
    assert older["ignored"] == f"version {package['ModelPackageVersion']} is older than version " + (
        f"{arn.rsplit('/')[-1]} in service"
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
    version = int(broken.rsplit("/")[-1])
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
    version = int(arn.rsplit("/")[-1])
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
    rejected = int(arn.rsplit("/")[-1])
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
    bucket = cloud.physical_id("ArtifactsBucket")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("inference.py")
        info.size = len(FAILING_SCRIPT)
        tar.addfile(info, io.BytesIO(FAILING_SCRIPT))
    cloud.client("s3").put_object(Bucket=bucket, Key="failing/sourcedir.tar.gz", Body=archive.getvalue())
    environment = {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/failing/sourcedir.tar.gz",
    }
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
        version = int(arn.rsplit("/")[-1])
        execution = deployment(cloud, version)
    finally:
        stop.set()
        caller.join(timeout=10)
    assert execution["status"] == "FAILED" and execution["error"] == "DeploymentRolledBack", execution
    assert cloud.physical_id("EndpointErrorsAlarm") in execution["cause"]
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == serving
