"""SageMaker Model Registry on moto, with the model-package events AWS emits and AWS's update semantics, and models
created from a model package (CreateModel with a container's ModelPackageName) resolved to the package's container."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from ..aws import PARTITION, epoch_millis
from ..events.hooks import ACTIVE_ROUTER

log = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Model Package State Change"


def model_package_detail(package: Any) -> dict[str, Any]:
    """The event detail: the package as DescribeModelPackage shows it, with no empty fields."""
    response = package.gen_response_object()
    return {k: epoch_millis(v) for k, v in response.items() if v not in (None, {}, [])}


class ModelPackageNotFound(Exception):
    """A model's container names a model package the registry does not hold (CreateModel's ValidationException)."""


def package_container(backend: Any, name: str) -> dict[str, Any]:
    """The first container of the InferenceSpecification of the model package `name` (an ARN, a versioned
    `group/version`, or an unversioned package's name): what AWS runs for a model created from it.

    A bare group name is refused: a model is created from one version, never from "the latest" of a group.
    """
    key = name
    if ":" not in name and name.count("/") == 1:  # group/version, as CreateModel's name pattern allows
        group, version = name.split("/")
        key = f"arn:{PARTITION}:sagemaker:{backend.region_name}:{backend.account_id}:model-package/{group.lower()}"
        key = f"{key}/{version}"
    if ":" not in key and key in backend.model_package_groups:
        raise ModelPackageNotFound(
            f"ModelPackageName {name!r} is a model package group; give the ARN of one of its versions "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)."
        )
    package = backend.model_packages.get(backend.model_package_name_mapping.get(key, key))
    if package is None:
        raise ModelPackageNotFound(f"Model package {name!r} does not exist.")
    containers = (package.inference_specification or {}).get("Containers") or []
    if not containers:
        raise ModelPackageNotFound(f"Model package {name!r} has no InferenceSpecification containers.")
    return dict(containers[0])


def resolve_container(backend: Any, container: Mapping[str, Any]) -> dict[str, Any]:
    """A model's container as it runs: one that names a ModelPackageName gets the package's image, model data and
    environment, with the model's own Environment merged over the package's (the model's values win)."""
    name = container.get("ModelPackageName")
    if not name:
        return dict(container)
    package = package_container(backend, str(name))
    resolved = {k: v for k, v in package.items() if k in ("Image", "ModelDataUrl", "ModelDataSource")}
    environment = {**(package.get("Environment") or {}), **(container.get("Environment") or {})}
    if environment:
        resolved["Environment"] = environment
    for key in ("Mode", "ContainerHostname"):
        if key in container:
            resolved[key] = container[key]
    resolved["ModelPackageName"] = name
    return resolved


def model_containers(backend: Any, model: Any) -> list[dict[str, Any]]:
    """The containers a moto Model runs (PrimaryContainer or Containers), each resolved from its model package."""
    containers = [model.primary_container] if model.primary_container else list(model.containers or [])
    return [resolve_container(backend, container) for container in containers]


def install() -> None:
    """Emit an event when a model package is created and when its approval status changes; keep metadata that an
    update does not mention (moto 5.2.5 wipes CustomerMetadataProperties and ApprovalDescription on every update)."""
    from moto.sagemaker.models import SageMakerModelBackend

    if getattr(SageMakerModelBackend.create_model_package, "_cd4ml_hook", False):
        return
    original_create = SageMakerModelBackend.create_model_package
    original_update = SageMakerModelBackend.update_model_package
    original_create_model = SageMakerModelBackend.create_model

    def emit(backend: Any, arn: str) -> None:
        router = ACTIVE_ROUTER()
        if router is None:
            return
        try:
            package = backend.describe_model_package(arn)
            router.put_event("aws.sagemaker", DETAIL_TYPE, model_package_detail(package), resources=[arn])
        except Exception:
            log.exception("model package event for %s could not be emitted", arn)

    @functools.wraps(original_create)
    def create_model_package(self: Any, *args: Any, **kwargs: Any) -> str:
        arn = original_create(self, *args, **kwargs)
        emit(self, arn)
        return arn

    @functools.wraps(original_update)
    def update_model_package(
        self: Any,
        model_package_arn: str,
        model_approval_status: str | None,
        approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None,
        customer_metadata_properties_to_remove: list[str],
        additional_inference_specifications_to_add: list[Any] | None,
    ) -> str:
        package = self.describe_model_package(model_package_arn)
        before = package.model_approval_status
        merged = dict(package.customer_metadata_properties or {})
        merged.update(customer_metadata_properties or {})
        arn = original_update(
            self,
            model_package_arn,
            model_approval_status or before,
            approval_description if approval_description is not None else package.approval_description,
            merged or None,
            customer_metadata_properties_to_remove or [],
            additional_inference_specifications_to_add,
        )
        if package.model_approval_status != before:
            emit(self, arn)
        return str(arn)

    @functools.wraps(original_create_model)
    def create_model(
        self: Any,
        model_name: str,
        execution_role_arn: str,
        primary_container: dict[str, Any] | None,
        vpc_config: dict[str, Any] | None,
        containers: list[dict[str, Any]] | None,
        tags: list[dict[str, str]] | None,
    ) -> Any:
        """AWS refuses a model whose container names a model package it does not have; moto records anything."""
        if ACTIVE_ROUTER() is not None:
            from moto.sagemaker.exceptions import ValidationError

            for container in ([primary_container] if primary_container else []) + list(containers or []):
                if container.get("ModelPackageName"):
                    try:
                        package_container(self, str(container["ModelPackageName"]))
                    except ModelPackageNotFound as exc:
                        raise ValidationError(message=f"Model {model_name}: {exc}") from exc
        return original_create_model(
            self, model_name, execution_role_arn, primary_container, vpc_config, containers, tags
        )

    create_model_package._cd4ml_hook = True  # type: ignore[attr-defined]
    SageMakerModelBackend.create_model_package = create_model_package  # type: ignore[method-assign]
    SageMakerModelBackend.update_model_package = update_model_package  # type: ignore[method-assign]
    SageMakerModelBackend.create_model = create_model  # type: ignore[method-assign]
