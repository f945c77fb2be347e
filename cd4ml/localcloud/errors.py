"""Errors of the local cloud: each names the resource or value that caused it."""

from __future__ import annotations


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
