"""A state machine trains on SageMaker with the callback pattern: Lambda starts the job and stores the task
token, the job's EventBridge state change resumes the execution (ARCHITECTURE.md section 2)."""

import io
import json
import tarfile
from pathlib import Path

import pytest

from cd4ml.localcloud import LocalCloud

STACK = Path(__file__).parent / "stacks" / "training_callback"


def _sourcedir() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted((STACK / "code").iterdir()):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud.deployed(STACK / "template.yaml") as cloud:
        s3 = cloud.client("s3")
        bucket = cloud.physical_id("Artifacts")
        s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=_sourcedir())
        s3.put_object(Bucket=bucket, Key="data/train/data.csv", Body=b"amount,is_fraud\n12.5,0\n980.0,1\n33.1,0\n")
        yield cloud


def _run(cloud, run, program):
    arn = cloud.client("stepfunctions").start_execution(
        stateMachineArn=cloud.physical_id("Training"), name=run, input=json.dumps({"run": run, "program": program})
    )["executionArn"]
    return cloud.wait_for_execution(arn, timeout=90)


def test_a_completed_training_job_resumes_the_execution_with_its_model_and_metrics(cloud):
    execution = _run(cloud, "fraud-good", "train.py")

    assert execution["status"] == "SUCCEEDED", execution
    training = json.loads(execution["output"])["training"]
    bucket = cloud.physical_id("Artifacts")
    assert training["model"] == f"s3://{bucket}/models/fraud-good-0/output/model.tar.gz"
    assert training["metrics"] == {"validation:auc": pytest.approx(0.9125)}
    archive = cloud.client("s3").get_object(Bucket=bucket, Key="models/fraud-good-0/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(archive["Body"].read())) as tar:
        model = json.loads(tar.extractfile("model.json").read())
    assert model == {"max_depth": 4, "rows": 3, "gpus": 0}  # no GPU on this machine: the job ran on the CPU


def test_a_failed_training_job_fails_the_execution_with_its_reason(cloud):
    execution = _run(cloud, "fraud-broken", "broken.py")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Training.Failed"
    history = cloud.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
    [failed] = [e for e in history if e["type"] == "TaskFailed"]
    assert failed["taskFailedEventDetails"]["error"] == "TrainingJob.Failed"
    assert failed["taskFailedEventDetails"]["cause"] == "label column is_fraud is missing"
