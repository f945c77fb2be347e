"""The project's template deployed as prod on the local cloud: its access-log bucket, the encrypted dead-letter queue
of the pipeline's EventBridge rules, the SageMaker role's scoped pulls, and no e-mail subscription unless asked."""

import json

import pytest

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prod_cloud(root):
    with LocalCloud.deployed(root / "template.yaml", {"Stage": "prod"}) as cloud:
        yield cloud


def test_prod_keeps_access_logs_in_a_private_encrypted_expiring_bucket(prod_cloud):
    s3 = prod_cloud.client("s3")
    bucket = prod_cloud.physical_id("AccessLogsBucket")
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Expiration"] == {"Days": 90} and rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    grant = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    sources = {f"arn:aws:s3:::{prod_cloud.physical_id(b)}" for b in ("RawDataBucket", "ArtifactsBucket")}
    assert set(grant["Condition"]["ArnLike"]["aws:SourceArn"]) == sources
    for source, prefix in (("RawDataBucket", "raw-data/"), ("ArtifactsBucket", "artifacts/")):
        enabled = s3.get_bucket_logging(Bucket=prod_cloud.physical_id(source))["LoggingEnabled"]
        assert enabled == {"TargetBucket": bucket, "TargetPrefix": prefix}


def test_the_pipeline_rules_put_what_they_cannot_deliver_in_one_encrypted_queue(prod_cloud):
    sqs, events = prod_cloud.client("sqs"), prod_cloud.client("events")
    queue = prod_cloud.physical_id("EventDeadLetterQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["SqsManagedSseEnabled"] == "true"
    for rule in ("StartPipelineFunctionDatasetUploaded", "JobCompletionFunctionTrainingJobEnded"):
        (target,) = events.list_targets_by_rule(Rule=prod_cloud.physical_id(rule))["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": attributes["QueueArn"]}


def test_the_sagemaker_role_pulls_only_from_the_image_repository(prod_cloud):
    iam = prod_cloud.client("iam")
    role = prod_cloud.physical_id("SageMakerExecutionRole")
    document = iam.get_role_policy(RoleName=role, PolicyName="pipeline-jobs")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    (pull,) = [s for s in document["Statement"] if "ecr:BatchGetImage" in s["Action"]]
    assert set(pull["Resource"]) == {"arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost"}


def test_without_a_notification_email_nobody_is_subscribed(prod_cloud):
    topic = prod_cloud.physical_id("NotificationTopic")
    assert prod_cloud.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert "NotificationEmailSubscription" in prod_cloud.stack.skipped


def test_prod_reserves_and_caps_the_concurrency_of_the_heavy_functions(prod_cloud):
    lambda_ = prod_cloud.client("lambda")
    reserved = {
        function: lambda_.get_function_concurrency(FunctionName=prod_cloud.physical_id(function)).get(
            "ReservedConcurrentExecutions"
        )
        for function in (
            "ValidateDatasetFunction",
            "MonitorWindowFunction",
            "RequestRetrainingFunction",
            "DecideFunction",
        )
    }
    assert reserved == {
        "ValidateDatasetFunction": 10,
        "MonitorWindowFunction": 2,
        "RequestRetrainingFunction": 2,
        "DecideFunction": None,  # bounded by the API's throttling; it may use the whole unreserved pool
    }
