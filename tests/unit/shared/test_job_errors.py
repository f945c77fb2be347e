"""start_job's decisions as plain values: which Create*Job request a task's payload becomes, and which named error
(the Catch's or Retry's `Error`) a refused call or an unpublished model code version becomes."""

import pytest
from cd4ml_shared.errors import JobQuotaExceeded, JobRequestRejected, JobThrottled, ModelCodeMissing
from cd4ml_shared.jobs import JobSettings, job_error, model_code_missing, request_for

SETTINGS = JobSettings(
    artifacts_bucket="art",
    role_arn="arn:aws:iam::123456789012:role/sm",
    code_version="abc123",
    training_image="xgboost",
    processing_image="xgboost",
)
TRAINING = {
    "TrainingJobName": "cd4ml-x-train-0",
    "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1},
    "EnableManagedSpotTraining": True,
}
PROCESSING = {
    "ProcessingJobName": "cd4ml-x-features-0",
    "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}},
}


@pytest.mark.parametrize("code", ["ThrottlingException", "Throttling", "TooManyRequestsException"])
def test_every_throttling_code_is_job_throttled(code):
    error = job_error(code, "Rate exceeded", "training", TRAINING)
    assert isinstance(error, JobThrottled) and type(error).__name__ == "JobThrottled"
    assert str(error) == "CreateJob throttled: Rate exceeded"


def test_an_exhausted_spot_training_quota_names_the_instance_and_the_spot_quota():
    error = job_error("ResourceLimitExceeded", "limit is 0", "training", TRAINING)
    assert isinstance(error, JobQuotaExceeded)
    assert str(error) == (
        "no quota for ml.g5.xlarge in this account (limit is 0); request a Service Quotas increase for "
        "'ml.g5.xlarge for spot training job usage' or choose another instance type parameter"
    )


def test_an_on_demand_training_quota_does_not_say_spot():
    error = job_error(
        "ResourceLimitExceeded", "limit is 0", "training", {**TRAINING, "EnableManagedSpotTraining": False}
    )
    assert "'ml.g5.xlarge for training job usage'" in str(error)


def test_a_processing_quota_names_the_cluster_instance():
    error = job_error("ResourceLimitExceeded", "limit is 0", "processing", PROCESSING)
    assert isinstance(error, JobQuotaExceeded)
    assert str(error).startswith("no quota for ml.m5.xlarge in this account (limit is 0)")
    assert "'ml.m5.xlarge for processing job usage'" in str(error)


@pytest.mark.parametrize(("request_", "name"), [(TRAINING, "cd4ml-x-train-0"), (PROCESSING, "cd4ml-x-features-0")])
def test_an_invalid_request_is_rejected_naming_the_job(request_, name):
    error = job_error("ValidationException", "bad role", "training", request_)
    assert isinstance(error, JobRequestRejected) and str(error) == f"{name}: bad role"


@pytest.mark.parametrize("code", ["AccessDeniedException", "InternalFailure", ""])
def test_other_codes_are_not_ours_to_name(code):
    assert job_error(code, "no", "training", TRAINING) is None


@pytest.mark.parametrize("code", ["404", "NoSuchKey", "NotFound"])
def test_an_absent_sourcedir_is_model_code_missing_naming_the_publish_command(code):
    error = model_code_missing(code, SETTINGS)
    assert isinstance(error, ModelCodeMissing)
    assert str(error) == (
        "model code version 'abc123' is not published: s3://art/code/abc123/sourcedir.tar.gz does not exist "
        "(run `cd4ml model publish --bucket art --version abc123`)"
    )


def test_a_refused_look_up_of_the_sourcedir_is_not_model_code_missing():
    assert model_code_missing("403", SETTINGS) is None


def test_each_kind_becomes_its_job_type_and_request():
    event = {"run_id": "run-1", "dataset_uri": "s3://art/runs/run-1/dataset/orders.csv", "model_uri": "s3://m"}
    kind, features = request_for(SETTINGS, {**event, "kind": "features"}, "f")
    assert kind == "processing" and features["ProcessingJobName"] == "f"
    assert features["ProcessingInputs"][1]["S3Input"]["S3Uri"] == event["dataset_uri"]
    kind, training = request_for(SETTINGS, {**event, "kind": "train"}, "t")
    assert kind == "training" and training["TrainingJobName"] == "t"
    kind, evaluation = request_for(SETTINGS, {**event, "kind": "evaluate"}, "e")
    assert kind == "processing" and evaluation["ProcessingInputs"][1]["S3Input"]["S3Uri"] == "s3://m"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown job kind 'predict' \\(features, train, evaluate or scoring\\)"):
        request_for(SETTINGS, {"run_id": "r", "kind": "predict"}, "p")
