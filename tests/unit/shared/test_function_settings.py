"""What each function reads from its environment: one frozen object per function, and a missing or malformed
variable named at cold start (template.yaml sets every one of them)."""

import dataclasses

import pytest
from cd4ml_shared.environment import SettingsError
from cd4ml_shared.jobs import JobSettings
from cd4ml_shared.settings import (
    EvaluationGateSettings,
    JobCompletionSettings,
    RecordOutcomeSettings,
    RegisterModelSettings,
    StartJobSettings,
    StartPipelineSettings,
    ValidateDatasetSettings,
)

START_PIPELINE = {
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-training-pipeline",
    "ARTIFACTS_BUCKET": "art",
    "TRAINING_MAX_RUNTIME": "3600",
    "PROCESSING_MAX_RUNTIME": "1800",
    "USE_SPOT_TRAINING": "true",
    "RAW_DATA_BUCKET": "raw",
    "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
}
RECORD_OUTCOME = {
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:topic",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-training-pipeline",
    "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
}
START_JOB = {
    "TOKEN_TABLE": "tokens",
    "ARTIFACTS_BUCKET": "art",
    "SAGEMAKER_ROLE_ARN": "role",
    "CODE_VERSION": "dev",
    "TRAINING_IMAGE": "ti",
    "PROCESSING_IMAGE": "pi",
}
REGISTER_MODEL = {
    "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
    "MODEL_APPROVAL_STATUS": "Approved",
    "ARTIFACTS_BUCKET": "art",
    "CODE_VERSION": "dev",
    "INFERENCE_IMAGE": "img",
}
# every function's settings, with a complete environment
COMPLETE = [
    (StartPipelineSettings, START_PIPELINE),
    (ValidateDatasetSettings, {"ARTIFACTS_BUCKET": "art", "DATASET_MAX_AGE_DAYS": "7"}),
    (StartJobSettings, START_JOB),
    (JobCompletionSettings, {"TOKEN_TABLE": "tokens"}),
    (EvaluationGateSettings, {"MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud"}),
    (RegisterModelSettings, REGISTER_MODEL),
    (RecordOutcomeSettings, RECORD_OUTCOME),
]


def test_the_starter_reads_its_state_machine_bucket_and_job_limits():
    settings = StartPipelineSettings.from_environment(START_PIPELINE)
    assert settings == StartPipelineSettings(
        state_machine_arn=START_PIPELINE["STATE_MACHINE_ARN"],
        artifacts_bucket="art",
        processing_max_runtime=1800,
        training_max_runtime=3600,
        use_spot=True,
        raw_data_bucket="raw",
        job_name_prefix="cd4ml-1a2b3c4d",
    )
    assert settings.execution_arn("run-1") == (
        "arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:run-1"
    )


@pytest.mark.parametrize(("value", "use_spot"), [("true", True), ("false", False), ("FALSE", False), (None, True)])
def test_the_starter_and_start_job_read_spot_the_same_way(value, use_spot):
    """The starter's task timeouts must allow for spot exactly when start_job asks for it; unset is the template's
    default (true)."""
    env = {k: v for k, v in START_PIPELINE.items() if k != "USE_SPOT_TRAINING"}
    if value is not None:
        env["USE_SPOT_TRAINING"] = value
    assert StartPipelineSettings.from_environment(env).use_spot is use_spot
    job_env = {k: v for k, v in START_JOB.items() if k != "USE_SPOT_TRAINING"}
    if value is not None:
        job_env["USE_SPOT_TRAINING"] = value
    assert JobSettings.from_environment(job_env).use_spot is use_spot


def test_start_job_reads_its_token_table_and_the_job_settings():
    settings = StartJobSettings.from_environment({**START_JOB, "STAGE": "dev"})
    assert settings.token_table == "tokens" and settings.jobs.code_version == "dev"
    assert settings.jobs.tags == {"cd4ml:stage": "dev"}


def test_the_gate_reads_its_group_and_policy():
    settings = EvaluationGateSettings.from_environment({"MODEL_PACKAGE_GROUP": "g", "GATE_MIN_PR_AUC": "0.3"})
    assert settings.model_package_group == "g" and settings.policy.minimums == {"pr_auc": 0.3}


def test_registration_serves_the_published_sourcedir_of_its_code_version():
    settings = RegisterModelSettings.from_environment(REGISTER_MODEL)
    assert settings.approval_status == "Approved"
    assert settings.sourcedir_uri == "s3://art/code/dev/sourcedir.tar.gz"


@pytest.mark.parametrize(
    ("settings_class", "name"),
    [(cls, name) for cls, env in COMPLETE for name in env if name not in ("USE_SPOT_TRAINING",)],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_a_missing_variable_is_named(settings_class, name):
    env = dict(next(env for cls, env in COMPLETE if cls is settings_class))
    del env[name]
    with pytest.raises(SettingsError, match=f"^environment variable {name} is not set$"):
        settings_class.from_environment(env)


@pytest.mark.parametrize("settings_class", [cls for cls, _ in COMPLETE], ids=lambda cls: cls.__name__)
def test_every_function_settings_object_is_frozen(settings_class):
    env = next(env for cls, env in COMPLETE if cls is settings_class)
    settings = settings_class.from_environment(env)
    field = dataclasses.fields(settings)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, field, "changed")


def test_a_runtime_that_is_not_a_number_is_named():
    with pytest.raises(SettingsError, match="TRAINING_MAX_RUNTIME must be a whole number of seconds, got '1h'"):
        StartPipelineSettings.from_environment({**START_PIPELINE, "TRAINING_MAX_RUNTIME": "1h"})


def test_an_approval_status_the_registry_does_not_know_is_refused():
    with pytest.raises(SettingsError, match="MODEL_APPROVAL_STATUS must be one of Approved, PendingManualApproval"):
        RegisterModelSettings.from_environment({**REGISTER_MODEL, "MODEL_APPROVAL_STATUS": "approved"})


def test_settings_are_read_from_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("TOKEN_TABLE", "from-the-process")
    assert JobCompletionSettings.from_environment().token_table == "from-the-process"


def test_validation_reads_the_stages_freshness_limit_in_days():
    settings = ValidateDatasetSettings.from_environment({"ARTIFACTS_BUCKET": "art", "DATASET_MAX_AGE_DAYS": "30"})
    assert settings.max_age_days == 30.0


@pytest.mark.parametrize("raw", ["a week", "0", "-1", "inf", "nan"])
def test_a_freshness_limit_that_is_no_positive_number_of_days_is_refused(raw):
    with pytest.raises(SettingsError, match=f"DATASET_MAX_AGE_DAYS must be a (positive )?number of days, got '{raw}'"):
        ValidateDatasetSettings.from_environment({"ARTIFACTS_BUCKET": "art", "DATASET_MAX_AGE_DAYS": raw})
