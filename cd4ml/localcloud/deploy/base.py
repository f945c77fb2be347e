"""What the deployer and its resource handlers share: a deployed resource and its stack, the handler registry, what a
handler may use (the deploy context and the registrar that brings functions, schedules, stream mappings and layers
to life), and the small translations of CloudFormation properties into API arguments."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..aws import ClientFactory
from ..events.scheduler import ScheduledRule
from ..lambda_.functions import FunctionSpec
from ..lambda_.mapping_spec import KinesisMappingSpec
from .template import TransformedTemplate


@dataclass
class DeployedResource:
    logical_id: str
    resource_type: str
    physical_id: str
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stack:
    name: str
    region: str
    parameters: dict[str, str]
    resources: dict[str, DeployedResource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # resources whose Condition is false

    def physical_id(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id].physical_id
        except KeyError:
            raise KeyError(f"stack {self.name} has no resource {logical_id!r}") from None

    def by_type(self, resource_type: str) -> list[DeployedResource]:
        return [r for r in self.resources.values() if r.resource_type == resource_type]


class Registrar(Protocol):
    """What deploying a template brings to life beyond moto's records."""

    def register_function(self, spec: FunctionSpec) -> None: ...

    def function_spec(self, name_or_arn: str) -> FunctionSpec: ...

    def add_schedule(self, rule: ScheduledRule) -> None: ...

    def add_stream_mapping(self, spec: KinesisMappingSpec) -> None: ...

    def add_layer(self, arn: str, directory: Path) -> None: ...

    def layer_dir(self, arn: str) -> Path | None: ...


class DeployContext(Protocol):
    """What a resource handler may use: the deployer offers it."""

    clients: ClientFactory
    region: str
    template: TransformedTemplate
    registrar: Registrar

    def name_for(self, logical_id: str, max_length: int = 64, lower: bool = False) -> str: ...

    def arn(self, service: str, resource: str, region: bool = True) -> str: ...

    def work_dir(self, *parts: str) -> Path: ...


Handler = Callable[[DeployContext, str, dict[str, Any]], DeployedResource]
HANDLERS: dict[str, Handler] = {}
# Resources that exist only to grant or wire something the local cloud does not enforce; recorded, not created.
RECORDED_ONLY = {"AWS::Lambda::Permission", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"}


def handles(resource_type: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[resource_type] = function
        return function

    return register


def supported_resource_types() -> list[str]:
    return sorted([*HANDLERS, *RECORDED_ONLY])


def policy_json(document: Any) -> str:
    """CloudFormation accepts policies without a Version (SAM generates some); moto's IAM insists on one."""
    if isinstance(document, dict) and "Version" not in document:
        document = {"Version": "2012-10-17", **document}
    return document if isinstance(document, str) else json.dumps(document)


def tags(props: dict[str, Any]) -> list[dict[str, str]]:
    tags = props.get("Tags") or []
    if isinstance(tags, dict):  # SAM resources carry tags as a map
        return [{"Key": k, "Value": str(v)} for k, v in tags.items()]
    return [{"Key": t["Key"], "Value": str(t["Value"])} for t in tags]


_PLACEHOLDER_ZIP = io.BytesIO()
with zipfile.ZipFile(_PLACEHOLDER_ZIP, "w") as _zip:
    _zip.writestr("README.txt", "The local cloud runs this function from its local code folder.")
PLACEHOLDER_ZIP = _PLACEHOLDER_ZIP.getvalue()


def env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)
