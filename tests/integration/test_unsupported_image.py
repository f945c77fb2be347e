"""A training image that cannot run fails the run at its first job start, before any job is created, naming the
parameter and the images that do run: the project template on the local cloud, whose ECR answers for AWS's
framework images as far as the local SageMaker runs them (cd4ml/localcloud/sagemaker/ecr_images.py)."""

from datetime import UTC, datetime

import pytest

from cd4ml.data.orders import generate_orders, recent_start
from cd4ml.localcloud import LocalCloud
from cd4ml.pipeline_driver import PipelineDriver

pytestmark = pytest.mark.integration

CUSTOM = "683313688378.dkr.ecr.us-east-1.amazonaws.com/my-team-trainer:1.0"


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud.deployed(root / "template.yaml", {"Stage": "dev", "TrainingImageUri": CUSTOM}) as cloud:
        yield cloud


def test_an_image_with_no_local_equivalent_fails_the_run_before_the_feature_job(cloud):
    driver = PipelineDriver(cloud)
    driver.publish_code("dev")
    orders = generate_orders(2_000, seed=11, start=recent_start(20), days=20, fraud_rate=0.05)

    run = driver.run(orders, f"datasets/orders/{datetime.now(UTC):%Y-%m-%d}/orders.csv", timeout=120)

    assert run.status == "FAILED" and run.run_status == "failed"
    states = [s for s, _ in run.states]
    assert states[states.index("BuildFeatures") + 1] == "RecordFailure"
    (reason,) = run.outcome["reasons"]
    assert reason.startswith(f"UnsupportedImage: TrainingImageUri {CUSTOM!r}: ImageNotFound: image {CUSTOM!r} has")
    assert "sagemaker-xgboost" in reason  # what would run instead
    sagemaker = cloud.client("sagemaker")
    assert sagemaker.list_processing_jobs()["ProcessingJobSummaries"] == []
    assert sagemaker.list_training_jobs()["TrainingJobSummaries"] == []


def test_the_stack_s_own_images_are_found(cloud):
    ecr = cloud.client("ecr")
    found = ecr.batch_get_image(
        registryId="683313688378", repositoryName="sagemaker-xgboost", imageIds=[{"imageTag": "3.0-5"}]
    )
    assert [i["imageId"]["imageTag"] for i in found["images"]] == ["3.0-5"] and found["failures"] == []
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.batch_get_image(repositoryName="not-in-this-account", imageIds=[{"imageTag": "1"}])
