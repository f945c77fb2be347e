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
