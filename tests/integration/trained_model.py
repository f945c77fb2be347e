"""Training a real model through the project's template on the local cloud and following it into service: the steps
that the integration tests needing a trained or deployed model share (publish the model code, upload generated
orders, follow the training run, wait for deploy-v<N>, register further versions of the same artifacts, listen to
what the stack publishes).

Plain functions rather than fixtures: each test module keeps its own module-scoped fixtures (its own stack
parameters, and its own order of steps, such as a person approving the version before it deploys) and calls these
inside them, so a module's world is still built once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from quick_model import FAST_TRAINING

from cd4ml.data import generate_orders
from cd4ml.localcloud import LocalCloud
from cd4ml.pipeline_driver import PipelineDriver

NOW = datetime.now(UTC)
# The first day of the two weeks of orders a training run is given, ending today.
START = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=14)

# The dev stage with what passes the gate registered Approved, which starts the deployment workflow by itself.
DEV_APPROVED = {"Stage": "dev", "ModelApprovalStatus": "Approved"}
# The deployment workflow's real waits, made short: a second of baking, no wait before the old fleet goes.
QUICK_ROLLOUT = {"BakingPeriodSeconds": "1", "TerminationWaitSeconds": "0", "DeploymentTimeoutSeconds": "600"}
# A dev stack that trains a small model, deploys it at once and updates it by a canary of half the fleet.
QUICK_DEPLOYMENTS = {
    **DEV_APPROVED,
    **FAST_TRAINING,
    "TrafficRoutingType": "CANARY",
    "TrafficStepPercent": "50",
    **QUICK_ROLLOUT,
}


def version_of(package_arn: str) -> int:
    """A model package's version: the last part of its ARN (what deploy-v<N> is named after)."""
    return int(package_arn.rsplit("/", 1)[-1])


def published(cloud: LocalCloud) -> PipelineDriver:
    """A driver of the stack's training pipeline, with the model code of this checkout published as `dev`, the
    code version a dev stack's runs train with (`cd4ml model publish` does the same for a user)."""
    driver = PipelineDriver(cloud)
    driver.publish_code("dev")
    return driver


def train(cloud: LocalCloud, seed: int = 1, rows: int = 8_000) -> str:
    """Publish the model code as `dev`, upload two weeks of generated orders and follow the training run the upload
    starts, as a user would; the ARN of the version it registered. Fails the test (naming the cause) unless the run
    succeeded."""
    driver = published(cloud)
    orders = generate_orders(rows, seed=seed, start=START, days=14)
    run = driver.run(orders, f"datasets/orders/{START:%Y-%m-%d}/orders.csv")
    assert run.status == "SUCCEEDED", run.cause
    return str(run.outcome["model_package_arn"])


def describe_package(cloud: LocalCloud, package_arn: str) -> dict[str, Any]:
    """The registry's description of a version, as it is now (deploying a version adds to its metadata)."""
    described: dict[str, Any] = cloud.client("sagemaker").describe_model_package(ModelPackageName=package_arn)
    return described


def execution_arn(cloud: LocalCloud, machine: str, name: str) -> str:
    """The ARN an execution `name` of the stack's state machine `machine` (a logical id) has, started or not."""
    return cloud.execution_arn(machine, name)


def ended(cloud: LocalCloud, arn: str, timeout: float = 240.0) -> dict[str, Any]:
    """The execution `arn`, described once it ended. It may not exist yet: the events that start it (an upload, an
    approval) are delivered asynchronously, so a missing execution is waited for like a running one."""
    return cloud.wait_for_execution(arn, timeout, started_by_event=True)


def deployment(cloud: LocalCloud, version: int, timeout: float = 120.0, name: str = "") -> dict[str, Any]:
    """The deployment workflow's execution of a version (deploy-v<N>, or the execution `name`), once it ended."""
    return ended(cloud, execution_arn(cloud, "DeploymentStateMachine", name or f"deploy-v{version}"), timeout)


def deployed_model(cloud: LocalCloud, timeout: float = 120.0) -> dict[str, Any]:
    """A model trained by the stack's pipeline, registered Approved and put in service by its own deployment
    workflow (the stack's stage must approve what passes the gate): its version, described. Fails the test unless
    the deployment succeeded within `timeout` seconds."""
    arn = train(cloud)
    execution = deployment(cloud, version_of(arn), timeout)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    return describe_package(cloud, arn)


def endpoint(cloud: LocalCloud) -> dict[str, Any]:
    """The stack's endpoint, described."""
    described: dict[str, Any] = cloud.client("sagemaker").describe_endpoint(
        EndpointName=cloud.stack.outputs["EndpointName"]
    )
    return described


def register_like(
    cloud: LocalCloud,
    package: dict[str, Any],
    container: dict[str, Any] | None = None,
    model_metrics: dict[str, Any] | None = None,
    approval: str = "Approved",
) -> str:
    """A new version of `package`'s group made of its artifacts, as the pipeline's Register step would make it (with
    `container` changed, or other `model_metrics`); its ARN. Approved, it starts a deployment; left pending, none."""
    changed = {**package["InferenceSpecification"]["Containers"][0], **(container or {})}
    changed.pop("ImageDigest", None)  # the registry's own, for the image of the original
    created = cloud.client("sagemaker").create_model_package(
        ModelPackageGroupName=package["ModelPackageGroupName"],
        InferenceSpecification={**package["InferenceSpecification"], "Containers": [changed]},
        ModelMetrics=package["ModelMetrics"] if model_metrics is None else model_metrics,
        CustomerMetadataProperties=package["CustomerMetadataProperties"],
        ModelApprovalStatus=approval,
    )
    return str(created["ModelPackageArn"])


class Inbox:
    """An SQS queue of the local cloud that a test points what it listens to at (a topic's subscription, an
    EventBridge rule's target), and reads as a subscriber would."""

    def __init__(self, cloud: LocalCloud, name: str) -> None:
        self.sqs = cloud.client("sqs")
        self.url: str = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]
        self.arn: str = attributes["QueueArn"]

    @classmethod
    def notifications(cls, cloud: LocalCloud, name: str) -> Inbox:
        """A queue subscribed to the stack's notification topic (what the team's e-mail receives)."""
        inbox = cls(cloud, name)
        cloud.client("sns").subscribe(
            TopicArn=cloud.physical_id("NotificationTopic"), Protocol="sqs", Endpoint=inbox.arn
        )
        return inbox

    def take(self, wait_s: int = 0) -> list[dict[str, Any]]:
        """The bodies of what has arrived (one receive: up to 10 messages, waiting up to `wait_s` seconds for the
        first), parsed; each is deleted once read, so a later take sees only newer messages."""
        receive: dict[str, Any] = {"QueueUrl": self.url, "MaxNumberOfMessages": 10}
        if wait_s:
            receive["WaitTimeSeconds"] = wait_s
        bodies = []
        for message in self.sqs.receive_message(**receive).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return bodies
