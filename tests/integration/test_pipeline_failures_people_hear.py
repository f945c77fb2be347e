"""What a person reads when a run goes wrong, on the project template deployed on the local cloud: a task that timed
out names its state, its job and its limit; a notification that could not be published fails the run (after its
outcome is recorded) instead of letting it succeed unheard; and the notifications reach an e-mail subscriber.

The failure paths run the real states of statemachines/training_pipeline.asl.json with the deployed functions,
entered at the state under test (a copy of the deployed definition with another StartAt), so no model is trained."""

import json

import pytest

from cd4ml.localcloud import LocalCloud
from cd4ml.localcloud import sns as local_sns
from cd4ml.model_code import sourcedir
from cd4ml.pipeline_driver import PipelineDriver

pytestmark = pytest.mark.integration

EMAIL = "ml-team@example.com"


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud.deployed(root / "template.yaml", {"Stage": "dev", "NotificationEmail": EMAIL}) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def driver(cloud):
    driver = PipelineDriver(cloud)
    driver.publish_code("dev")
    return driver


@pytest.fixture
def heard():
    """Every message the local cloud's topics publish (what the e-mail subscriber would read)."""
    messages: list[tuple[str, str | None, str]] = []
    local_sns.listeners.append(lambda topic, subject, message: messages.append((topic, subject, message)))
    yield messages
    local_sns.listeners.pop()


def entered_at(cloud, state: str, run_input: dict) -> dict:
    """Run the deployed pipeline's definition from `state` with `run_input` as the state there; the execution's
    description when it ends."""
    sfn = cloud.client("stepfunctions")
    pipeline = sfn.describe_state_machine(stateMachineArn=cloud.physical_id("TrainingPipeline"))
    definition = json.loads(pipeline["definition"])
    definition["StartAt"] = state
    name = f"from-{state.lower()}-{run_input['run_id'][-12:]}"
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=pipeline["roleArn"])[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, name=run_input["run_id"], input=json.dumps(run_input))
    return cloud.wait_for_execution(execution["executionArn"], timeout=60)


def run_input(driver, run_id: str, job_prefix: str) -> dict:
    return {
        "run_id": run_id,
        "job_prefix": job_prefix,
        "dataset": {"bucket": driver.raw_bucket, "key": f"datasets/orders/2026-11-25/{run_id}.csv"},
        "artifacts_bucket": driver.artifacts_bucket,
        "timeouts": {"processing": 3, "training": 3},
    }


def test_the_notification_email_is_subscribed_to_the_topic(cloud):
    sns = cloud.client("sns")
    topic = cloud.physical_id("NotificationTopic")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", EMAIL)]


def test_a_timed_out_training_task_names_its_state_job_and_limit(cloud, driver, heard):
    s3 = cloud.client("s3")
    key = "code/dev/sourcedir.tar.gz"
    s3.put_object(
        Bucket=driver.artifacts_bucket, Key=key, Body=sourcedir({"train.py": b"import time\ntime.sleep(20)\n"})
    )
    state = run_input(driver, "orders-train-timed-out", "cd4ml-00000000000071de")
    for split in ("train", "validation"):  # the channels the training job downloads before train.py sleeps
        s3.put_object(
            Bucket=driver.artifacts_bucket, Key=f"runs/{state['run_id']}/features/{split}/part.parquet", Body=b"x"
        )
    try:
        described = entered_at(cloud, "Train", state)
    finally:
        driver.publish_code("dev")

    assert described["status"] == "FAILED" and described["error"] == "Pipeline.Failed"
    cloud.wait_idle()
    outcome = driver.outcome(state["run_id"])
    (reason,) = outcome["reasons"]
    assert reason.startswith("States.Timeout: Train timed out after 3 s (timeouts.training")
    assert "SageMaker training job cd4ml-00000000000071de-train-0 to end" in reason
    ((subject, message),) = [(s, m) for _, s, m in heard if json.loads(m)["run_id"] == state["run_id"]]
    assert subject == f"cd4ml run failed: {state['run_id']}" and json.loads(message)["reasons"] == [reason]


@pytest.mark.parametrize(("state", "status"), [("RecordSuccess", "succeeded"), ("RecordGatedOut", "gated_out")])
def test_a_run_whose_notification_fails_ends_in_notification_failed(cloud, driver, state, status):
    sns = cloud.client("sns")
    topic = cloud.physical_id("NotificationTopic")
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    sns.delete_topic(TopicArn=topic)  # publishing now fails, as with a deleted topic or a disabled key
    run = run_input(driver, f"orders-unheard-{status.replace('_', '-')}", "cd4ml-000000000000dead")
    if status == "gated_out":
        run["gate"] = {"passed": False, "reasons": ["pr_auc 0.1000 below the stage's minimum 0.2000"], "checks": []}
    try:
        described = entered_at(cloud, state, run)
    finally:
        recreated = sns.create_topic(Name=topic.rsplit(":", 1)[1], Attributes={"KmsMasterKeyId": "alias/aws/sns"})
        assert recreated["TopicArn"] == topic and attributes["TopicArn"] == topic

    assert described["status"] == "FAILED" and described["error"] == "NotificationFailed"
    assert "nobody was told" in described["cause"]
    outcome = driver.outcome(run["run_id"])
    assert outcome["status"] == status and topic in outcome["notification_error"]
