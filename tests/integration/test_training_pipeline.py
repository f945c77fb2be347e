"""The training pipeline of template.yaml on the local cloud: an upload becomes a validated, trained, evaluated, gated
and registered model; bad data is quarantined; duplicates, failures and worse challengers take their paths."""

import io
import json
import tarfile
import time
from datetime import timedelta

import pytest
from cd4ml_shared.run_input import DatasetRef, execution_name
from quick_model import fast_training
from trained_model import DEV_APPROVED, START, Inbox, published

from cd4ml.data import Fault, generate_orders
from cd4ml.localcloud import LocalCloud
from cd4ml.model_code import code_files, sourcedir

pytestmark = pytest.mark.integration

ROWS = 20_000
# Small, fast models for tests; thresholds the small model clears. The gate's logic has its own unit tests.
PARAMETERS = {**DEV_APPROVED, **fast_training(num_round=60, max_depth=4, early_stopping_rounds=20)}
FAULT_REASONS = {
    Fault.MISSING_VALUES: "values.null",
    Fault.OUT_OF_RANGE: "values.out_of_range,values.unknown_category",
    Fault.STALE_COLUMN: "column.stale",
    Fault.SCHEMA_CHANGE: "schema.missing_column,schema.wrong_type",
    Fault.DUPLICATE_ROWS: "rows.duplicate_key",
    Fault.LABEL_LEAKAGE: "label.leakage",
    Fault.DISTRIBUTION_DRIFT: "drift.psi",
}


def orders(seed: int, faults=()):
    return generate_orders(ROWS, seed=seed, start=START, days=14, faults=faults)


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud.deployed(root / "template.yaml", PARAMETERS) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def driver(cloud):
    return published(cloud)


@pytest.fixture(scope="module")
def notifications(cloud):
    """Every message the notification topic sends, through an SQS subscription."""
    inbox = Inbox.notifications(cloud, "pipeline-notifications")

    def received(run_id: str) -> list[dict]:
        """The pipeline's messages about one run (others are dropped: each test asks about its own run; a registered
        model's deployment also names its run, and is tested in test_deployment.py)."""
        messages = []
        while batch := inbox.take():
            for body in batch:
                sent = json.loads(body["Message"])
                if sent["run_id"] == run_id and sent.get("kind") != "deployment":
                    messages.append(body)
        return messages

    return received


@pytest.fixture(scope="module")
def first_run(driver, notifications):
    """A clean dataset on an empty registry: the first model, and the reference for later datasets."""
    return driver.run(orders(seed=1), f"datasets/orders/{START:%Y-%m-%d}/orders.csv")


def packages(cloud) -> list[dict]:
    sagemaker = cloud.client("sagemaker")
    group = cloud.stack.outputs["ModelPackageGroupName"]
    summaries = sagemaker.list_model_packages(ModelPackageGroupName=group, MaxResults=100)["ModelPackageSummaryList"]
    return [sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in summaries]


def register_champion(cloud, pr_auc: float, auc: float = 0.9, model_uri: str | None = None, name: str = "") -> str:
    """An approved version with the given test-set PR AUC (and ROC AUC), as an earlier run would have left it;
    with `model_uri`, one whose model archive the evaluation can score."""
    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    bucket = cloud.physical_id("ArtifactsBucket")
    key = f"champions/{name or pr_auc}/evaluation.json"
    document = {"binary_classification_metrics": {"pr_auc": {"value": pr_auc}, "auc": {"value": auc}}}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
    container = {"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"}
    if model_uri:
        container["ModelDataUrl"] = model_uri
    return sagemaker.create_model_package(
        ModelPackageGroupName=cloud.stack.outputs["ModelPackageGroupName"],
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelMetrics={
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}
        },
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]


def test_a_good_upload_registers_a_model_with_metrics_and_lineage(cloud, driver, first_run, notifications):
    assert first_run.status == "SUCCEEDED", first_run.cause
    assert [s for s, _ in first_run.states][:8] == [
        "ValidateData",
        "DataAccepted",
        "FindEarlierRun",
        "SameContent",
        "BuildFeatures",
        "Train",
        "FindChampion",
        "Evaluate",
    ]
    assert first_run.run_status == "succeeded"
    (package,) = packages(cloud)
    assert package["ModelPackageArn"] == first_run.outcome["model_package_arn"]
    assert package["ModelApprovalStatus"] == "Approved"
    lineage = package["CustomerMetadataProperties"]
    dataset = first_run.output["dataset"]
    assert lineage["cd4ml:dataset_uri"] == f"s3://{dataset['bucket']}/{dataset['key']}"
    assert lineage["cd4ml:dataset_version"] == dataset["version_id"]
    assert len(lineage["cd4ml:dataset_sha256"]) == 64 and lineage["cd4ml:dataset_rows"] == str(ROWS)
    assert lineage["cd4ml:code_version"] == "dev" and len(lineage["cd4ml:code_sha256"]) == 64
    assert lineage["cd4ml:training_job_arn"] == first_run.output["training"]["job_arn"]
    assert lineage["cd4ml:execution_arn"] == first_run.execution_arn
    assert lineage["hp:max_depth"] == "4" and lineage["hp:sagemaker_program"] == "train.py"
    # the metrics the package points at are the evaluation job's, in SageMaker's model-quality format
    s3 = cloud.client("s3")
    bucket, key = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"][5:].split("/", 1)
    evaluation = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["binary_classification_metrics"]
    assert 0.7 <= evaluation["auc"]["value"] <= 1 and evaluation["pr_auc"]["value"] >= 0.05
    assert set(evaluation["confusion_matrix"]) == {"0", "1"}
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == first_run.output["training"]["model_uri"]
    # the data-quality report beside the data, the run's report and its notification
    report_key = DatasetRef(**dataset).report_key
    quality = json.loads(s3.get_object(Bucket=dataset["bucket"], Key=report_key)["Body"].read())
    assert quality["passed"] is True and quality["source"]["sha256"] == lineage["cd4ml:dataset_sha256"]
    html = s3.get_object(Bucket=driver.artifacts_bucket, Key=f"runs/{first_run.outcome['run_id']}/report.html")
    assert b"data:image/png;base64," in html["Body"].read()
    (message,) = notifications(first_run.outcome["run_id"])
    assert message["Subject"] == f"cd4ml model registered: {first_run.outcome['run_id']}"


@pytest.mark.parametrize("fault", list(FAULT_REASONS), ids=lambda f: f.value)
def test_each_injected_data_fault_is_quarantined_with_its_reason(cloud, driver, first_run, notifications, fault):
    run = driver.run(orders(seed=5, faults=[fault]), f"datasets/orders/{START:%Y-%m-%d}/{fault.value}.parquet")

    assert run.status == "FAILED" and run.error == "DataQuality.Quarantined"
    assert [s for s, _ in run.states] == ["ValidateData", "DataAccepted", "RecordQuarantine", "DataQuarantined"]
    assert run.outcome["status"] == "quarantined"
    assert run.outcome["reasons"][0].startswith(FAULT_REASONS[fault] + ":")
    s3 = cloud.client("s3")
    quarantined = s3.head_object(
        Bucket=driver.raw_bucket, Key=f"quarantine/datasets/orders/{START:%Y-%m-%d}/{fault.value}.parquet"
    )
    assert quarantined["Metadata"]["quarantine-reason"] == FAULT_REASONS[fault]
    reason = s3.get_object(
        Bucket=driver.raw_bucket, Key=f"quarantine/datasets/orders/{START:%Y-%m-%d}/{fault.value}.parquet.reason.json"
    )
    assert json.loads(reason["Body"].read())["reason"] == FAULT_REASONS[fault]
    (message,) = notifications(run.outcome["run_id"])
    assert message["Subject"].startswith("cd4ml dataset quarantined")
    assert json.loads(message["Message"])["reasons"] == run.outcome["reasons"]
    assert len(packages(cloud)) == 1  # nothing trained, nothing registered


def test_a_file_that_is_not_a_table_is_quarantined_as_unreadable(driver, first_run, notifications):
    run = driver.run(b"PAR1 this is not parquet", f"datasets/orders/{START:%Y-%m-%d}/truncated.parquet")

    assert run.error == "DataQuality.Quarantined" and run.outcome["status"] == "quarantined"
    assert run.outcome["reasons"][0].startswith("dataset.unreadable: ")
    assert run.outcome["quarantine_uri"].endswith(
        "/quarantine/datasets/orders/" + f"{START:%Y-%m-%d}/truncated.parquet"
    )
    assert notifications(run.outcome["run_id"])[0]["Subject"].startswith("cd4ml dataset quarantined")


def test_a_duplicated_upload_event_starts_one_execution(cloud, driver, first_run, sample_event):
    dataset = first_run.output["dataset"]
    event = sample_event("s3_object_created.json")
    detail = event["detail"]
    detail["bucket"]["name"] = dataset["bucket"]
    detail["object"].update(key=dataset["key"], etag=dataset["etag"], size=dataset["size"])
    detail["object"]["version-id"] = dataset["version_id"]
    before = sorted(e["name"] for e in cloud.executions("TrainingPipeline"))
    starter = cloud.attribute("StartPipelineFunction", "Arn")
    delivered = len([d for d in cloud.router.deliveries if d.target_arn == starter])

    for _ in range(2):  # S3 delivers at least once: the same object version again, twice
        cloud.router.put_event("aws.s3", "Object Created", detail, [f"arn:aws:s3:::{dataset['bucket']}"])
    cloud.wait_idle()

    # both duplicates reached the starter, and neither started a run
    assert len([d for d in cloud.router.deliveries if d.target_arn == starter]) == delivered + 2
    assert sorted(e["name"] for e in cloud.executions("TrainingPipeline")) == before
    assert before.count(execution_name(DatasetRef(**dataset))) == 1


def test_the_start_function_names_the_run_after_the_object_version(cloud, sample_event):
    foreign = sample_event("s3_object_created.json")  # names a bucket that is not this stack's raw-data bucket
    ignored = json.loads(cloud.invoke("StartPipelineFunction", foreign).payload)
    assert ignored["started"] is False and foreign["detail"]["bucket"]["name"] in ignored["ignored"]
    upload = sample_event("s3_object_created.json")
    upload["detail"]["bucket"]["name"] = cloud.physical_id("RawDataBucket")

    result = json.loads(cloud.invoke("StartPipelineFunction", upload).payload)
    # the sample event names an object version the bucket does not have; the run starts and fails to read it
    assert result["started"] is True and result["run_id"].startswith("orders-2026-11-25-")
    again = json.loads(cloud.invoke("StartPipelineFunction", upload).payload)
    # while the run is going, StartExecution with the same name and input answers as the first time (AWS's
    # idempotency); once it has ended, ExecutionAlreadyExists, which the function takes as "already started"
    assert again["execution_arn"] == result["execution_arn"] and again["run_id"] == result["run_id"]
    assert cloud.wait_for_execution(result["execution_arn"])["error"] == "DatasetMissing"
    fourth = json.loads(cloud.invoke("StartPipelineFunction", upload).payload)
    assert fourth == {**result, "started": False}
    assert [e["name"] for e in cloud.executions("TrainingPipeline")].count(result["run_id"]) == 1


def test_a_failing_training_job_reaches_the_failure_path_and_notifies(cloud, driver, first_run, notifications):
    s3 = cloud.client("s3")
    files = code_files()
    files["train.py"] = b"raise SystemExit('model code release is broken: cannot import the trainer')\n"
    key = "code/dev/sourcedir.tar.gz"
    s3.put_object(Bucket=driver.artifacts_bucket, Key=key, Body=sourcedir(files))
    try:
        run = driver.run(orders(seed=7), f"datasets/orders/{START:%Y-%m-%d}/orders-broken-code.csv")
    finally:
        driver.publish_code("dev")

    assert run.status == "FAILED" and run.error == "SageMaker.TrainingJobFailed"
    assert [s for s, _ in run.states][-4:] == ["Train", "RecordFailure", "FailureKind", "PipelineFailed"]
    assert run.outcome["status"] == "failed"
    assert "model code release is broken" in run.outcome["reasons"][0]
    (message,) = notifications(run.outcome["run_id"])
    assert message["Subject"].startswith("cd4ml run failed")
    assert len(packages(cloud)) == 1


def test_a_worse_challenger_is_gated_out_and_not_registered(cloud, driver, first_run, notifications):
    champion = register_champion(cloud, pr_auc=0.99)
    before = len(packages(cloud))

    run = driver.run(orders(seed=8), f"datasets/orders/{START:%Y-%m-%d}/orders-challenger.csv")

    assert run.status == "SUCCEEDED" and run.run_status == "gated_out"
    assert [s for s, _ in run.states][-2:] == ["RecordGatedOut", "ChallengerGatedOut"]
    assert any("worse than the champion's 0.9900" in reason and champion in reason for reason in run.outcome["reasons"])
    assert len(packages(cloud)) == before
    (message,) = notifications(run.outcome["run_id"])
    assert message["Subject"].startswith("cd4ml challenger gated out")


def test_a_better_challenger_is_registered_over_the_champion(cloud, driver, first_run, notifications):
    champion = register_champion(cloud, pr_auc=0.01)

    run = driver.run(orders(seed=9), f"datasets/orders/{START:%Y-%m-%d}/orders-better.csv")

    assert run.status == "SUCCEEDED" and run.run_status == "succeeded", run.outcome
    gate = run.output["gate"]
    assert gate["champion"]["model_package_arn"] == champion
    assert any(c["kind"] == "champion" and c["passed"] for c in gate["checks"])
    newest = max(packages(cloud), key=lambda p: p["ModelPackageVersion"])
    assert newest["ModelPackageArn"] == run.outcome["model_package_arn"]
    assert notifications(run.outcome["run_id"])[0]["Subject"].startswith("cd4ml model registered")


def test_model_code_is_published_reproducibly(monkeypatch):
    files = code_files()
    assert {"train.py", "features.py", "evaluate.py", "inference.py", "cd4ml_shared/contract.py"} <= set(files)
    first = sourcedir(files)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)  # an hour later, the same bytes
    assert sourcedir(files) == first
    with tarfile.open(fileobj=io.BytesIO(sourcedir(files))) as tar:
        assert sorted(tar.getnames()) == sorted(files)


def test_a_made_up_failed_run_payload_stops_no_job(cloud, driver):
    """RecordOutcome stops a failed run's jobs only for a running execution of this stack whose input names the run:
    a payload with a made-up run and a job prefix that every job of the stack matches stops nothing (the real
    failure path stopping its job is the next test)."""
    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    s3.put_object(
        Bucket=driver.artifacts_bucket,
        Key="tests/sleeper/sourcedir.tar.gz",
        Body=sourcedir({"sleep.py": b"import time\ntime.sleep(120)\n"}),
    )
    starter = cloud.client("lambda").get_function_configuration(FunctionName=cloud.physical_id("StartPipelineFunction"))
    prefix = starter["Environment"]["Variables"]["JOB_NAME_PREFIX"] + "-00000000deadbeef"
    sagemaker.create_training_job(
        TrainingJobName=f"{prefix}-train-0",
        AlgorithmSpecification={
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
            "TrainingInputMode": "File",
        },
        HyperParameters={
            "sagemaker_program": "sleep.py",
            "sagemaker_submit_directory": f"s3://{driver.artifacts_bucket}/tests/sleeper/sourcedir.tar.gz",
        },
        RoleArn=cloud.attribute("SageMakerExecutionRole", "Arn"),
        OutputDataConfig={"S3OutputPath": f"s3://{driver.artifacts_bucket}/tests/sleeper/"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
    )
    state = {
        "run_id": "orders-timed-out",
        "job_prefix": prefix.rsplit("-", 1)[0],
        "artifacts_bucket": driver.artifacts_bucket,
        "dataset": {"bucket": driver.raw_bucket, "key": "datasets/orders/2026-11-25/orders.csv"},
        "error": {"Error": "States.Timeout", "Cause": "the Train task timed out"},
    }
    event = {"status": "failed", "state": state, "execution_arn": "arn:aws:states:::execution:x", "started_at": ""}

    result = cloud.invoke("RecordOutcomeFunction", event)

    assert result.function_error is None, result.payload
    outcome = driver.outcome("orders-timed-out")
    assert outcome["stopped_jobs"] == []
    assert outcome["reasons"] == ["States.Timeout: the Train task timed out"]
    assert sagemaker.describe_training_job(TrainingJobName=f"{prefix}-train-0")["TrainingJobStatus"] == "InProgress"
    sagemaker.stop_training_job(TrainingJobName=f"{prefix}-train-0")
    cloud.sagemaker_jobs.wait(f"{prefix}-train-0", timeout=30)


def test_a_job_that_outlives_its_task_timeout_fails_the_run_and_is_stopped(cloud, driver, first_run):
    """The waiting task's TimeoutSecondsPath fires (no event ever came back in time): the run fails with
    States.Timeout through the failure path, which stops the job still running."""
    s3, sfn = cloud.client("s3"), cloud.client("stepfunctions")
    s3.put_object(
        Bucket=driver.artifacts_bucket,
        Key="code/dev/source/features.py",
        Body=b"import time\ntime.sleep(60)\n",
    )
    dataset = driver.upload(orders(seed=11), f"datasets/orders/{START:%Y-%m-%d}/orders-slow.csv")
    cloud.wait_idle()
    try:
        run_input = json.loads(sfn.describe_execution(executionArn=driver.execution_arn(dataset))["input"])
        # the same run, started by hand with a 3-second processing timeout (the stack's is the job limit + 10 min)
        run_input.update(run_id=run_input["run_id"] + "-short", timeouts={"processing": 3, "training": 3})
        run_input["job_prefix"] += "f"
        arn = sfn.start_execution(
            stateMachineArn=driver.state_machine_arn, name=run_input["run_id"], input=json.dumps(run_input)
        )["executionArn"]
        described = cloud.wait_for_execution(arn, timeout=60)
    finally:
        driver.publish_code("dev")

    # a Fail state may not use a States.* error name: the run's error says Pipeline.Failed, its cause says why
    assert described["status"] == "FAILED" and described["error"] == "Pipeline.Failed"
    assert described["cause"].startswith("States.Timeout: ")
    cloud.wait_idle()
    outcome = driver.outcome(run_input["run_id"])
    assert outcome["status"] == "failed" and outcome["reasons"][0].startswith("States.Timeout")
    assert outcome["stopped_jobs"] == [f"{run_input['job_prefix']}-features-0"]
    job = cloud.sagemaker_jobs.wait(f"{run_input['job_prefix']}-features-0", kind="processing", timeout=30)
    assert job["ProcessingJobStatus"] == "Stopped"


def test_the_reference_moves_only_for_a_registered_run_with_newer_data(cloud, driver, first_run):
    """Validation leaves each accepted dataset's profile under its run; only a run that registers a model, with data
    newer than the reference's, makes it the reference (a run failing after validation, or a registered run of older
    data arriving late, leaves the reference as it is)."""
    s3 = cloud.client("s3")
    key = "reference/orders/profile.json"
    assert first_run.outcome["reference"]["result"] == "first"
    before = s3.get_object(Bucket=driver.artifacts_bucket, Key=key)
    reference = json.loads(before["Body"].read())

    files = code_files()
    files["train.py"] = b"raise SystemExit('broken trainer')\n"
    s3.put_object(Bucket=driver.artifacts_bucket, Key="code/dev/sourcedir.tar.gz", Body=sourcedir(files))
    try:
        failed = driver.run(orders(seed=14), f"datasets/orders/{START:%Y-%m-%d}/orders-fails-in-training.csv")
    finally:
        driver.publish_code("dev")
    register_champion(cloud, pr_auc=0.01)  # the gate lets the next challenger through
    late = generate_orders(ROWS, seed=15, start=START - timedelta(days=5), days=14)
    older = driver.run(late, f"datasets/orders/{START - timedelta(days=5):%Y-%m-%d}/orders-late.csv")

    assert failed.run_status == "failed" and failed.outcome["reference"]["result"] == "not_promoting"
    assert older.run_status == "succeeded", older.outcome
    assert older.outcome["reference"]["result"] == "kept"
    candidate_key = f"runs/{older.outcome['run_id']}/reference-candidate.json"
    candidate = json.loads(s3.get_object(Bucket=driver.artifacts_bucket, Key=candidate_key)["Body"].read())
    assert candidate["time_max"] < reference["time_max"]
    after = s3.get_object(Bucket=driver.artifacts_bucket, Key=key)
    assert after["ETag"] == before["ETag"] and json.loads(after["Body"].read()) == reference


def test_the_same_content_again_trains_nothing_unless_a_rerun_is_asked_for(cloud, driver, first_run, notifications):
    """The same bytes, code version and hyperparameters as a registered run end at once in SameAsEarlierRun,
    pointing at that run and its model package; `--metadata cd4ml-rerun=true` trains them again."""
    s3 = cloud.client("s3")
    dataset = first_run.output["dataset"]
    body = s3.get_object(Bucket=dataset["bucket"], Key=dataset["key"], VersionId=dataset["version_id"])["Body"].read()
    before = len(packages(cloud))

    same = driver.run(body, f"datasets/orders/{START:%Y-%m-%d}/orders-again.csv")

    assert same.status == "SUCCEEDED" and same.run_status == "duplicate", same.outcome
    assert [s for s, _ in same.states][-4:] == ["FindEarlierRun", "SameContent", "RecordDuplicate", "SameAsEarlierRun"]
    assert same.output["content"]["earlier"]["run_id"] == first_run.outcome["run_id"]
    assert same.outcome["earlier_run"]["model_package_arn"] == first_run.outcome["model_package_arn"]
    assert same.outcome["model_package_arn"] == first_run.outcome["model_package_arn"]
    assert "training" not in same.output and len(packages(cloud)) == before
    (message,) = notifications(same.outcome["run_id"])
    assert message["Subject"] == f"cd4ml same as an earlier run: {same.outcome['run_id']}"
    assert message["MessageAttributes"]["status"]["Value"] == "duplicate"

    register_champion(cloud, pr_auc=0.01)  # the gate lets the rerun through
    key = f"datasets/orders/{START:%Y-%m-%d}/orders-rerun.csv"
    put = s3.put_object(Bucket=driver.raw_bucket, Key=key, Body=body, Metadata={"cd4ml-rerun": "true"})
    rerun = driver.follow(DatasetRef(bucket=driver.raw_bucket, key=key, version_id=put["VersionId"]))

    assert rerun.run_status == "succeeded" and "BuildFeatures" in [s for s, _ in rerun.states], rerun.outcome
    assert rerun.output["content"]["rerun"] is True
    assert rerun.output["content"]["digest"] == same.output["content"]["digest"]
    index_key = f"index/content/{rerun.output['content']['digest']}.json"
    index = json.loads(s3.get_object(Bucket=driver.artifacts_bucket, Key=index_key)["Body"].read())
    assert index["run_id"] == rerun.outcome["run_id"]  # later duplicates point at the newest registration


def test_the_champion_is_scored_on_the_challengers_rows_and_the_gate_decides_on_the_paired_interval(
    cloud, driver, first_run
):
    """A champion with a model archive is scored by the evaluation job on the challenger's test rows: retraining the
    first run's content gives the same model, which passes although the champion's recorded PR AUC (0.99, from "its
    own" split) is far above it, and the comparison is on the new version's metadata and in the report."""
    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    bucket = cloud.physical_id("ArtifactsBucket")
    model_uri = first_run.output["training"]["model_uri"]
    champion = register_champion(cloud, pr_auc=0.99, auc=0.99, model_uri=model_uri, name="with-model")
    dataset = first_run.output["dataset"]
    body = s3.get_object(Bucket=dataset["bucket"], Key=dataset["key"], VersionId=dataset["version_id"])["Body"].read()
    upload = f"datasets/orders/{START:%Y-%m-%d}/orders-paired.csv"
    put = s3.put_object(Bucket=driver.raw_bucket, Key=upload, Body=body, Metadata={"cd4ml-rerun": "true"})

    run = driver.follow(DatasetRef(bucket=driver.raw_bucket, key=upload, version_id=put["VersionId"]))

    assert run.run_status == "succeeded", run.outcome
    assert [s for s, _ in run.states if s in ("Train", "FindChampion", "Evaluate", "Gate")] == [
        "Train",
        "FindChampion",
        "Evaluate",
        "Gate",
    ]
    assert run.output["champion"] == {
        "model_package_arn": champion,
        "model_uri": first_run.output["training"]["model_uri"],
    }
    comparison = run.output["gate"]["comparison"]
    assert comparison["champion_model_package_arn"] == champion and comparison["metric"] == "pr_auc"
    assert comparison["lower"] <= comparison["difference"] <= comparison["upper"]
    assert abs(comparison["difference"]) < 0.01 and comparison["upper"] >= -run.output["gate"]["tolerance"]
    evaluation = json.loads(
        s3.get_object(Bucket=bucket, Key=run.output["gate"]["evaluation_uri"].split(f"{bucket}/", 1)[1])["Body"].read()
    )
    assert evaluation["champion_comparison"]["rows"] == evaluation["dataset"]["rows"] == comparison["rows"]
    assert set(evaluation["sampling_intervals"]["metrics"]) >= {"pr_auc", "auc", "brier_score"}
    newest = sagemaker.describe_model_package(ModelPackageName=run.outcome["model_package_arn"])
    assert newest["CustomerMetadataProperties"]["gate:champion"] == champion
    assert float(newest["CustomerMetadataProperties"]["gate:pr_auc:difference"]) == comparison["difference"]
    html = s3.get_object(Bucket=bucket, Key=f"runs/{run.outcome['run_id']}/report.html")["Body"].read().decode()
    assert "On the same" in html and "paired bootstrap interval" in html
