"""The local ECR's answer for AWS's framework images: found when the local SageMaker runs them, else a reason."""

from cd4ml.localcloud.sagemaker.ecr_images import framework_image_uri, runnable
from cd4ml.localcloud.sagemaker.images import resolve_image


def test_the_uri_is_rebuilt_from_the_api_s_names() -> None:
    assert (
        framework_image_uri("683313688378", "eu-west-1", "sagemaker-xgboost", {"imageTag": "3.0-5"})
        == "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"
    )
    digest = "sha256:" + "b" * 64
    assert framework_image_uri("1" * 12, "us-east-1", "pytorch-training", {"imageDigest": digest}).endswith(
        f"/pytorch-training@{digest}"
    )


def test_framework_images_run_by_tag_or_digest_and_others_say_what_does() -> None:
    assert runnable("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5") is None
    assert runnable("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training@sha256:" + "c" * 64) is None
    reason = runnable("683313688378.dkr.ecr.us-east-1.amazonaws.com/my-team-trainer:1.0")
    assert reason is not None and "has no local equivalent" in reason and "sagemaker-xgboost" in reason


def test_the_framework_image_of_every_region_of_the_template_runs_locally(root) -> None:
    """Not only us-east-1's: AWS publishes the XGBoost image under another account in each region (and partition)."""
    from cd4ml.framework_images import partition_url_suffix
    from cd4ml.localcloud.deploy.template import load_template

    mappings = load_template(root / "template.yaml")["Mappings"]
    image, regions = mappings["FrameworkImage"]["XGBoost"], mappings["FrameworkImages"]
    assert len({entry["Account"] for entry in regions.values()}) == len(regions) > 30
    for region, entry in regions.items():
        uri = f"{entry['Account']}.dkr.ecr.{region}.{partition_url_suffix(region)}/{image['Repository']}:{image['Tag']}"
        assert resolve_image(uri).framework == "xgboost", uri
        assert runnable(uri) is None, uri
    assert runnable("141502667606.dkr.ecr.eu-west-1.amazonaws.com/my-team-trainer:1.0") is not None
