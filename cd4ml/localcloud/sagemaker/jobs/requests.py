"""The checks a Create*Job request passes before moto records the job: what AWS refuses, and what cannot run on
this machine. Each refusal is a JobRequestError, answered to the caller as AWS's ValidationException."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...errors import AwsError
from ..images import LocalImage, UnsupportedImageError, resolve_image
from ..registry import ModelPackageNotFound, model_containers
from .contract import JOB_NAME_PATTERN, NAME_PARAMETERS


class JobRequestError(AwsError):
    """A Create*/Stop* request the local cloud refuses, answered with AWS's error `code`."""


def check_request(kind: str, request: Mapping[str, Any], backend: Any) -> tuple[LocalImage, Any]:
    """Refuse what AWS refuses and what cannot run locally, before the job exists; returns (image, the
    transform model's container, resolved from its model package when it names one)."""
    name = str(request.get(NAME_PARAMETERS[kind], ""))
    if not JOB_NAME_PATTERN.fullmatch(name):  # AWS's pattern; it also keeps the name safe as a folder name
        raise JobRequestError(
            f"1 validation error detected: Value '{name}' at '{NAME_PARAMETERS[kind][0].lower()}"
            f"{NAME_PARAMETERS[kind][1:]}' failed to satisfy constraint: Member must satisfy regular expression "
            f"pattern: {JOB_NAME_PATTERN.pattern}"
        )
    if kind == "training":
        return _check_training(request, backend), None
    if kind == "processing":
        return _check_processing(request, backend), None
    return _check_transform(request, backend)


def _image(image: str | None, what: str) -> LocalImage:
    if not image:
        raise JobRequestError(f"{what} is required: the local cloud runs a job from its image")
    try:
        return resolve_image(image)
    except UnsupportedImageError as exc:
        raise JobRequestError(str(exc)) from exc


def _check_training(request: Mapping[str, Any], backend: Any) -> LocalImage:
    name = request.get("TrainingJobName", "")
    if name in backend.training_jobs:
        raise JobRequestError(
            "Training job names must be unique within an AWS account and region, and a training job with this "
            f"name already exists ({backend.training_jobs[name].arn})"
        )
    spec = request.get("AlgorithmSpecification") or {}
    if spec.get("AlgorithmName"):
        raise JobRequestError(
            "AlgorithmSpecification.AlgorithmName (a built-in or Marketplace algorithm) cannot run on the local "
            "cloud; give a TrainingImage it runs (see cd4ml/localcloud/sagemaker/images.py)"
        )
    image = _image(spec.get("TrainingImage"), "AlgorithmSpecification.TrainingImage")
    if not (request.get("OutputDataConfig") or {}).get("S3OutputPath"):
        raise JobRequestError("OutputDataConfig.S3OutputPath is required")
    for definition in spec.get("MetricDefinitions") or []:
        try:
            re.compile(definition.get("Regex", ""))
        except re.error as exc:
            raise JobRequestError(f"MetricDefinitions regex of {definition.get('Name')!r} is invalid: {exc}") from exc
    hyperparameters = request.get("HyperParameters") or {}
    if len(hyperparameters) > 100:
        raise JobRequestError(f"{len(hyperparameters)} hyperparameters given; the limit is 100")
    for key, value in hyperparameters.items():
        if not isinstance(value, str) or len(value) > 2500 or len(key) > 256:
            raise JobRequestError(f"hyperparameter {key!r} must be a string of at most 2500 characters")
    default_mode = spec.get("TrainingInputMode", "File")
    for channel in request.get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}).get("S3DataSource")
        label = f"channel {channel.get('ChannelName')!r}"
        if source is None:
            raise JobRequestError(f"{label}: only S3DataSource channels run on the local cloud")
        if source.get("S3DataType", "S3Prefix") not in ("S3Prefix", "ManifestFile"):
            raise JobRequestError(f"{label}: S3DataType {source.get('S3DataType')} is not supported locally")
        mode = channel.get("InputMode") or default_mode
        if mode not in ("File", "FastFile"):
            raise JobRequestError(f"{label}: input mode {mode} is not supported locally (File and FastFile are)")
    stopping = request.get("StoppingCondition") or {}
    if request.get("EnableManagedSpotTraining"):
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        if max_wait is None:
            raise JobRequestError("StoppingCondition.MaxWaitTimeInSeconds is required for managed spot training")
        if max_wait < stopping.get("MaxRuntimeInSeconds", 86400):
            raise JobRequestError(
                "StoppingCondition.MaxWaitTimeInSeconds must be greater than or equal to MaxRuntimeInSeconds"
            )
    return image


def _check_processing(request: Mapping[str, Any], backend: Any) -> LocalImage:
    name = request.get("ProcessingJobName", "")
    if name in backend.processing_jobs:
        raise JobRequestError(
            "Job name must be unique within an AWS account and region, and a processing job with this name "
            f"already exists ({backend.processing_jobs[name].arn})"
        )
    app = request.get("AppSpecification") or {}
    image = _image(app.get("ImageUri"), "AppSpecification.ImageUri")
    if not app.get("ContainerEntrypoint"):
        raise JobRequestError(
            "AppSpecification.ContainerEntrypoint is required on the local cloud: an image's own entrypoint "
            'cannot run here (e.g. ["python3", "/opt/ml/processing/input/code/script.py"])'
        )
    for item in request.get("ProcessingInputs") or []:
        s3_input = item.get("S3Input")
        label = f"processing input {item.get('InputName')!r}"
        if s3_input is None:
            raise JobRequestError(f"{label}: only S3Input runs on the local cloud (not DatasetDefinition)")
        if s3_input.get("S3InputMode", "File") != "File":
            raise JobRequestError(f"{label}: S3InputMode {s3_input.get('S3InputMode')} is not supported locally")
        if s3_input.get("S3DataType", "S3Prefix") not in ("S3Prefix", "ManifestFile"):
            raise JobRequestError(f"{label}: S3DataType {s3_input.get('S3DataType')} is not supported locally")
        if not str(s3_input.get("LocalPath", "")).startswith("/opt/ml/processing/"):
            raise JobRequestError(f"{label}: LocalPath must be below /opt/ml/processing/")
    for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        label = f"processing output {item.get('OutputName')!r}"
        if item.get("S3Output") is None:
            raise JobRequestError(f"{label}: only S3Output runs on the local cloud (not FeatureStoreOutput)")
        if not str(item["S3Output"].get("LocalPath", "")).startswith("/opt/ml/processing/"):
            raise JobRequestError(f"{label}: LocalPath must be below /opt/ml/processing/")
    return image


def _check_transform(request: Mapping[str, Any], backend: Any) -> tuple[LocalImage, dict[str, Any]]:
    name = request.get("TransformJobName", "")
    if name in backend.transform_jobs:
        raise JobRequestError(
            "Job name must be unique within an AWS account and region, and a transform job with this name "
            f"already exists ({backend.transform_jobs[name].arn})"
        )
    model_name = request.get("ModelName", "")
    model = backend._models.get(model_name)
    if model is None:
        arn = f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:model/{model_name}"
        raise JobRequestError(f'Could not find model "{arn}".')
    try:
        containers = model_containers(backend, model)
    except ModelPackageNotFound as exc:
        raise JobRequestError(f"Model {model_name}: {exc}") from None
    if len(containers) != 1:
        raise JobRequestError(f"model {model_name!r} has {len(containers)} containers; one runs locally")
    image = _image(containers[0].get("Image"), f"the image of model {model_name!r}")
    transform_input = request.get("TransformInput") or {}
    source = (transform_input.get("DataSource") or {}).get("S3DataSource") or {}
    if source.get("S3DataType", "S3Prefix") not in ("S3Prefix", "ManifestFile"):
        raise JobRequestError(f"TransformInput S3DataType {source.get('S3DataType')} is not supported locally")
    split = transform_input.get("SplitType", "None")
    if split not in ("None", "Line"):
        raise JobRequestError(f"SplitType {split} is not supported locally (None and Line are)")
    if request.get("DataProcessing"):
        raise JobRequestError("DataProcessing (input/output filters, JoinSource) is not supported locally")
    if not (request.get("TransformOutput") or {}).get("S3OutputPath"):
        raise JobRequestError("TransformOutput.S3OutputPath is required")
    return image, containers[0]
