"""StartPipelineFunction: an S3 `Object Created` event starts one execution named after the object version, with the
execution input the state machine documents (events/training_pipeline_input.json); a duplicate starts nothing."""

import json

import pytest
from moto_world import create_waiting_state_machine

STATE_MACHINE = "cd4ml-dev-training-pipeline"
ENVIRONMENT = {
    "STATE_MACHINE_ARN": f"arn:aws:states:us-east-1:123456789012:stateMachine:{STATE_MACHINE}",
    "ARTIFACTS_BUCKET": "cd4ml-dev-artifactsbucket-example",
    "TRAINING_MAX_RUNTIME": "3600",
    "PROCESSING_MAX_RUNTIME": "3600",
    "USE_SPOT_TRAINING": "true",
    "RAW_DATA_BUCKET": "cd4ml-dev-rawdatabucket-example",  # the sample event's bucket
    # the template sets `cd4ml-<first 8 hex of the stack id>`; the sample execution input was made with `cd4ml`
    "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
}


@pytest.fixture
def sfn(aws):
    return create_waiting_state_machine(STATE_MACHINE, "cd4ml-dev-TrainingPipelineRole")


def executions(sfn) -> list[dict]:
    return sfn.list_executions(stateMachineArn=ENVIRONMENT["STATE_MACHINE_ARN"])["executions"]


def test_an_upload_starts_the_run_with_the_documented_execution_input(sfn, load_function, sample_event, context):
    app = load_function("start_pipeline", ENVIRONMENT)

    result = app.handler(sample_event("s3_object_created.json"), context)

    expected = sample_event("training_pipeline_input.json")
    assert result == {
        "run_id": expected["run_id"],
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:{STATE_MACHINE}:{expected['run_id']}",
        "started": True,
    }
    described = sfn.describe_execution(executionArn=result["execution_arn"])
    # timeouts: processing 3600 + 600; training 3600 x 2 (spot) + 600
    assert json.loads(described["input"]) == expected


def test_without_spot_the_training_task_waits_the_runtime_plus_the_margin(sfn, load_function, sample_event, context):
    app = load_function("start_pipeline", {**ENVIRONMENT, "USE_SPOT_TRAINING": "false"})

    result = app.handler(sample_event("s3_object_created.json"), context)

    run = json.loads(sfn.describe_execution(executionArn=result["execution_arn"])["input"])
    assert run["timeouts"] == {"processing": 4200, "training": 4200}


def test_a_replayed_event_for_the_same_version_starts_nothing(sfn, load_function, sample_event, context):
    app = load_function("start_pipeline", ENVIRONMENT)
    first = app.handler(sample_event("s3_object_created.json"), context)
    replayed = sample_event("s3_object_created.json")
    replayed["id"] = "a-later-delivery-of-the-same-upload"  # another input: StartExecution refuses the name

    again = app.handler(replayed, context)

    assert again == {**first, "started": False}
    assert [e["name"] for e in executions(sfn)] == [first["run_id"]]


def test_a_new_version_of_the_same_key_is_a_new_run(sfn, load_function, sample_event, context):
    app = load_function("start_pipeline", ENVIRONMENT)
    first = app.handler(sample_event("s3_object_created.json"), context)
    newer = sample_event("s3_object_created.json")
    newer["detail"]["object"]["version-id"] = "a-newer-version"

    second = app.handler(newer, context)

    assert second["started"] is True and second["run_id"] != first["run_id"]
    assert len(executions(sfn)) == 2


def test_a_file_of_an_unsupported_format_starts_a_run_so_validation_quarantines_it(
    sfn, load_function, sample_event, context
):
    app = load_function("start_pipeline", ENVIRONMENT)
    event = sample_event("s3_object_created.json")
    event["detail"]["object"]["key"] = "datasets/orders/2026-11-25/orders.xlsx"

    assert app.handler(event, context)["started"] is True
    assert len(executions(sfn)) == 1


def test_an_object_that_is_not_a_dataset_is_logged_and_starts_nothing(sfn, load_function, sample_event, context):
    app = load_function("start_pipeline", ENVIRONMENT)
    event = sample_event("s3_object_created.json")
    event["detail"]["object"]["key"] = "datasets/orders/2026-11-25/orders.csv.quality.json"  # a validation report

    result = app.handler(event, context)

    assert result == {
        "started": False,
        "ignored": "s3://cd4ml-dev-rawdatabucket-example/datasets/orders/2026-11-25/orders.csv.quality.json "
        "is not an upload under datasets/ (a validation report or a folder)",
    }
    assert executions(sfn) == []


def test_a_stack_without_the_runtime_setting_fails_at_cold_start_naming_it(sfn, load_function, monkeypatch):
    monkeypatch.delenv("PROCESSING_MAX_RUNTIME", raising=False)
    environment = {k: v for k, v in ENVIRONMENT.items() if k != "PROCESSING_MAX_RUNTIME"}

    with pytest.raises(Exception) as raised:
        load_function("start_pipeline", environment)

    assert type(raised.value).__name__ == "SettingsError"
    assert str(raised.value) == "environment variable PROCESSING_MAX_RUNTIME is not set"


def test_an_upload_to_another_bucket_is_ignored_and_counted(sfn, load_function, sample_event, context, capsys):
    app = load_function("start_pipeline", ENVIRONMENT)
    elsewhere = sample_event("s3_object_created.json")
    elsewhere["detail"]["bucket"]["name"] = "someone-elses-bucket"
    elsewhere["resources"] = ["arn:aws:s3:::someone-elses-bucket"]

    result = app.handler(elsewhere, context)

    assert result["started"] is False and "someone-elses-bucket" in result["ignored"]
    assert executions(sfn) == []
    assert '"ForeignBucketEvents"' in capsys.readouterr().out  # the EMF metric
