"""A model's container that names a model package resolves to the package's container, as AWS runs it."""

import inspect
from types import SimpleNamespace

import pytest

from cd4ml.localcloud.sagemaker.registry import ModelPackageNotFound, model_containers, resolve_container

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/2"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def backend() -> SimpleNamespace:
    """moto's registry as the resolution reads it: packages by ARN, the names DescribeModelPackage accepts."""
    package = SimpleNamespace(
        inference_specification={
            "Containers": [
                {
                    "Image": IMAGE,
                    "ModelDataUrl": "s3://artifacts/fraud/2/model.tar.gz",
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "THRESHOLD": "0.5"},
                    "Framework": "XGBOOST",
                }
            ]
        }
    )
    return SimpleNamespace(
        region_name="us-east-1",
        account_id="123456789012",
        model_packages={ARN: package},
        model_package_name_mapping={ARN: ARN, "fraud": ARN},
        model_package_groups={"fraud": object()},
    )


def test_a_container_without_a_package_is_left_as_it_is() -> None:
    container = {"Image": IMAGE, "ModelDataUrl": "s3://m/model.tar.gz"}
    assert resolve_container(backend(), container) == container


def test_the_package_supplies_image_and_model_data_and_the_model_environment_wins() -> None:
    resolved = resolve_container(backend(), {"ModelPackageName": ARN, "Environment": {"THRESHOLD": "0.7"}})

    assert resolved == {
        "Image": IMAGE,
        "ModelDataUrl": "s3://artifacts/fraud/2/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "THRESHOLD": "0.7"},
        "ModelPackageName": ARN,
    }


def test_group_slash_version_names_the_same_package() -> None:
    assert resolve_container(backend(), {"ModelPackageName": "fraud/2"})["Image"] == IMAGE


def test_a_bare_group_name_is_refused() -> None:
    with pytest.raises(ModelPackageNotFound, match="is a model package group"):
        resolve_container(backend(), {"ModelPackageName": "fraud"})


def test_an_unknown_version_is_refused_by_name() -> None:
    with pytest.raises(ModelPackageNotFound, match="fraud/9"):
        resolve_container(backend(), {"ModelPackageName": "fraud/9"})


def test_a_models_containers_are_its_primary_container_or_its_list() -> None:
    primary = SimpleNamespace(primary_container={"ModelPackageName": ARN}, containers=[])
    listed = SimpleNamespace(primary_container={}, containers=[{"ModelPackageName": ARN}])

    assert [c["Image"] for c in model_containers(backend(), primary)] == [IMAGE]
    assert [c["Image"] for c in model_containers(backend(), listed)] == [IMAGE]


def test_create_model_hook_point() -> None:
    """Canary: the registry hook passes CreateModel's arguments by position."""
    from moto.sagemaker.models import SageMakerModelBackend

    assert list(inspect.signature(SageMakerModelBackend.create_model).parameters) == [
        "self",
        "model_name",
        "execution_role_arn",
        "primary_container",
        "vpc_config",
        "containers",
        "tags",
    ]
