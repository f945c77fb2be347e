"""The project's template.yaml on the local cloud: what a user gets from `sam deploy`, on one machine."""

import json

import pytest

from cd4ml.localcloud import LocalCloud


@pytest.fixture(scope="module")
def project_cloud(root):
    with LocalCloud.deployed(root / "template.yaml") as cloud:
        yield cloud


def test_project_template_deploys_encrypted_private_storage(project_cloud):
    stack = project_cloud.stack
    s3 = project_cloud.client("s3")
    for logical_id in ("RawDataBucket", "ArtifactsBucket"):
        bucket = stack.physical_id(logical_id)
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_project_template_outputs_resolve_to_local_resources(project_cloud):
    outputs = project_cloud.stack.outputs
    assert outputs["RawDataBucketName"] == project_cloud.physical_id("RawDataBucket")
    assert outputs["NotificationTopicArn"].startswith("arn:aws:sns:us-east-1:123456789012:")
    kinesis = project_cloud.client("kinesis").describe_stream_summary(StreamName=outputs["GroundTruthStreamName"])
    assert kinesis["StreamDescriptionSummary"]["EncryptionType"] == "KMS"
    table = project_cloud.client("dynamodb").describe_time_to_live(TableName=outputs["TaskTokenTableName"])
    assert table["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_a_dataset_upload_starts_the_training_pipeline_and_other_keys_start_nothing(project_cloud):
    # the TLS-only bucket policy must not lock out the local endpoint, and EventBridge notifications are on
    bucket = project_cloud.physical_id("RawDataBucket")
    key = "datasets/x/2026-11-25/x.csv"
    s3 = project_cloud.client("s3")
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key="notes/2026-11-25/readme.txt", Body=b"not data")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"a\n1\n"
    project_cloud.wait_idle()

    started = [d for d in project_cloud.router.deliveries if d.source == "aws.s3"]
    assert [d.target_arn for d in started] == [project_cloud.attribute("StartPipelineFunction", "Arn")]
    unmatched = [json.loads(e["detail"]) for e in project_cloud.router.unmatched if e["source"] == "aws.s3"]
    assert [e["object"]["key"] for e in unmatched] == ["notes/2026-11-25/readme.txt"]
    (execution,) = project_cloud.wait_for_executions("TrainingPipeline")
    described = project_cloud.wait_for_execution(execution["executionArn"])
    # no contract is declared for a dataset named "x": the upload is quarantined, with the version that came in
    assert described["error"] == "DataQuality.Quarantined" and "no contract for dataset 'x'" in described["cause"]
    head = s3.head_object(Bucket=bucket, Key="quarantine/" + key)
    assert head["Metadata"]["quarantine-reason"] == "dataset.unknown"
    assert json.loads(described["input"])["dataset"]["version_id"] == put["VersionId"]


ASYNC_FUNCTIONS = [
    "StartPipelineFunction",
    "JobCompletionFunction",
    "StartDeploymentFunction",
    "StartScoringFunction",
    "RequestRetrainingFunction",
]


@pytest.mark.parametrize("function", ASYNC_FUNCTIONS)
def test_every_function_eventbridge_invokes_has_the_function_dead_letter_queue(project_cloud, function):
    config = project_cloud.client("lambda").get_function_configuration(FunctionName=project_cloud.physical_id(function))
    assert config["DeadLetterConfig"]["TargetArn"] == project_cloud.attribute("FunctionDeadLetterQueue", "Arn")


def test_an_event_a_function_keeps_failing_on_lands_in_the_function_dead_letter_queue(project_cloud, root):
    # an Object Created event whose object has no key: the starter cannot name a run and raises on every attempt
    event = json.loads((root / "events" / "s3_object_created.json").read_text())
    event["detail"]["bucket"]["name"] = project_cloud.physical_id("RawDataBucket")
    del event["detail"]["object"]["key"]
    project_cloud.client("lambda").invoke(
        FunctionName=project_cloud.physical_id("StartPipelineFunction"),
        InvocationType="Event",
        Payload=json.dumps(event).encode(),
    )
    project_cloud.wait_idle()

    sqs = project_cloud.client("sqs")
    queue = project_cloud.stack.outputs["FunctionDeadLetterQueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"]) == event
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["RequestID"] and attributes["ErrorMessage"]
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["SqsManagedSseEnabled"])["Attributes"] == {
        "SqsManagedSseEnabled": "true"
    }


def test_outside_prod_no_function_reserves_concurrency(project_cloud):
    lambda_ = project_cloud.client("lambda")
    for function in ("ValidateDatasetFunction", "MonitorWindowFunction", "RequestRetrainingFunction"):
        assert "ReservedConcurrentExecutions" not in lambda_.get_function_concurrency(
            FunctionName=project_cloud.physical_id(function)
        )
