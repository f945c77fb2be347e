"""SageMaker endpoints as local HTTP servers running the model's inference code, with InvokeEndpoint routed to them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cloud import LocalCloud


class SageMakerEndpoints:
    """Serves the endpoints created on the local cloud (being built: see issue 3)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

    def close(self) -> None:
        """Stop every endpoint server."""


def install(endpoints_for: Callable[[], SageMakerEndpoints | None]) -> None:
    """Hook moto's SageMaker endpoint APIs and sagemaker-runtime InvokeEndpoint to the active endpoints."""
