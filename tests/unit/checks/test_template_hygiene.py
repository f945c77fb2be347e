"""The template's hygiene, on what SAM makes of it: retrying EventBridge targets have an encrypted dead-letter queue,
the prod buckets write access logs to a private, encrypted, expiring log bucket, and the SageMaker role pulls only
from the repositories of the two image parameters."""

import pytest
from resolved_template import resolved as resolved_in

from cd4ml.localcloud.deploy.template import load_template, transform_template
from cd4ml.template_checks import delivery_problems

REGION, STACK = "us-east-1", "cd4ml-prod"


@pytest.fixture(scope="module")
def transformed(root):
    return transform_template(load_template(root / "template.yaml"), {}, root, REGION)


def resolved(transformed, logical_id: str, **parameters: str) -> dict:
    return resolved_in(transformed, logical_id, region=REGION, stack=STACK, **parameters)


def test_every_retrying_rule_target_has_an_encrypted_dead_letter_queue(transformed):
    assert delivery_problems(transformed.resources) == []
    rules = {k: r for k, r in transformed.resources.items() if r["Type"] == "AWS::Events::Rule"}
    for logical_id in ("StartPipelineFunctionDatasetUploaded", "JobCompletionFunctionTrainingJobEnded"):
        (target,) = rules[logical_id]["Properties"]["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}}
    queues = [k for k, r in transformed.resources.items() if r["Type"] == "AWS::SQS::Queue"]
    assert "EventDeadLetterQueue" in queues and "StartPipelineFunctionDatasetUploadedQueue" not in queues


def test_a_retrying_target_without_a_dead_letter_queue_and_a_plain_queue_are_named():
    resources = {
        "Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {"Targets": [{"Id": "T", "Arn": "arn", "RetryPolicy": {"MaximumRetryAttempts": 3}}]},
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Encrypted": {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}},
    }
    assert delivery_problems(resources) == [
        "rule Rule target T retries but has no DeadLetterConfig",
        "queue Queue is not encrypted (SqsManagedSseEnabled or KmsMasterKeyId)",
    ]


def test_prod_buckets_log_access_to_a_private_encrypted_expiring_bucket(transformed):
    for bucket, prefix in (("RawDataBucket", "raw-data/"), ("ArtifactsBucket", "artifacts/")):
        assert resolved(transformed, bucket, Stage="prod")["LoggingConfiguration"] == {
            "DestinationBucketName": "AccessLogsBucket",
            "LogFilePrefix": prefix,
        }
        assert "LoggingConfiguration" not in resolved(transformed, bucket, Stage="dev")
    logs = transformed.resources["AccessLogsBucket"]
    assert logs["Condition"] == "IsProd" and transformed.resources["AccessLogsBucketPolicy"]["Condition"] == "IsProd"
    props = resolved(transformed, "AccessLogsBucket", Stage="prod")
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"  # S3 log delivery cannot write under SSE-KMS
    }
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == "90"
    (grant, _) = resolved(transformed, "AccessLogsBucketPolicy", Stage="prod")["PolicyDocument"]["Statement"]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert grant["Condition"]["ArnLike"]["aws:SourceArn"] == ["RawDataBucket.Arn", "ArtifactsBucket.Arn"]


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
            "arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost",
        ),
        (
            "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/cd4ml-model@sha256:" + "a" * 64,
            "arn:aws:ecr:eu-west-1:111122223333:repository/team/cd4ml-model",
        ),
    ],
)
def test_the_sagemaker_role_pulls_only_from_the_image_repositories(transformed, image, repository):
    (policy,) = resolved(transformed, "SageMakerExecutionRole", TrainingImageUri=image)["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    token, pull = (s for s in statements if any(str(a).startswith("ecr:") for a in _actions(s)))
    assert _actions(token) == ["ecr:GetAuthorizationToken"] and token["Resource"] == "*"  # AWS allows only "*"
    # the processing image is left empty: the region's framework image (template Mappings FrameworkImages)
    assert pull["Resource"] == [repository, "arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost"]


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]
