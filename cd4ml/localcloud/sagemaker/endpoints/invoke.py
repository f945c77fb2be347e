"""What InvokeEndpoint answers: its result, its errors (AWS-shaped, answered as sagemaker-runtime does: rest-json
with x-amzn-ErrorType), and the headers a model server and the client exchange."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import AwsError, LocalCloudError

INVOCATION_TIMEOUT_S = 60.0  # AWS gives a container 60 s to answer /invocations
MODEL_LATENCY_HEADER = "x-cd4ml-model-latency-us"  # set by child_process/sagemaker_serving.py
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"


class EndpointFailure(LocalCloudError):
    """A fleet could not be brought up; `reason` is the FailureReason DescribeEndpoint shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Cancelled(Exception):
    """The endpoint was deleted, or the local cloud stopped, while a fleet was starting."""


class InvokeError(AwsError):
    """An InvokeEndpoint error: `InvokeError(code, status, message, **fields)` (e.g. ModelError, 424)."""

    def __init__(self, code: str, status: int, message: str, **fields: Any) -> None:
        super().__init__(message, code, status, **fields)


@dataclass(frozen=True)
class InvokeResult:
    body: bytes
    content_type: str
    variant: str
    custom_attributes: str | None = None
