"""The template's FrameworkImages mapping: in every region the SageMaker Python SDK lists, an empty image parameter
resolves to the SDK's XGBoost image of that region; a given image still wins; and the generator rewrites only its
own maps, the same way every time."""

import importlib.util

import pytest
from resolved_template import resolved as resolved_in

from cd4ml import framework_images
from cd4ml.framework_images import (
    IMAGE_KEY,
    IMAGE_MAP,
    REGION_MAP,
    FrameworkImageError,
    RegionImage,
    main,
    partition_url_suffix,
    region_image,
    render_mappings,
    rewrite_template,
)
from cd4ml.localcloud.deploy.template import load_template, transform_template

STACK = "cd4ml-dev"
SDK_MISSING = importlib.util.find_spec("sagemaker") is None
needs_sdk = pytest.mark.skipif(
    SDK_MISSING, reason=f"the SageMaker Python SDK is not installed ({framework_images.SDK_REQUIREMENT})"
)


@pytest.fixture(scope="module")
def template_text(root) -> str:
    return (root / "template.yaml").read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def transformed(root):
    return transform_template(load_template(root / "template.yaml"), {}, root, "us-east-1")


@pytest.fixture(scope="module")
def sdk_images() -> list[RegionImage]:
    if SDK_MISSING:
        pytest.skip(f"the SageMaker Python SDK is not installed ({framework_images.SDK_REQUIREMENT})")
    return framework_images.sdk_images()


def environment(transformed, logical_id: str, region: str, **parameters: str) -> dict:
    """A function's environment variables as CloudFormation resolves them in `region` (parameters at defaults)."""
    return resolved(transformed, logical_id, region, **parameters)["Environment"]["Variables"]


def resolved(transformed, logical_id: str, region: str, **parameters: str) -> dict:
    return resolved_in(transformed, logical_id, region=region, stack=STACK, **parameters)


def images_in_template(transformed) -> list[RegionImage]:
    image = transformed.mappings[IMAGE_MAP][IMAGE_KEY]
    return [
        RegionImage(region, entry["Account"], partition_url_suffix(region), image["Repository"], image["Tag"])
        for region, entry in transformed.mappings[REGION_MAP].items()
    ]


def _pulls(transformed, region: str, **parameters: str) -> list[str]:
    (policy,) = resolved(transformed, "SageMakerExecutionRole", region, **parameters)["Policies"]
    (pull,) = [s for s in policy["PolicyDocument"]["Statement"] if "ecr:BatchGetImage" in s["Action"]]
    return pull["Resource"]


# ---- the mapping against the SDK ------------------------------------------------------------------------


@needs_sdk
def test_every_region_the_sdk_lists_resolves_to_the_sdk_s_image(transformed, sdk_images):
    assert sorted(transformed.mappings[REGION_MAP]) == sorted(image.region for image in sdk_images)
    for image in sdk_images:
        training = environment(transformed, "StartJobFunction", image.region)
        serving = environment(transformed, "RegisterModelFunction", image.region)
        assert training["TRAINING_IMAGE"] == training["PROCESSING_IMAGE"] == image.uri, image.region
        assert serving["INFERENCE_IMAGE"] == image.uri, image.region


@needs_sdk
def test_the_template_is_what_the_generator_writes_from_the_sdk(template_text, sdk_images):
    assert rewrite_template(template_text, render_mappings(sdk_images)) == template_text, (
        "run `python -m cd4ml.framework_images --write template.yaml`"
    )


def test_the_sdk_s_china_and_iso_images_use_their_partition_s_suffix():
    assert partition_url_suffix("cn-north-1") == "amazonaws.com.cn"
    assert partition_url_suffix("us-gov-west-1") == "amazonaws.com"
    assert partition_url_suffix("us-iso-east-1") == "c2s.ic.gov"
    china = region_image("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:3.0-5", "cn-north-1")
    assert (china.account, china.url_suffix, china.repository, china.tag) == (
        "450853457545",
        "amazonaws.com.cn",
        "sagemaker-xgboost",
        "3.0-5",
    )
    with pytest.raises(
        FrameworkImageError, match=r"suffix 'amazonaws\.com' is not the partition's 'amazonaws\.com\.cn'"
    ):
        region_image("450853457545.dkr.ecr.cn-north-1.amazonaws.com/sagemaker-xgboost:3.0-5", "cn-north-1")
    with pytest.raises(FrameworkImageError, match="the SDK's image for eu-west-1"):
        region_image("141502667606.dkr.ecr.eu-west-2.amazonaws.com/sagemaker-xgboost:3.0-5", "eu-west-1")


# ---- what the template resolves to (no SDK needed) ---------------------------------------------------------


def test_an_empty_image_parameter_is_the_framework_image_of_the_stack_s_region(transformed):
    accounts = {image.region: image for image in images_in_template(transformed)}
    assert accounts["us-east-1"].account == "683313688378" and accounts["eu-west-1"].account == "141502667606"
    china = environment(transformed, "StartJobFunction", "cn-north-1")
    assert china["TRAINING_IMAGE"] == "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:3.0-5"
    assert (
        _pulls(transformed, "cn-north-1") == ["arn:aws-cn:ecr:cn-north-1:450853457545:repository/sagemaker-xgboost"] * 2
    )
    assert _pulls(transformed, "eu-west-1") == ["arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost"] * 2
    policies = resolved(transformed, "StartJobFunctionRole", "eu-west-1")["Policies"]
    statements = [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]
    (check,) = [s for s in statements if s["Action"] == "ecr:BatchGetImage"]  # the pre-flight pull check
    assert check["Resource"] == ["arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost"] * 2


def test_a_given_image_wins_over_the_region_s_framework_image(transformed):
    own = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/trainer:2"
    variables = environment(transformed, "StartJobFunction", "eu-west-1", TrainingImageUri=own)
    assert variables["TRAINING_IMAGE"] == own
    assert variables["PROCESSING_IMAGE"] == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"
    assert (
        environment(transformed, "RegisterModelFunction", "eu-west-1", TrainingImageUri=own)["INFERENCE_IMAGE"] == own
    )
    assert _pulls(transformed, "eu-west-1", TrainingImageUri=own) == [
        "arn:aws:ecr:eu-west-1:111122223333:repository/team/trainer",
        "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost",
    ]


def test_the_image_parameters_accept_empty_or_an_ecr_uri_only(transformed):
    import re

    for name in ("TrainingImageUri", "ProcessingImageUri"):
        spec = transformed.parameters[name]
        assert spec["Default"] == ""
        for value in ("", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"):
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
        assert not re.fullmatch(spec["AllowedPattern"], "python:3.11-slim")


# ---- the rewrite ------------------------------------------------------------------------------------------

OTHER = [
    RegionImage("eu-west-1", "999999999999", "amazonaws.com", "sagemaker-xgboost", "9.9-9"),
    RegionImage("zz-north-9", "888888888888", "amazonaws.com", "sagemaker-xgboost", "9.9-9"),
]


def test_the_mapping_in_the_template_is_exactly_what_the_generator_renders(transformed, template_text):
    assert render_mappings(images_in_template(transformed)) in template_text


def test_a_rewrite_changes_only_the_generated_maps_and_twice_is_once(transformed, template_text):
    current = render_mappings(images_in_template(transformed))
    other = render_mappings(OTHER)
    rewritten = rewrite_template(template_text, other)
    assert rewritten != template_text and other in rewritten
    assert rewritten.replace(other, current) == template_text  # every other byte as it was
    assert rewrite_template(rewritten, other) == rewritten
    assert rewrite_template(rewritten, current) == template_text


TEMPLATE = """\
Parameters:
  Stage:
    Type: String

Mappings:
  # sizes by stage
  Sizes:
    dev: {Instance: ml.m5.large}
{generated}  Later:
    a: {B: c}

# the conditions
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
"""


def test_other_maps_and_comments_stay_where_they_are():
    text = TEMPLATE.replace("{generated}", render_mappings(OTHER[:1]))
    rewritten = rewrite_template(text, render_mappings(OTHER))
    assert rewritten == TEMPLATE.replace("{generated}", "").replace(
        "Mappings:\n", "Mappings:\n" + render_mappings(OTHER)
    )
    assert rewrite_template(rewritten, render_mappings(OTHER)) == rewritten


def test_a_template_without_mappings_gets_them_before_its_conditions():
    text = "Parameters:\n  Stage:\n    Type: String\n\n# the conditions\nConditions:\n  A: !Equals [a, a]\n"
    rewritten = rewrite_template(text, render_mappings(OTHER))
    assert rewritten == (
        "Parameters:\n  Stage:\n    Type: String\n\nMappings:\n"
        + render_mappings(OTHER)
        + "\n# the conditions\nConditions:\n  A: !Equals [a, a]\n"
    )
    assert rewrite_template(rewritten, render_mappings(OTHER)) == rewritten


def test_line_endings_and_a_missing_final_newline_are_kept():
    text = "Mappings:\r\n  Sizes:\r\n    dev: {I: m}\r\nResources: {}"
    rewritten = rewrite_template(text, render_mappings(OTHER))
    assert rewritten.startswith("Mappings:\r\n" + render_mappings(OTHER).replace("\n", "\r\n") + "  Sizes:\r\n")
    assert rewritten.endswith("\r\nResources: {}")
    assert rewrite_template(rewritten, render_mappings(OTHER)) == rewritten


# ---- the command ------------------------------------------------------------------------------------------


def test_check_fails_with_a_diff_until_write_rewrites_the_mapping(tmp_path, monkeypatch, capsys, template_text):
    monkeypatch.setattr(framework_images, "sdk_images", lambda: OTHER)
    path = tmp_path / "template.yaml"
    path.write_bytes(template_text.encode())

    assert main(["--check", str(path)]) == 1
    error = capsys.readouterr().err
    assert "differs from the SageMaker Python SDK" in error and "--write" in error
    assert '+    zz-north-9: {Account: "888888888888"}' in error
    assert '-    us-east-1: {Account: "683313688378"}' in error
    assert path.read_bytes().decode() == template_text  # --check writes nothing

    assert main(["--write", str(path)]) == 0
    assert main(["--check", str(path)]) == 0
    assert render_mappings(OTHER) in path.read_text()


def test_without_the_sdk_the_command_says_what_to_install(tmp_path, monkeypatch, capsys, template_text):
    monkeypatch.setitem(__import__("sys").modules, "sagemaker.core", None)  # import fails as if not installed
    path = tmp_path / "template.yaml"
    path.write_bytes(template_text.encode())
    assert main(["--check", str(path)]) == 2
    assert f"install `{framework_images.SDK_REQUIREMENT}`" in capsys.readouterr().err
