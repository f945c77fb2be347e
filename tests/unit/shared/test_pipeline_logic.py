"""The training pipeline's plain logic: run names, job requests, the gate, lineage, callbacks and outcomes."""

import json
from datetime import UTC, datetime

import pytest
from cd4ml_shared.callbacks import failure_of, job_of, success_output
from cd4ml_shared.gate import Champion, GateConfigError, GatePolicy, decide, metrics_of
from cd4ml_shared.jobs import (
    MAX_JOB_NAME_PREFIX,
    JobSettings,
    SettingsError,
    check_job_name_prefix,
    evaluation_request,
    features_request,
    job_name,
    training_request,
)
from cd4ml_shared.layout import RunLayout, is_dataset_key
from cd4ml_shared.outcome import error_reason, notification, run_record
from cd4ml_shared.registry import Lineage, model_package_request
from cd4ml_shared.run_input import DatasetRef, execution_name, job_prefix

DATASET = DatasetRef(bucket="raw", key="datasets/orders/2026-11-25/orders.csv", version_id="v1", etag="e1", size=10)
SETTINGS = JobSettings(
    artifacts_bucket="art",
    role_arn="arn:aws:iam::123456789012:role/sm",
    code_version="abc123",
    training_image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    processing_image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
)


def evaluation(**values: float) -> dict:
    return {"binary_classification_metrics": {k: {"value": v, "standard_deviation": "NaN"} for k, v in values.items()}}


# ---- names -----------------------------------------------------------------------------------------------------
def test_the_same_object_version_always_gets_the_same_execution_name():
    again = DatasetRef(**DATASET.model_dump())
    assert execution_name(DATASET) == execution_name(again)
    assert execution_name(DATASET).startswith("orders-2026-11-25-")


def test_a_new_version_of_the_same_key_gets_a_new_execution_name():
    newer = DATASET.model_copy(update={"version_id": "v2"})
    assert execution_name(newer) != execution_name(DATASET)


def test_an_unversioned_object_is_named_by_its_etag():
    a = DATASET.model_copy(update={"version_id": None, "etag": "aaa"})
    b = DATASET.model_copy(update={"version_id": None, "etag": "bbb"})
    assert execution_name(a) != execution_name(b)


def test_execution_and_job_names_fit_the_aws_limits_whatever_the_key():
    long = DATASET.model_copy(update={"key": "datasets/" + "x y!" * 60 + "/2026/" + "f" * 300 + ".csv"})
    name = execution_name(long)
    assert len(name) <= 80 and all(c.isalnum() or c in "-_" for c in name)
    longest_stack_prefix = "cd4ml-" + "s" * (MAX_JOB_NAME_PREFIX - 6)
    assert len(job_name(job_prefix(long, check_job_name_prefix(longest_stack_prefix)), "features", 99)) <= 63


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("datasets/orders/2026-11-25/orders.csv", True),
        ("datasets/orders/2026-11-25/orders.parquet", True),
        ("datasets/orders/2026-11-25/orders.CSV", True),
        ("datasets/orders/2026-11-25/orders.csv.gz", True),
        # any other file under datasets/ starts a run, so that validation quarantines it with the reason
        ("datasets/orders/2026-11-25/orders.json", True),
        ("datasets/orders/2026-11-25/orders", True),
        # the validation's own reports never do (or each report would start the run that writes the next)
        ("datasets/orders/2026-11-25/orders.csv.quality.json", False),
        ("datasets/orders/2026-11-25/", False),
        ("quarantine/datasets/orders/2026-11-25/orders.csv", False),
        ("other/orders.csv", False),
    ],
)
def test_every_upload_under_datasets_except_the_reports_starts_a_run(key, expected):
    assert is_dataset_key(key) is expected


def test_the_quality_report_sits_beside_the_data_named_from_the_whole_file_name():
    assert DATASET.report_key == "datasets/orders/2026-11-25/orders.csv.quality.json"
    assert not is_dataset_key(DATASET.report_key)
    parquet = DATASET.model_copy(update={"key": "datasets/orders/2026-11-25/orders.parquet"})
    assert parquet.report_key != DATASET.report_key  # two formats in one folder keep their own reports
    assert parquet.quarantine_reason_key != DATASET.quarantine_reason_key
    assert DATASET.quarantine_key == "quarantine/datasets/orders/2026-11-25/orders.csv"
    assert DATASET.quarantine_reason_key == "quarantine/datasets/orders/2026-11-25/orders.csv.reason.json"


# ---- job requests ----------------------------------------------------------------------------------------------
def test_training_request_runs_train_py_in_script_mode_with_spot_checkpoints_and_metrics():
    request = training_request(SETTINGS, "cd4ml-x-train-0", RunLayout("art", "run-1"))
    hp = request["HyperParameters"]
    assert hp["sagemaker_program"] == "train.py"
    assert hp["sagemaker_submit_directory"] == "s3://art/code/abc123/sourcedir.tar.gz"
    assert all(isinstance(v, str) for v in hp.values())
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert request["CheckpointConfig"]["S3Uri"] == "s3://art/runs/run-1/checkpoints/"
    assert {m["Name"] for m in request["AlgorithmSpecification"]["MetricDefinitions"]} >= {"validation:aucpr"}
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train", "validation"]
    assert request["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"


def test_training_without_spot_has_no_max_wait():
    settings = JobSettings(**{**SETTINGS.__dict__, "use_spot": False})
    request = training_request(settings, "n", RunLayout("art", "run-1"))
    assert "MaxWaitTimeInSeconds" not in request["StoppingCondition"]
    assert request["EnableManagedSpotTraining"] is False


def test_processing_requests_read_published_code_and_write_under_the_run():
    layout = RunLayout("art", "run-1")
    features = features_request(SETTINGS, "f", layout, "s3://art/runs/run-1/dataset/orders.csv")
    assert features["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/features.py",
    ]
    assert features["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://art/code/abc123/source/"
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in features["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["test"] == "s3://art/runs/run-1/features/test/"
    evaluation_job = evaluation_request(SETTINGS, "e", layout, "s3://art/runs/run-1/model/x/output/model.tar.gz")
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in evaluation_job["ProcessingInputs"]}
    assert inputs["model"].endswith("model.tar.gz") and inputs["test"] == "s3://art/runs/run-1/features/test/"


def test_job_settings_come_from_the_environment_with_hyperparameter_overrides():
    env = {
        "ARTIFACTS_BUCKET": "art",
        "SAGEMAKER_ROLE_ARN": "role",
        "CODE_VERSION": "v",
        "TRAINING_IMAGE": "ti",
        "PROCESSING_IMAGE": "pi",
        "USE_SPOT_TRAINING": "false",
        "TRAINING_MAX_RUNTIME": "600",
        "HYPERPARAMETERS": '{"max_depth": 3}',
    }
    settings = JobSettings.from_environment(env)
    assert settings.hyperparameters["max_depth"] == 3 and settings.hyperparameters["eta"] == 0.1
    assert settings.use_spot is False and settings.training_max_runtime == 600


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HYPERPARAMETERS", "{not json", "not JSON"),
        ("HYPERPARAMETERS", "[1]", "JSON object"),
        ("TRAINING_MAX_RUNTIME", "1h", "whole number"),
    ],
)
def test_malformed_job_settings_are_named(name, value, message):
    env = {
        "ARTIFACTS_BUCKET": "a",
        "SAGEMAKER_ROLE_ARN": "r",
        "CODE_VERSION": "v",
        "TRAINING_IMAGE": "t",
        "PROCESSING_IMAGE": "p",
        name: value,
    }
    with pytest.raises(SettingsError, match=message):
        JobSettings.from_environment(env)


def test_missing_job_setting_is_named():
    with pytest.raises(SettingsError, match="ARTIFACTS_BUCKET"):
        JobSettings.from_environment({})


# ---- gate ------------------------------------------------------------------------------------------------------
POLICY = GatePolicy(minimums={"pr_auc": 0.2, "auc": 0.8}, maximums={"brier_score": 0.05}, tolerance=0.01)


def test_a_challenger_above_every_threshold_and_without_champion_passes():
    decision = decide(metrics_of(evaluation(pr_auc=0.4, auc=0.9, brier_score=0.01)), POLICY, None)
    assert decision.passed and decision.reasons == []


def test_a_challenger_below_a_threshold_is_gated_out_with_the_reason():
    decision = decide(metrics_of(evaluation(pr_auc=0.1, auc=0.9, brier_score=0.01)), POLICY, None)
    assert not decision.passed
    assert decision.reasons == ["pr_auc 0.1000 is below the minimum 0.2"]


def test_a_missing_metric_fails_its_check():
    decision = decide(metrics_of(evaluation(pr_auc=0.4, auc=0.9)), POLICY, None)
    assert decision.reasons == ["brier_score missing is above the maximum 0.05"]


def test_a_challenger_worse_than_the_champion_beyond_the_tolerance_is_gated_out():
    champion = Champion("arn:champion", {"pr_auc": 0.5})
    worse = decide({"pr_auc": 0.48, "auc": 0.9, "brier_score": 0.01}, POLICY, champion)
    assert not worse.passed and "worse than the champion's 0.5000" in worse.reasons[0]
    within = decide({"pr_auc": 0.495, "auc": 0.9, "brier_score": 0.01}, POLICY, champion)
    assert within.passed


def test_a_champion_without_readable_metrics_blocks_promotion():
    decision = decide({"pr_auc": 0.9, "auc": 0.99, "brier_score": 0.0}, POLICY, Champion("arn:c", None))
    assert not decision.passed and "cannot compare" in decision.reasons[0]


def test_gate_policy_reads_its_bounds_from_the_environment():
    policy = GatePolicy.from_environment(
        {"GATE_MIN_PR_AUC": "0.3", "GATE_MAX_BRIER_SCORE": "0.02", "GATE_CHAMPION_TOLERANCE": "0.005", "PATH": "/x"}
    )
    assert policy.minimums == {"pr_auc": 0.3} and policy.maximums == {"brier_score": 0.02}
    assert policy.tolerance == 0.005
    with pytest.raises(GateConfigError, match="GATE_MIN_AUC"):
        GatePolicy.from_environment({"GATE_MIN_AUC": "high"})
    with pytest.raises(GateConfigError, match="unknown gate metric"):
        GatePolicy.from_environment({"GATE_MIN_LUCK": "1"})


def test_gate_decision_serialises_with_thresholds():
    document = decide({"pr_auc": 0.3, "auc": 0.9, "brier_score": 0.01}, POLICY, None).to_dict()
    assert document["thresholds"] == {"minimum:pr_auc": 0.2, "minimum:auc": 0.8, "maximum:brier_score": 0.05}
    json.dumps(document)


# ---- registry --------------------------------------------------------------------------------------------------
LINEAGE = Lineage(
    run_id="run-1",
    execution_arn="arn:exec",
    dataset_uri="s3://raw/datasets/orders/2026-11-25/orders.csv",
    dataset_version="v1",
    dataset_sha256="ab" * 32,
    dataset_rows=1000,
    code_version="abc123",
    code_sha256="cd" * 32,
    training_job_arn="arn:train",
    hyperparameters={"max_depth": "6", "sagemaker_program": "train.py"},
    quality_report_uri="s3://art/runs/run-1/quality.json",
    evaluation_uri="s3://art/runs/run-1/evaluation/evaluation.json",
)


def test_model_package_carries_inference_spec_metrics_quality_report_and_lineage():
    request = model_package_request(
        group_name="g",
        run_id="run-1",
        image="img",
        model_data_url="s3://art/model.tar.gz",
        sourcedir_uri="s3://art/code/abc123/sourcedir.tar.gz",
        evaluation_uri=LINEAGE.evaluation_uri,
        quality_report_uri=LINEAGE.quality_report_uri,
        approval="PendingManualApproval",
        lineage=LINEAGE,
        metrics={"pr_auc": 0.4, "auc": 0.9},
    )
    container = request["InferenceSpecification"]["Containers"][0]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == LINEAGE.evaluation_uri
    assert request["ModelMetrics"]["ModelDataQuality"]["Statistics"]["S3Uri"] == LINEAGE.quality_report_uri
    metadata = request["CustomerMetadataProperties"]
    assert metadata["cd4ml:dataset_sha256"] == "ab" * 32 and metadata["hp:max_depth"] == "6"
    assert metadata["cd4ml:training_job_arn"] == "arn:train" and metadata["cd4ml:execution_arn"] == "arn:exec"
    assert request["ModelApprovalStatus"] == "PendingManualApproval"
    assert "pr_auc 0.4000" in request["ModelPackageDescription"]
    assert metadata["metric:pr_auc"] == "0.4" and metadata["metric:auc"] == "0.9" and "metric:f1" not in metadata


def test_lineage_values_over_the_metadata_limit_are_refused():
    long = Lineage(**{**LINEAGE.__dict__, "dataset_uri": "s3://raw/" + "k" * 2000})
    with pytest.raises(ValueError, match="cd4ml:dataset_uri"):
        long.metadata()


# ---- callbacks -------------------------------------------------------------------------------------------------
def test_training_success_output_has_model_metrics_and_hyperparameters(sample_event):
    event = sample_event("sagemaker_training_job_completed.json")
    kind, _, status = job_of(event["detail-type"], event["detail"])
    assert (kind, status) == ("training", "Completed")
    output = success_output(kind, event["detail"])
    assert output["model_uri"].endswith("model.tar.gz") and output["metrics"]["validation:aucpr"] > 0
    assert output["hyperparameters"]["sagemaker_program"] == "train.py"


def test_processing_success_output_lists_outputs_by_name(sample_event):
    event = sample_event("sagemaker_processing_job_completed.json")
    kind, _, _ = job_of(event["detail-type"], event["detail"])
    assert success_output(kind, event["detail"])["outputs"]["evaluation"].startswith("s3://")


def test_a_failed_job_becomes_a_named_error_with_its_reason(sample_event):
    event = sample_event("sagemaker_training_job_completed.json")
    detail = {**event["detail"], "TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: boom"}
    error, cause = failure_of("training", "Failed", detail)
    assert error == "SageMaker.TrainingJobFailed"
    assert json.loads(cause)["reason"] == "AlgorithmError: boom"


def test_other_events_are_not_jobs():
    with pytest.raises(ValueError, match="not a SageMaker job"):
        job_of("Object Created", {})


# ---- outcomes --------------------------------------------------------------------------------------------------
STATE = {
    "run_id": "run-1",
    "artifacts_bucket": "art",
    "dataset": DATASET.model_dump(),
    "validation": {"passed": False, "reason": "label.leakage", "summary": "x predicts the label", "sha256": "s"},
}


def test_a_quarantined_run_records_its_reason():
    record = run_record(
        "quarantined", STATE, execution_arn="arn:e", started_at="t0", now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert record["reasons"] == ["label.leakage: x predicts the label"]
    assert record["report_uri"] == "s3://art/runs/run-1/report.html"
    subject, message = notification(record)
    assert subject == "cd4ml dataset quarantined: run-1" and json.loads(message)["status"] == "quarantined"


def test_a_failed_run_records_the_lambda_error_message():
    cause = json.dumps({"errorMessage": "no quota for ml.g5.xlarge", "errorType": "JobQuotaExceeded"})
    state = {**STATE, "error": {"Error": "JobQuotaExceeded", "Cause": cause}}
    record = run_record("failed", state, execution_arn="arn:e", started_at="t0", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert record["reasons"] == ["JobQuotaExceeded: no quota for ml.g5.xlarge"]


def test_a_failed_job_reason_names_the_job():
    _, cause = failure_of("training", "Failed", {"TrainingJobName": "j-1", "FailureReason": "OOM"})
    assert error_reason({"Error": "SageMaker.TrainingJobFailed", "Cause": cause}) == (
        "SageMaker.TrainingJobFailed: j-1: OOM"
    )


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown run status"):
        run_record("maybe", STATE, execution_arn="a", started_at="", now=datetime(2026, 1, 1, tzinfo=UTC))


def test_the_sample_execution_input_is_what_the_starter_builds_for_the_sample_upload(sample_event):
    from cd4ml_shared.run_input import RunInput

    dataset = DatasetRef.from_s3_event(sample_event("s3_object_created.json")["detail"])
    run = RunInput.model_validate(sample_event("training_pipeline_input.json"))
    assert run.dataset == dataset and dataset.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    # made by a stack whose JOB_NAME_PREFIX is `cd4ml-1a2b3c4d` (its stack id's first 8 hex digits)
    assert run.run_id == execution_name(dataset) and run.job_prefix == job_prefix(dataset, "cd4ml-1a2b3c4d")


def test_the_jobs_send_the_training_scripts_own_defaults():
    """Two declarations, one in the layer (what the Lambda sends) and one in the script (what it runs without
    arguments): they must agree, so that a default changed in one place cannot silently differ in the other."""
    from dataclasses import asdict

    from cd4ml_model.train import Hyperparameters
    from cd4ml_shared.jobs import DEFAULT_HYPERPARAMETERS

    assert asdict(Hyperparameters()) == DEFAULT_HYPERPARAMETERS
