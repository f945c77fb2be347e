"""Every message published to a topic reaches the local cloud's SNS listeners (an e-mail subscriber reaches nobody
locally, so `cd4ml local up` shows notifications through them), after its subscribers got it."""

import inspect
import json

import boto3
import pytest
from moto import mock_aws

from cd4ml.localcloud import sns


@pytest.fixture
def heard():
    received: list[tuple[str, str | None, str]] = []

    def listener(topic_arn: str, subject: str | None, message: str) -> None:
        received.append((topic_arn, subject, message))

    def broken(topic_arn: str, subject: str | None, message: str) -> None:
        raise RuntimeError("a listener that fails must not fail the publish")

    sns.install()
    before = list(sns.listeners)
    sns.listeners.extend([broken, listener])
    yield received
    sns.listeners[:] = before


def test_the_topic_hook_point_is_where_the_listeners_expect_it():
    from moto.sns.models import Topic

    assert list(inspect.signature(inspect.unwrap(Topic.publish)).parameters)[:3] == ["self", "message", "subject"]


def test_a_published_notification_reaches_the_listeners_and_the_subscribers(heard):
    with mock_aws():
        client, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        topic = client.create_topic(Name="cd4ml-dev-NotificationTopic")["TopicArn"]
        client.subscribe(TopicArn=topic, Protocol="email", Endpoint="ml-team@example.com")
        queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        body = json.dumps({"run_id": "orders-run", "status": "succeeded"})

        client.publish(TopicArn=topic, Subject="cd4ml model registered: orders-run", Message=body)
        client.publish(TopicArn=topic, Message="no subject")

        assert heard == [(topic, "cd4ml model registered: orders-run", body), (topic, None, "no subject")]
        (delivered, _) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        assert json.loads(delivered["Body"])["Message"] == body


def test_without_listeners_publishing_is_moto_s_own(heard):
    sns.listeners.clear()
    with mock_aws():
        client = boto3.client("sns", region_name="us-east-1")
        topic = client.create_topic(Name="quiet")["TopicArn"]
        assert client.publish(TopicArn=topic, Message="m")["MessageId"]
    assert heard == []
