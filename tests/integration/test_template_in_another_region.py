"""The project's template deployed outside us-east-1 with its default images: every job of a run, and the registered
model, use AWS's XGBoost image of the stack's own region (the template's FrameworkImages mapping), so the run gets
past the image check at its first job and trains, as `sam deploy` in eu-west-1 would."""

import pytest
from quick_model import FAST_TRAINING
from trained_model import START, published

from cd4ml.data import generate_orders
from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

REGION = "eu-west-1"
EU_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"  # what the SageMaker SDK names


@pytest.fixture(scope="module")
def cloud(root):
    parameters = {"Stage": "dev", **FAST_TRAINING}  # registered PendingManualApproval: nothing deploys
    with LocalCloud.deployed(root / "template.yaml", parameters, region=REGION) as cloud:
        yield cloud


def test_the_functions_are_given_the_region_s_framework_image(cloud):
    lambda_ = cloud.client("lambda")
    starter = lambda_.get_function_configuration(FunctionName=cloud.physical_id("StartJobFunction"))
    variables = starter["Environment"]["Variables"]
    assert variables["TRAINING_IMAGE"] == variables["PROCESSING_IMAGE"] == EU_IMAGE
    registrar = lambda_.get_function_configuration(FunctionName=cloud.physical_id("RegisterModelFunction"))
    assert registrar["Environment"]["Variables"]["INFERENCE_IMAGE"] == EU_IMAGE


def test_a_run_trains_and_registers_on_the_region_s_image(cloud):
    driver = published(cloud)
    orders = generate_orders(8_000, seed=3, start=START, days=14)

    run = driver.run(orders, f"datasets/orders/{START:%Y-%m-%d}/orders.csv")

    assert run.status == "SUCCEEDED" and run.run_status == "succeeded", run.outcome
    sagemaker = cloud.client("sagemaker")
    (training,) = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    job = sagemaker.describe_training_job(TrainingJobName=training["TrainingJobName"])
    assert job["AlgorithmSpecification"]["TrainingImage"] == EU_IMAGE
    processing = sagemaker.list_processing_jobs()["ProcessingJobSummaries"]
    assert processing and all(
        sagemaker.describe_processing_job(ProcessingJobName=p["ProcessingJobName"])["AppSpecification"]["ImageUri"]
        == EU_IMAGE
        for p in processing
    )
    (package,) = sagemaker.list_model_packages(ModelPackageGroupName=cloud.stack.outputs["ModelPackageGroupName"])[
        "ModelPackageSummaryList"
    ]
    described = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert [c["Image"] for c in described["InferenceSpecification"]["Containers"]] == [EU_IMAGE]
    assert package["ModelPackageArn"].startswith(f"arn:aws:sagemaker:{REGION}:")
