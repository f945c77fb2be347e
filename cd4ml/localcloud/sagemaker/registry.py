"""SageMaker Model Registry on moto, with the model-package events AWS emits and AWS's update semantics."""

from __future__ import annotations

import functools
import logging
from typing import Any

from ..aws import epoch_millis
from ..events.hooks import ACTIVE_ROUTER

log = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker Model Package State Change"


def model_package_detail(package: Any) -> dict[str, Any]:
    """The event detail: the package as DescribeModelPackage shows it, with no empty fields."""
    response = package.gen_response_object()
    return {k: epoch_millis(v) for k, v in response.items() if v not in (None, {}, [])}


def install() -> None:
    """Emit an event when a model package is created and when its approval status changes; keep metadata that an
    update does not mention (moto 5.2.5 wipes CustomerMetadataProperties and ApprovalDescription on every update)."""
    from moto.sagemaker.models import SageMakerModelBackend

    if getattr(SageMakerModelBackend.create_model_package, "_cd4ml_hook", False):
        return
    original_create = SageMakerModelBackend.create_model_package
    original_update = SageMakerModelBackend.update_model_package

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

    create_model_package._cd4ml_hook = True  # type: ignore[attr-defined]
    SageMakerModelBackend.create_model_package = create_model_package  # type: ignore[method-assign]
    SageMakerModelBackend.update_model_package = update_model_package  # type: ignore[method-assign]
