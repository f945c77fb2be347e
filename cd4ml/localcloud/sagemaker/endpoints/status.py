"""An endpoint's status as DescribeEndpoint serves it, and the events AWS emits for each change: "SageMaker Endpoint
State Change" and, during a blue/green update, "SageMaker Endpoint Deployment State Change"."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ...aws import epoch_millis
from ...context import ServiceContext
from .config import ConfigSpec, endpoint_detail
from .fleet import Endpoint

log = logging.getLogger(__name__)

STATE_CHANGE = "SageMaker Endpoint State Change"
DEPLOYMENT_STATE_CHANGE = "SageMaker Endpoint Deployment State Change"


class EndpointStatus:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def set(self, endpoint: Endpoint, status: str) -> None:
        from moto.core.utils import utcnow

        fake = endpoint.fake
        fake.endpoint_status = status
        fake.last_modified_time = utcnow()
        self._emit(STATE_CHANGE, endpoint_detail(fake), fake.arn)

    def stage(
        self, endpoint: Endpoint, spec: ConfigSpec, started: datetime, share: float, status: str, message: str
    ) -> None:
        """PendingDeploymentSummary on DescribeEndpoint, and a "SageMaker Endpoint Deployment State Change"."""
        now = datetime.now(UTC)
        summary = {
            "EndpointConfigName": spec.name,
            "StartTime": started,
            "ProductionVariants": [
                {
                    "VariantName": variant.name,
                    "CurrentWeight": variant.weight * share,
                    "DesiredWeight": variant.weight,
                    "CurrentInstanceCount": variant.instance_count,
                    "DesiredInstanceCount": variant.instance_count,
                    "VariantStatus": [{"Status": status, "StatusMessage": message, "StartTime": now}],
                }
                for variant in spec.variants
            ],
        }
        endpoint.fake.pending_deployment_summary = summary
        detail = {**endpoint_detail(endpoint.fake), "PendingDeploymentSummary": epoch_millis(summary)}
        self._emit(DEPLOYMENT_STATE_CHANGE, detail, endpoint.fake.arn)

    def _emit(self, detail_type: str, detail: dict[str, Any], arn: str) -> None:
        try:
            self.ctx.emit("aws.sagemaker", detail_type, detail, resources=[arn])
        except Exception:
            log.exception("%s for %s could not be emitted", detail_type, arn)
