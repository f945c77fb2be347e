"""Errors of the local cloud: each names the resource or value that caused it."""

from __future__ import annotations

import json
from typing import Any


class LocalCloudError(Exception):
    """Base class for every error the local cloud raises on purpose."""


class UnsupportedResourceError(LocalCloudError):
    def __init__(self, logical_id: str, resource_type: str, hint: str = "") -> None:
        self.logical_id = logical_id
        self.resource_type = resource_type
        message = f"resource {logical_id!r} has type {resource_type!r}, which the local cloud does not support"
        super().__init__(f"{message}; {hint}" if hint else message)


class TemplateError(LocalCloudError):
    """The template cannot be transformed or resolved (bad reference, missing parameter, bad path)."""


class DeploymentError(LocalCloudError):
    def __init__(self, logical_id: str, resource_type: str, cause: BaseException) -> None:
        self.logical_id = logical_id
        self.resource_type = resource_type
        super().__init__(f"creating {logical_id!r} ({resource_type}) failed: {cause}")


class FunctionNotFoundError(LocalCloudError):
    pass


class WaitTimeoutError(LocalCloudError):
    pass


class AwsError(LocalCloudError):
    """A request the local cloud refuses as AWS would: AWS's error `code`, HTTP `status`, message and any extra
    fields of the error shape (e.g. OriginalStatusCode). Engines raise it; the moto hooks translate it."""

    def __init__(self, message: str, code: str = "ValidationException", status: int = 400, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.fields}


# moto's server serialises an error with the shapes of the service its exception class belongs to (found from the
# class's module), so each service the local cloud answers for names its own base class here, and whether that
# family takes the HTTP status from the exception (rest-json Lambda: its `code`) or from the service model's error
# shape (SageMaker's ServiceException, whose `code` is the error's name).
_MOTO_ERROR_BASES = {
    "sagemaker": ("moto.sagemaker.exceptions", "SagemakerClientError", False),
    "lambda": ("moto.awslambda.exceptions", "LambdaClientError", True),
}


def to_moto(error: AwsError, service: str = "sagemaker") -> Exception:
    """The one translation into moto's wire errors: an exception of the service's own family carrying AWS's code,
    message and extra fields, which moto's server answers as AWS would."""
    import importlib

    module, name, carries_status = _MOTO_ERROR_BASES[service]
    base = getattr(importlib.import_module(module), name)
    wire: Exception = base(error.code, error.message)
    if carries_status:
        wire.code = error.status  # type: ignore[attr-defined]  # the HTTP status (the class defaults to 400)
    for field, value in error.fields.items():
        setattr(wire, field, value)
    return wire


def rest_json_answer(error: AwsError) -> tuple[int, dict[str, str], str]:
    """The same error as a raw rest-json answer, for hooks that answer a request themselves (InvokeEndpoint)."""
    # moto takes the status from the "status" header, not from the tuple
    headers = {"status": str(error.status), "x-amzn-ErrorType": error.code, "Content-Type": "application/json"}
    return error.status, headers, json.dumps(error.body())
