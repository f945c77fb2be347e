"""The local cloud: deploy a SAM template onto moto and run its Lambdas, events, state machines and streams."""

from .clock import Clock, JumpClock, ManualClock
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
from .state import StateError

__all__ = [
    "Clock",
    "DeploymentError",
    "FunctionNotFoundError",
    "Invocation",
    "JumpClock",
    "LocalCloud",
    "LocalCloudError",
    "ManualClock",
    "Settings",
    "StateError",
    "TemplateError",
    "UnsupportedResourceError",
    "WaitTimeoutError",
]
