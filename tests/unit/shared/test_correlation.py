"""The correlation ids a person follows, from the events the functions get: the JMESPath expressions powertools
resolves on the real-shaped payloads, and the deployment's execution name derived from a step's payload."""

import pytest
from aws_lambda_powertools.utilities.jmespath_utils import query
from cd4ml_shared import correlation

PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/cd4ml-dev-fraud/{}"


def test_a_task_s_run_id_and_a_record_task_s_state_run_id_are_found_where_the_state_machine_puts_them(sample_event):
    run = sample_event("training_pipeline_input.json")

    assert query(envelope=correlation.RUN, data=run) == run["run_id"]
    assert query(envelope=correlation.RECORDED_RUN, data={"status": "failed", "state": run}) == run["run_id"]
    assert query(envelope=correlation.RUN, data={}) is None  # powertools then drops the key: no stale id


def test_a_kinesis_batch_is_named_by_its_first_record(sample_event):
    batch = sample_event("kinesis_ground_truth_batch.json")

    assert query(envelope=correlation.STREAM_BATCH, data=batch) == batch["Records"][0]["eventID"]
    assert query(envelope=correlation.STREAM_BATCH, data={"Records": []}) is None


@pytest.mark.parametrize(
    ("deployment", "name"),
    [
        ({"model_package_arn": PACKAGE.format(3), "version": 3}, "deploy-v3"),
        ({"model_package_arn": PACKAGE.format(2), "version": 2, "rollback_of": PACKAGE.format(4)}, "rollback-v4"),
        ({"model_package_arn": PACKAGE.format(2), "version": 2, "rollback_of": None}, "deploy-v2"),
        ({"version": True}, None),
        ({"rollback_of": "not-an-arn"}, None),
        (None, None),
    ],
)
def test_a_deployment_is_named_as_start_deployment_named_its_execution(deployment, name):
    assert correlation.deployment_execution(deployment) == name


def test_a_waiting_step_s_execution_wins_over_what_its_deployment_says():
    step = {"step": "rollout", "execution": "rollback-v7", "deployment": {"version": 6}}

    assert correlation.deployment_step_execution(step) == "rollback-v7"
    assert correlation.deployment_step_execution({**step, "execution": None}) == "deploy-v6"


def test_a_smoke_test_is_named_by_its_execution_or_else_by_the_version_it_tests():
    arn = "arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-deployment:rollback-v5"

    assert correlation.smoke_test_execution({"model_package_arn": PACKAGE.format(4)}) == "deploy-v4"
    assert correlation.smoke_test_execution({"model_package_arn": PACKAGE.format(4), "execution": arn}) == "rollback-v5"
    assert correlation.smoke_test_execution({"model_package_arn": "arn:aws:sagemaker:x"}) is None
