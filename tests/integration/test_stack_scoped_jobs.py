"""Two stacks of the project template in one account (dev and staging): each names its SageMaker jobs with its own
prefix, and a job's state-change event resumes only the stack that owns the job."""

import json

import pytest

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration
STACKS = ("cd4ml-dev", "cd4ml-staging")


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud() as cloud:
        for name in STACKS:
            cloud.deploy(root / "template.yaml", {"Stage": "dev"}, stack_name=name)
        yield cloud


def job_name_prefix(cloud, stack: str) -> str:
    function = cloud.stacks[stack].physical_id("StartPipelineFunction")
    configuration = cloud.client("lambda").get_function_configuration(FunctionName=function)
    return configuration["Environment"]["Variables"]["JOB_NAME_PREFIX"]


def test_each_stack_names_its_jobs_with_a_prefix_of_its_own(cloud):
    dev, staging = (job_name_prefix(cloud, stack) for stack in STACKS)
    assert dev != staging and not staging.startswith(dev) and not dev.startswith(staging)
    assert all(len(prefix) == len("cd4ml-") + 8 for prefix in (dev, staging))


def test_a_job_state_change_reaches_only_the_stack_that_owns_the_job(cloud, sample_event):
    event = sample_event("sagemaker_training_job_completed.json")
    name = f"{job_name_prefix(cloud, 'cd4ml-dev')}-3cf9a8ac133a728a-train-0"
    event["detail"].update(TrainingJobName=name, TrainingJobArn=event["resources"][0].rsplit("/", 1)[0] + "/" + name)
    completion = {stack: cloud.stacks[stack].resources["JobCompletionFunction"].attributes["Arn"] for stack in STACKS}
    before = {stack: sum(d.target_arn == arn for d in cloud.router.deliveries) for stack, arn in completion.items()}

    cloud.router.put_event(event["source"], event["detail-type"], event["detail"], [event["detail"]["TrainingJobArn"]])
    cloud.wait_idle()

    after = {stack: sum(d.target_arn == arn for d in cloud.router.deliveries) for stack, arn in completion.items()}
    assert after == {"cd4ml-dev": before["cd4ml-dev"] + 1, "cd4ml-staging": before["cd4ml-staging"]}, json.dumps(
        [d.target_arn for d in cloud.router.deliveries][-5:]
    )
