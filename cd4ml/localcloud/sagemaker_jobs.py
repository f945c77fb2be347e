"""SageMaker training, processing and transform jobs run as local processes under the container contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cloud import LocalCloud


class SageMakerJobs:
    """Runs the jobs created on the local cloud (being built: see issue 3)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

    def close(self) -> None:
        """Stop every running job."""


def install(jobs_for: Callable[[], SageMakerJobs | None]) -> None:
    """Hook moto's SageMaker job APIs to the active job runner."""
