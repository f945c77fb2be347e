"""SageMaker jobs on the local cloud: training, processing and transform jobs run their code through boto3."""

import io
import json
import tarfile
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cd4ml.localcloud import LocalCloud, Settings
from cd4ml.localcloud.sagemaker.images import local_gpu_count

FIXTURES = Path(__file__).parent / "fixtures" / "sagemaker_jobs"
BUCKET = "ml-artifacts"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TRAINING_DATA = b"tenure,charges,churned\n1,70.5,1\n24,30.0,0\n3,99.9,1\n60,20.1,0\n"


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _folder(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def _untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud(settings=Settings(job_stop_grace_s=1.0, checkpoint_sync_interval_s=0.2)) as cloud:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=_tar_gz(_folder(FIXTURES / "training")))
        s3.put_object(Bucket=BUCKET, Key="datasets/churn/train/data.csv", Body=TRAINING_DATA)
        # every training job state change lands in a queue, as a rule with an SQS target delivers it
        sqs = cloud.client("sqs")
        queue_url = sqs.create_queue(QueueName="training-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = cloud.client("events")
        events.put_rule(
            Name="training-state",
            EventPattern=json.dumps(
                {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Training Job State Change"]}
            ),
        )
        events.put_targets(Rule="training-state", Targets=[{"Id": "queue", "Arn": queue_arn}])
        other_url = sqs.create_queue(QueueName="other-job-events")["QueueUrl"]
        other_arn = sqs.get_queue_attributes(QueueUrl=other_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="other-job-states",
            EventPattern=json.dumps(
                {
                    "source": ["aws.sagemaker"],
                    "detail-type": ["SageMaker Processing Job State Change", "SageMaker Transform Job State Change"],
                }
            ),
        )
        events.put_targets(Rule="other-job-states", Targets=[{"Id": "queue", "Arn": other_arn}])
        yield cloud


def _training(cloud, name, program, *, hyperparameters=None, instance_type="ml.m5.large", **overrides):
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": SKLEARN,
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": "validation:auc", "Regex": r"validation-auc:([0-9.]+)"},
                {"Name": "train:loss", "Regex": r"train-loss:([0-9.]+)"},
            ],
        },
        "HyperParameters": {
            "sagemaker_program": json.dumps(program),
            "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/sourcedir.tar.gz"),
            **(hyperparameters or {}),
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/datasets/churn/train"}
                },
                "ContentType": "text/csv",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        "Tags": [{"Key": "project", "Value": "churn"}],
    }
    request.update(overrides)
    cloud.client("sagemaker").create_training_job(**request)
    return name


def _model_files(cloud, name):
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key=f"models/{name}/output/model.tar.gz")["Body"].read()
    return _untar(body)


@pytest.fixture(scope="module")
def trained(cloud):
    name = _training(cloud, "churn-train-1", "train.py", hyperparameters={"epochs": "3", "learning-rate": "0.1"})
    return cloud.sagemaker_jobs.wait(name, timeout=60)


def test_training_job_completes_and_uploads_its_model(cloud, trained):
    assert trained["TrainingJobStatus"] == "Completed"
    assert trained["SecondaryStatus"] == "Completed"
    files = _model_files(cloud, "churn-train-1")
    assert json.loads(files["model.json"]) == {"positives": 2, "rows": 4}
    assert trained["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{BUCKET}/models/churn-train-1/output/model.tar.gz"
    output = cloud.client("s3").get_object(Bucket=BUCKET, Key="models/churn-train-1/output/output.tar.gz")
    assert _untar(output["Body"].read()) == {"report.txt": b"done\n"}


def test_training_job_reports_aws_statuses_times_and_billing(trained):
    statuses = [t["Status"] for t in trained["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert trained["CreationTime"] <= trained["TrainingStartTime"] <= trained["TrainingEndTime"]
    assert trained["BillableTimeInSeconds"] >= 1 and trained["TrainingTimeInSeconds"] >= 1
    assert "FailureReason" not in trained


def test_final_metrics_are_the_last_value_of_each_metric_definition(trained):
    metrics = {m["MetricName"]: m["Value"] for m in trained["FinalMetricDataList"]}
    assert metrics == {"validation:auc": 0.87, "train:loss": 0.25}
    # the request's metric definitions are kept (moto alone replaces them with its own)
    assert trained["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"] == "validation:auc"


def test_hyperparameters_reach_the_script_as_arguments_and_sm_variables(cloud, trained):
    seen = json.loads(_model_files(cloud, "churn-train-1")["seen.json"])
    assert seen["argv"] == ["--epochs", "3", "--learning-rate", "0.1"]  # toolkit keys are not arguments
    assert seen["sm_hps"] == {"epochs": 3, "learning-rate": 0.1}  # JSON-decoded, as the toolkit does
    assert seen["hyperparameters_file"]["epochs"] == "3"  # the file keeps the API's strings
    assert seen["channels"] == ["train"]
    assert seen["training_env_job"] == "churn-train-1"


def test_cpu_instance_runs_on_the_cpu(cloud, trained):
    seen = json.loads(_model_files(cloud, "churn-train-1")["seen.json"])
    assert seen["sm_num_gpus"] == "0"
    assert seen["cuda_visible_devices"] == ""  # hides any GPU of this machine
    assert "runs on the CPU" in cloud.sagemaker_jobs.job("churn-train-1").log_path.read_text()


@pytest.fixture
def two_local_gpus(monkeypatch):
    """This machine seen as having two GPUs (CD4ML_LOCAL_GPUS overrides the nvidia-smi count)."""
    monkeypatch.setenv("CD4ML_LOCAL_GPUS", "2")
    local_gpu_count.cache_clear()
    yield
    local_gpu_count.cache_clear()


@pytest.mark.parametrize("gpus", ["this machine", "two"])
def test_gpu_instance_gets_the_gpus_of_this_machine(cloud, gpus, request):
    if gpus == "two":
        request.getfixturevalue("two_local_gpus")
    expected = local_gpu_count()
    name = _training(
        cloud,
        f"churn-train-gpu-{expected}",
        "train.py",
        hyperparameters={"epochs": "1", "learning-rate": "0.1"},
        instance_type="ml.g5.xlarge",
    )
    assert cloud.sagemaker_jobs.wait(name)["TrainingJobStatus"] == "Completed"
    seen = json.loads(_model_files(cloud, name)["seen.json"])
    assert seen["sm_num_gpus"] == str(expected)
    assert seen["cuda_visible_devices"] == ",".join(str(i) for i in range(expected))
    log = cloud.sagemaker_jobs.job(name).log_path.read_text()
    assert (f"{expected} GPU(s) of this machine" if expected else "this machine has no GPU") in log


def test_training_log_is_in_cloudwatch_logs(cloud, trained):
    logs = cloud.client("logs")
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="churn-train-1/"
    )
    [stream] = streams["logStreams"]
    assert stream["logStreamName"].startswith("churn-train-1/algo-1-")
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"], startFromHead=True
    )["events"]
    messages = [e["message"] for e in events]
    assert "epoch 0 validation-auc:0.80" in messages
    assert any("read 4 rows" in m for m in messages)


_RECEIVED: list[dict] = []  # every training event taken from the queue so far, for all tests


def _training_events(cloud, name, until_status, timeout=20.0):
    sqs = cloud.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="training-events")["QueueUrl"]
    found = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cloud.router.wait_idle(5)
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            _RECEIVED.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        found = [e for e in _RECEIVED if e["detail"]["TrainingJobName"] == name]
        if any(e["detail"]["TrainingJobStatus"] == until_status for e in found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {until_status} event for {name}: {[e['detail']['TrainingJobStatus'] for e in found]}")


def test_state_change_events_reach_a_rule_with_the_describe_shape(cloud, trained):
    events = _training_events(cloud, "churn-train-1", "Completed")
    first, last = events[0], events[-1]
    assert (first["detail"]["TrainingJobStatus"], first["detail"]["SecondaryStatus"]) == ("InProgress", "Starting")
    assert (last["detail"]["TrainingJobStatus"], last["detail"]["SecondaryStatus"]) == ("Completed", "Completed")
    assert [e["detail"]["SecondaryStatus"] for e in events] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    arn = trained["TrainingJobArn"]
    assert last["source"] == "aws.sagemaker" and last["resources"] == [arn]
    assert last["detail-type"] == "SageMaker Training Job State Change"
    detail = last["detail"]
    assert detail["TrainingJobArn"] == arn
    assert detail["HyperParameters"]["epochs"] == "3"
    assert detail["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert detail["ModelArtifacts"]["S3ModelArtifacts"].endswith("churn-train-1/output/model.tar.gz")
    assert detail["Tags"] == {"project": "churn"}  # a map in events, a list in the API
    # times are epoch milliseconds in events
    assert isinstance(detail["CreationTime"], int) and detail["CreationTime"] > 1_600_000_000_000
    assert detail["TrainingStartTime"] <= detail["TrainingEndTime"]
    assert isinstance(detail["SecondaryStatusTransitions"][0]["StartTime"], int)
    assert {m["MetricName"] for m in detail["FinalMetricDataList"]} == {"validation:auc", "train:loss"}


def test_failure_file_becomes_the_failure_reason(cloud):
    name = _training(cloud, "churn-train-fails", "fail.py")
    result = cloud.sagemaker_jobs.wait(name)
    assert result["TrainingJobStatus"] == "Failed" and result["SecondaryStatus"] == "Failed"
    assert result["FailureReason"] == "DataError: column 'tenure' is missing from the training channel"
    last = _training_events(cloud, name, "Failed")[-1]["detail"]
    assert last["FailureReason"] == result["FailureReason"]


def test_crash_reports_exit_code_and_the_end_of_stderr(cloud):
    name = _training(cloud, "churn-train-crashes", "crash.py")
    result = cloud.sagemaker_jobs.wait(name)
    assert result["TrainingJobStatus"] == "Failed"
    reason = result["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n")
    assert "ZeroDivisionError: division by zero" in reason
    assert 'crash.py", line 4' in reason and "sagemaker_container" not in reason  # the user's frames only
    assert reason.endswith("exit code: 1")


def test_max_runtime_stops_the_job_as_aws_does(cloud):
    started = time.monotonic()
    name = _training(cloud, "churn-train-too-long", "sleep.py", StoppingCondition={"MaxRuntimeInSeconds": 2})
    result = cloud.sagemaker_jobs.wait(name, timeout=30)
    assert time.monotonic() - started < 10
    assert (result["TrainingJobStatus"], result["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert "FailureReason" not in result
    # what the script saved in its SIGTERM window is uploaded
    assert _model_files(cloud, name) == {"partial.txt": b"saved on SIGTERM\n"}


def test_stop_training_job_stops_the_process(cloud):
    sagemaker = cloud.client("sagemaker")
    started = time.monotonic()
    name = _training(cloud, "churn-train-stopped", "sleep.py")
    assert time.monotonic() - started < 5  # the create call does not wait for the job
    job = cloud.sagemaker_jobs.job(name)
    deadline = time.monotonic() + 15
    while job.logbook.first_output is None and time.monotonic() < deadline:
        time.sleep(0.05)
    sagemaker.stop_training_job(TrainingJobName=name)
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    result = cloud.sagemaker_jobs.wait(name, timeout=20)
    assert (result["TrainingJobStatus"], result["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert job.process.poll() is not None
    with pytest.raises(ClientError, match="in status Stopped"):
        sagemaker.stop_training_job(TrainingJobName=name)


def test_stopping_an_unknown_job_is_not_found(cloud):
    with pytest.raises(ClientError) as caught:
        cloud.client("sagemaker").stop_training_job(TrainingJobName="no-such-job")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFound"


def test_checkpoints_are_uploaded_and_the_next_job_resumes_from_them(cloud):
    checkpoints = {"S3Uri": f"s3://{BUCKET}/checkpoints/churn", "LocalPath": "/opt/ml/checkpoints"}
    first = _training(cloud, "churn-train-ckpt-1", "checkpoint.py", CheckpointConfig=checkpoints)
    assert cloud.sagemaker_jobs.wait(first)["TrainingJobStatus"] == "Completed"
    stored = cloud.client("s3").get_object(Bucket=BUCKET, Key="checkpoints/churn/state.json")["Body"].read()
    assert json.loads(stored) == {"step": 1}
    second = _training(cloud, "churn-train-ckpt-2", "checkpoint.py", CheckpointConfig=checkpoints)
    assert cloud.sagemaker_jobs.wait(second)["TrainingJobStatus"] == "Completed"
    assert json.loads(_model_files(cloud, second)["state.json"]) == {"step": 2}
    assert "resumed from step 1" in cloud.sagemaker_jobs.job(second).log_path.read_text()


def test_checkpoints_reach_s3_while_the_job_still_runs(cloud):
    checkpoints = {"S3Uri": f"s3://{BUCKET}/checkpoints/periodic"}
    name = _training(cloud, "churn-train-ckpt-live", "checkpoint_and_wait.py", CheckpointConfig=checkpoints)
    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="checkpoints/periodic/").get("Contents", [])
        if listed:
            break
        time.sleep(0.1)
    assert [o["Key"] for o in listed] == ["checkpoints/periodic/epoch-1.json"]
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress"
    sagemaker.stop_training_job(TrainingJobName=name)
    assert cloud.sagemaker_jobs.wait(name)["TrainingJobStatus"] == "Stopped"


def test_spot_training_needs_a_max_wait_at_least_the_max_runtime(cloud):
    with pytest.raises(ClientError, match="MaxWaitTimeInSeconds must be greater than or equal to MaxRuntimeInSeconds"):
        _training(
            cloud,
            "churn-train-spot-bad",
            "noop.py",
            EnableManagedSpotTraining=True,
            StoppingCondition={"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 300},
        )
    name = _training(
        cloud,
        "churn-train-spot",
        "noop.py",
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200},
    )
    result = cloud.sagemaker_jobs.wait(name)
    assert result["TrainingJobStatus"] == "Completed" and result["EnableManagedSpotTraining"] is True
    assert result["StoppingCondition"]["MaxWaitTimeInSeconds"] == 1200


def test_manifest_channel_and_local_source_directory(cloud):
    s3 = cloud.client("s3")
    manifest = [{"prefix": f"s3://{BUCKET}/datasets/churn/"}, "train/data.csv"]
    s3.put_object(Bucket=BUCKET, Key="manifests/churn.json", Body=json.dumps(manifest).encode())
    channel = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": f"s3://{BUCKET}/manifests/churn.json"}},
    }
    name = _training(
        cloud,
        "churn-train-manifest",
        "noop.py",
        InputDataConfig=[channel],
        # a local folder stands in for the S3 sourcedir.tar.gz (a local-cloud convenience)
        hyperparameters={"sagemaker_submit_directory": json.dumps((FIXTURES / "training").as_uri())},
    )
    assert cloud.sagemaker_jobs.wait(name)["TrainingJobStatus"] == "Completed"
    job = cloud.sagemaker_jobs.job(name)
    assert (job.directory / "input" / "data" / "train" / "train" / "data.csv").read_bytes() == TRAINING_DATA
    assert "started" in job.log_path.read_text()


def test_several_jobs_run_at_once(cloud):
    names = [_training(cloud, f"churn-train-parallel-{i}", "noop.py") for i in range(3)]
    results = [cloud.sagemaker_jobs.wait(name) for name in names]
    assert [r["TrainingJobStatus"] for r in results] == ["Completed"] * 3
    listed = cloud.client("sagemaker").list_training_jobs(NameContains="churn-train-parallel")["TrainingJobSummaries"]
    assert {s["TrainingJobStatus"] for s in listed} == {"Completed"}


def test_missing_input_data_fails_with_the_aws_reason(cloud):
    channel = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/datasets/none/"}},
    }
    name = _training(cloud, "churn-train-no-data", "train.py", InputDataConfig=[channel])
    result = cloud.sagemaker_jobs.wait(name)
    assert result["TrainingJobStatus"] == "Failed"
    assert result["FailureReason"].startswith(
        f'ClientError: No S3 objects found under S3 URL "s3://{BUCKET}/datasets/none/" given in input data source.'
    )


def test_missing_program_fails_with_a_specific_reason(cloud):
    name = _training(cloud, "churn-train-no-program", "trian.py")
    result = cloud.sagemaker_jobs.wait(name)
    assert result["TrainingJobStatus"] == "Failed"
    assert (
        "entry point 'trian.py' (hyperparameter sagemaker_program) is not in the source directory"
        in (result["FailureReason"])
    )


def test_program_hyperparameter_that_is_not_a_json_string_fails_the_job(cloud):
    name = _training(cloud, "churn-train-bad-hp", "train.py", hyperparameters={"sagemaker_program": '["train.py"]'})
    result = cloud.sagemaker_jobs.wait(name)
    assert result["TrainingJobStatus"] == "Failed"
    assert result["FailureReason"] == (
        "ClientError: hyperparameter sagemaker_program must name the script to run, got '[\"train.py\"]'"
    )


def test_unsupported_image_is_refused_at_create(cloud):
    with pytest.raises(ClientError) as caught:
        _training(
            cloud,
            "churn-train-unknown-image",
            "train.py",
            AlgorithmSpecification={
                "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mystery:1",
                "TrainingInputMode": "File",
            },
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "has no local equivalent" in error["Message"] and "sagemaker-scikit-learn" in error["Message"]
    assert not cloud.client("sagemaker").list_training_jobs(NameContains="unknown-image")["TrainingJobSummaries"]


def test_a_job_name_aws_would_refuse_is_refused(cloud):
    with pytest.raises(ClientError, match="Member must satisfy regular expression pattern"):
        _training(cloud, "../escape", "train.py")


def test_reusing_a_job_name_is_refused(cloud, trained):
    with pytest.raises(ClientError, match="must be unique"):
        _training(cloud, "churn-train-1", "train.py")


def test_processing_job_evaluates_with_container_paths_and_uploads_its_output(cloud):
    s3 = cloud.client("s3")
    s3.put_object(Bucket=BUCKET, Key="code/evaluate.py", Body=(FIXTURES / "processing" / "evaluate.py").read_bytes())
    s3.put_object(Bucket=BUCKET, Key="eval/test/scores.csv", Body=b"score,label\n0.9,1\n0.2,0\n0.7,0\n0.6,1\n")
    cloud.client("sagemaker").create_processing_job(
        ProcessingJobName="churn-evaluate-1",
        ProcessingInputs=[
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/code/evaluate.py",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "test",
                "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/eval/test",
                    "LocalPath": "/opt/ml/processing/test",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "evaluation",
                    "S3Output": {
                        "S3Uri": f"s3://{BUCKET}/eval/report",
                        "LocalPath": "/opt/ml/processing/evaluation",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}},
        AppSpecification={
            "ImageUri": SKLEARN,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/evaluate.py"],
            "ContainerArguments": ["--threshold", "0.5"],
        },
        Environment={"STAGE": "dev"},
        RoleArn=ROLE,
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    result = cloud.sagemaker_jobs.wait("churn-evaluate-1", kind="processing")
    assert result["ProcessingJobStatus"] == "Completed", result.get("FailureReason")
    assert result["ProcessingStartTime"] <= result["ProcessingEndTime"]
    assert result["Environment"] == {"STAGE": "dev"}
    report = json.loads(s3.get_object(Bucket=BUCKET, Key="eval/report/evaluation.json")["Body"].read())
    assert report == {"metrics": {"accuracy": {"value": 0.75}}, "rows": 4, "threshold": 0.5}
    events = _other_events(cloud, "ProcessingJobName", "churn-evaluate-1")
    assert [e["detail"]["ProcessingJobStatus"] for e in events] == ["InProgress", "Completed"]
    detail = events[-1]["detail"]
    assert events[-1]["detail-type"] == "SageMaker Processing Job State Change"
    assert detail["ProcessingJobArn"] == result["ProcessingJobArn"]
    assert isinstance(detail["ProcessingEndTime"], int) and detail["ProcessingStartTime"] <= detail["ProcessingEndTime"]
    assert detail["AppSpecification"]["ContainerEntrypoint"][0] == "python3"


def _other_events(cloud, name_field, name, timeout=10.0):
    """Processing and transform events taken from their queue, once the job's terminal one has arrived."""
    sqs = cloud.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="other-job-events")["QueueUrl"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cloud.router.wait_idle(5)
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            _RECEIVED.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        found = [e for e in _RECEIVED if e["detail"].get(name_field) == name]
        statuses = {e["detail"].get("ProcessingJobStatus") or e["detail"].get("TransformJobStatus") for e in found}
        if statuses & {"Completed", "Failed", "Stopped"}:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no terminal event for {name}")


def test_processing_job_without_an_entrypoint_is_refused(cloud):
    with pytest.raises(ClientError, match="ContainerEntrypoint is required"):
        cloud.client("sagemaker").create_processing_job(
            ProcessingJobName="churn-evaluate-no-entrypoint",
            ProcessingResources={
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}
            },
            AppSpecification={"ImageUri": SKLEARN},
            RoleArn=ROLE,
        )


def test_transform_job_scores_each_line_with_the_models_inference_code(cloud):
    s3 = cloud.client("s3")
    model = _tar_gz(
        {
            "model.json": json.dumps({"weights": [0.5, -1.0], "bias": 0.25}).encode(),
            "code/inference.py": (FIXTURES / "inference" / "inference.py").read_bytes(),
        }
    )
    s3.put_object(Bucket=BUCKET, Key="models/linear/model.tar.gz", Body=model)
    s3.put_object(Bucket=BUCKET, Key="batch/in/day1/rows.csv", Body=b"1,2\n4,1\n\n0,0\n")
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model(
        ModelName="linear",
        PrimaryContainer={
            "Image": SKLEARN,
            "ModelDataUrl": f"s3://{BUCKET}/models/linear/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
        ExecutionRoleArn=ROLE,
    )
    sagemaker.create_transform_job(
        TransformJobName="linear-batch-1",
        ModelName="linear",
        BatchStrategy="SingleRecord",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/batch/in"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{BUCKET}/batch/out",
            "Accept": "application/json",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    result = cloud.sagemaker_jobs.wait("linear-batch-1", kind="transform")
    assert result["TransformJobStatus"] == "Completed", result.get("FailureReason")
    out = s3.get_object(Bucket=BUCKET, Key="batch/out/day1/rows.csv.out")["Body"].read().decode()
    assert [json.loads(line) for line in out.splitlines()] == [{"score": -1.25}, {"score": 1.25}, {"score": 0.25}]
    events = _other_events(cloud, "TransformJobName", "linear-batch-1")
    assert [e["detail"]["TransformJobStatus"] for e in events] == ["InProgress", "Completed"]
    assert events[-1]["detail"]["ModelName"] == "linear"


def test_transform_job_whose_handler_fails_reports_the_record(cloud):
    s3 = cloud.client("s3")
    s3.put_object(Bucket=BUCKET, Key="batch/bad/rows.json", Body=b'{"not": "csv"}\n')
    cloud.client("sagemaker").create_transform_job(
        TransformJobName="linear-batch-bad",
        ModelName="linear",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/batch/bad/"}},
            "ContentType": "application/json",
        },
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/batch/bad-out"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    result = cloud.sagemaker_jobs.wait("linear-batch-bad", kind="transform")
    assert result["TransformJobStatus"] == "Failed"
    assert result["FailureReason"].startswith("ClientError: rows.json: request 1 failed: AssertionError")


def test_transform_job_for_an_unknown_model_is_refused(cloud):
    with pytest.raises(ClientError, match="Could not find model"):
        cloud.client("sagemaker").create_transform_job(
            TransformJobName="ghost-batch",
            ModelName="ghost",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/x"}}},
            TransformOutput={"S3OutputPath": f"s3://{BUCKET}/y"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
