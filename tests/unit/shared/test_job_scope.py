"""Job names are scoped to the stack and the run: two stacks in one account (dev and staging) never resume or stop
each other's jobs, and one run never stops another's."""

from pathlib import Path

import pytest
from cd4ml_shared.environment import SettingsError
from cd4ml_shared.jobs import check_job_name_prefix, is_run_job_name, job_name
from cd4ml_shared.run_input import DatasetRef, job_prefix
from cd4ml_shared.settings import RecordOutcomeSettings, StartPipelineSettings

from cd4ml.localcloud.deploy.template import load_template

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
DATASET = DatasetRef(bucket="raw", key="datasets/orders/2026-11-25/orders.csv", version_id="v1")


def test_the_same_upload_gets_different_job_names_in_two_stacks():
    dev, staging = job_prefix(DATASET, "cd4ml-1a2b3c4d"), job_prefix(DATASET, "cd4ml-9f8e7d6c")
    assert dev != staging
    assert not is_run_job_name(dev, job_name(staging, "train", 0))


@pytest.mark.parametrize("kind", ["features", "train", "evaluate"])
def test_a_runs_own_job_names_are_recognised(kind):
    prefix = job_prefix(DATASET, "cd4ml-1a2b3c4d")
    assert is_run_job_name(prefix, job_name(prefix, kind, 3))


@pytest.mark.parametrize(
    "name",
    [
        "cd4ml-1a2b3c4d-f3dbe6d10cbde9ca-train-0-extra",  # another name that merely starts with it
        "cd4ml-1a2b3c4d-f3dbe6d10cbde9ca-deploy-0",  # not a kind of the pipeline
        "cd4ml-1a2b3c4d-f3dbe6d10cbde9ca-train-",
        "cd4ml-1a2b3c4d-f3dbe6d10cbde9ca-train-٣",  # a digit, but not an attempt number
        "x-cd4ml-1a2b3c4d-f3dbe6d10cbde9ca-train-0",  # contains the prefix (what NameContains matches)
        "cd4ml-1a2b3c4d-f3dbe6d10cbde9ca",
    ],
)
def test_names_that_only_contain_the_prefix_are_not_the_runs(name):
    assert not is_run_job_name("cd4ml-1a2b3c4d-f3dbe6d10cbde9ca", name)


@pytest.mark.parametrize("prefix", ["", "-cd4ml", "cd4ml-", "cd4ml_dev", "cd4ml-" + "x" * 40])
def test_a_stack_prefix_that_would_make_invalid_job_names_is_refused(prefix):
    with pytest.raises(ValueError, match="job name prefix"):
        check_job_name_prefix(prefix)


@pytest.mark.parametrize("settings_class", [StartPipelineSettings, RecordOutcomeSettings])
def test_the_functions_that_name_or_stop_jobs_refuse_a_malformed_prefix(settings_class):
    env = {
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-training-pipeline",
        "ARTIFACTS_BUCKET": "art",
        "RAW_DATA_BUCKET": "raw",
        "TRAINING_MAX_RUNTIME": "3600",
        "PROCESSING_MAX_RUNTIME": "1800",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:topic",
        "JOB_NAME_PREFIX": "cd4ml_dev",
    }
    with pytest.raises(SettingsError, match=r"^JOB_NAME_PREFIX: job name prefix 'cd4ml_dev'"):
        settings_class.from_environment(env)


def test_the_job_state_rules_and_the_functions_use_the_same_stack_scoped_prefix():
    """The starter names jobs `JOB_NAME_PREFIX-...`, RecordOutcome stops them, and JobCompletionFunction's rules match
    `JOB_NAME_PREFIX-`: one definition of the prefix, written out the same way in all four places."""
    resources = load_template(TEMPLATE)["Resources"]
    starter = resources["StartPipelineFunction"]["Properties"]["Environment"]["Variables"]["JOB_NAME_PREFIX"]
    recorder = resources["RecordOutcomeFunction"]["Properties"]["Environment"]["Variables"]["JOB_NAME_PREFIX"]
    assert starter == recorder
    ((template_string, variables),) = starter.values()
    assert template_string == "cd4ml-${StackScope}" and "AWS::StackId" in repr(variables)  # 8 hex of its UUID
    events = resources["JobCompletionFunction"]["Properties"]["Events"]
    for rule, field in (("TrainingJobEnded", "TrainingJobName"), ("ProcessingJobEnded", "ProcessingJobName")):
        (pattern,) = events[rule]["Properties"]["Pattern"]["detail"][field]
        assert pattern == {"prefix": {"Fn::Sub": ["cd4ml-${StackScope}-", variables]}}, rule


@pytest.mark.parametrize(
    ("function", "action"),
    [("RecordOutcomeFunction", "sagemaker:StopTrainingJob"), ("StartJobFunction", "sagemaker:CreateTrainingJob")],
)
def test_the_functions_may_start_and_stop_only_this_stacks_jobs(function, action):
    resources = load_template(TEMPLATE)["Resources"]
    statements = [
        statement
        for policy in resources[function]["Properties"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]
    (granted,) = [s for s in statements if action in s["Action"]]
    variables = resources["StartPipelineFunction"]["Properties"]["Environment"]["Variables"]["JOB_NAME_PREFIX"]
    for resource in granted["Resource"]:
        ((arn, scope),) = resource.values()
        assert arn.endswith("-job/cd4ml-${StackScope}-*") and scope == variables["Fn::Sub"][1]
