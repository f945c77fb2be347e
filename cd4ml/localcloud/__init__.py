"""The local cloud: deploy a SAM template onto moto and run its Lambdas, events, state machines and streams."""

from .clock import Clock, ManualClock
from .cloud import LocalCloud
from .context import Settings
from .errors import (
    DeploymentError,
    FunctionNotFoundError,
    LocalCloudError,
    TemplateError,
    UnsupportedResourceError,
    WaitTimeoutError,
)
from .lambda_.functions import Invocation

__all__ = [
    "Clock",
    "DeploymentError",
    "FunctionNotFoundError",
    "Invocation",
    "LocalCloud",
    "LocalCloudError",
    "ManualClock",
    "Settings",
    "TemplateError",
    "UnsupportedResourceError",
    "WaitTimeoutError",
]
