"""CloudFormation's view of the stacks the local cloud deployed: DescribeStacks, ListStacks, ListStackResources and
DescribeStackResource(s) answer for them as AWS does after `sam deploy`, so `aws cloudformation describe-stacks`
finds the outputs. The stacks are deployed by our deployer, not by moto's CloudFormation, so moto's backend knows
nothing of them; its answers are hooked, and stacks it created itself are still answered by moto."""

from __future__ import annotations

import functools
import json
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .aws import ACCOUNT_ID, PARTITION
from .context import ActiveSlot

NO_ECHO_MASK = "****"
NOT_CHECKED = {"StackResourceDriftStatus": "NOT_CHECKED"}


def stack_id(name: str, region: str, account_id: str = ACCOUNT_ID) -> str:
    """A stack's ARN. AWS ends it with a fresh UUID; here the UUID is derived from the name, so that a redeploy of the
    same stack keeps its id, and `AWS::StackId` resolves to the id DescribeStacks answers."""
    suffix = uuid.uuid5(uuid.NAMESPACE_URL, f"cloudformation:{region}:{account_id}:{name}")
    return f"arn:{PARTITION}:cloudformation:{region}:{account_id}:stack/{name}/{suffix}"


def output_value(value: Any) -> str:
    """CloudFormation outputs are strings; a list (a Ref to a List parameter, Fn::GetAZs) reads comma-joined."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


@dataclass(frozen=True)
class StackResourceRecord:
    logical_id: str
    physical_id: str
    resource_type: str
    created: datetime
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class StackOutputRecord:
    key: str
    value: str
    description: str | None = None
    export_name: str | None = None


@dataclass(frozen=True)
class StackRecord:
    """What CloudFormation answers about one deployed stack (built by the deployer when a deploy completes)."""

    name: str
    stack_id: str
    region: str
    parameters: dict[str, str]
    no_echo: frozenset[str]
    outputs: list[StackOutputRecord]
    resources: list[StackResourceRecord]
    tags: dict[str, str] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime | None = None
    status: str = "CREATE_COMPLETE"

    def describe(self) -> dict[str, Any]:
        """The `Stack` shape of DescribeStacks."""
        stack: dict[str, Any] = {
            "StackId": self.stack_id,
            "StackName": self.name,
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": NO_ECHO_MASK if k in self.no_echo else v}
                for k, v in self.parameters.items()
            ],
            "CreationTime": self.created,
            "RollbackConfiguration": {},
            "StackStatus": self.status,
            "DisableRollback": False,
            "NotificationARNs": [],
            "Tags": dict(self.tags),  # moto's serializer turns DescribeStacks' tag map into Key/Value pairs
            "EnableTerminationProtection": False,
            "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
        }
        if self.updated:
            stack["LastUpdatedTime"] = self.updated
        if self.outputs:
            stack["Outputs"] = [_output(o) for o in self.outputs]
        return stack

    def summary(self) -> dict[str, Any]:
        """The `StackSummary` shape of ListStacks."""
        summary = {
            "StackId": self.stack_id,
            "StackName": self.name,
            "CreationTime": self.created,
            "StackStatus": self.status,
            "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
        }
        if self.updated:
            summary["LastUpdatedTime"] = self.updated
        return summary

    def resource(self, logical_id: str) -> StackResourceRecord | None:
        return next((r for r in self.resources if r.logical_id == logical_id), None)

    def resource_summary(self, resource: StackResourceRecord) -> dict[str, Any]:
        """The `StackResourceSummary` shape of ListStackResources."""
        return {
            "LogicalResourceId": resource.logical_id,
            "PhysicalResourceId": resource.physical_id,
            "ResourceType": resource.resource_type,
            "LastUpdatedTimestamp": resource.created,
            "ResourceStatus": "CREATE_COMPLETE",
            "DriftInformation": NOT_CHECKED,
        }

    def resource_entry(self, resource: StackResourceRecord) -> dict[str, Any]:
        """The `StackResource` shape of DescribeStackResources."""
        return {
            "StackName": self.name,
            "StackId": self.stack_id,
            "LogicalResourceId": resource.logical_id,
            "PhysicalResourceId": resource.physical_id,
            "ResourceType": resource.resource_type,
            "Timestamp": resource.created,
            "ResourceStatus": "CREATE_COMPLETE",
            "DriftInformation": NOT_CHECKED,
        }

    def resource_detail(self, resource: StackResourceRecord) -> dict[str, Any]:
        """The `StackResourceDetail` shape of DescribeStackResource."""
        detail = {
            "StackName": self.name,
            "StackId": self.stack_id,
            "LogicalResourceId": resource.logical_id,
            "PhysicalResourceId": resource.physical_id,
            "ResourceType": resource.resource_type,
            "LastUpdatedTimestamp": resource.created,
            "ResourceStatus": "CREATE_COMPLETE",
            "DriftInformation": NOT_CHECKED,
        }
        if resource.metadata:
            detail["Metadata"] = json.dumps(resource.metadata)
        return detail


def _output(output: StackOutputRecord) -> dict[str, str]:
    shape = {"OutputKey": output.key, "OutputValue": output.value}
    if output.description:
        shape["Description"] = output.description
    if output.export_name:
        shape["ExportName"] = output.export_name
    return shape


class DeployedStacks:
    """The stacks deployed on the running local cloud, as CloudFormation knows them. A redeploy of a stack updates
    it (same id and creation time, UPDATE_COMPLETE); stopping the cloud forgets them all, as moto forgets its own."""

    def __init__(self) -> None:
        self._stacks: dict[tuple[str, str], StackRecord] = {}  # (region, name)
        self._lock = threading.Lock()

    def install(self) -> None:
        install_hooks()
        ACTIVE_STACKS.hold(self)

    def close(self) -> None:
        ACTIVE_STACKS.release(self)
        with self._lock:
            self._stacks.clear()

    def record(self, stack: StackRecord) -> StackRecord:
        with self._lock:
            previous = self._stacks.get((stack.region, stack.name))
            if previous is not None:
                stack = replace(stack, created=previous.created, updated=datetime.now(UTC), status="UPDATE_COMPLETE")
            self._stacks[(stack.region, stack.name)] = stack
            return stack

    def find(self, region: str, name_or_id: str) -> StackRecord | None:
        with self._lock:
            return next(
                (s for s in self._stacks.values() if s.region == region and name_or_id in (s.name, s.stack_id)), None
            )

    def in_region(self, region: str) -> list[StackRecord]:
        with self._lock:
            return [s for s in self._stacks.values() if s.region == region]

    def holding(self, region: str, physical_id: str) -> StackRecord | None:
        """The stack a physical resource belongs to (DescribeStackResources by PhysicalResourceId)."""
        for stack in self.in_region(region):
            if any(r.physical_id == physical_id for r in stack.resources):
                return stack
        return None


ACTIVE_STACKS: ActiveSlot[DeployedStacks] = ActiveSlot()


def record_deployed(stack: StackRecord) -> None:
    """Tell the running local cloud's CloudFormation about a stack that finished deploying (no-op without one)."""
    stacks = ACTIVE_STACKS()
    if stacks is not None:
        stacks.record(stack)


def install_hooks() -> None:
    """Answer CloudFormation's read APIs for the local cloud's stacks; everything else goes to moto."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    if getattr(CloudFormationResponse.describe_stacks, "_cd4ml_hook", False):
        return
    originals = {
        name: getattr(CloudFormationResponse, name)
        for name in (
            "describe_stacks",
            "list_stacks",
            "list_stack_resources",
            "describe_stack_resource",
            "describe_stack_resources",
        )
    }

    def ours(response: Any, name_or_id: str | None) -> StackRecord | None:
        stacks = ACTIVE_STACKS()
        return stacks.find(response.region, name_or_id) if stacks is not None and name_or_id else None

    def describe_stacks(self: Any) -> Any:
        stacks = ACTIVE_STACKS()
        name = self._get_param("StackName")
        if stacks is None or self._get_param("NextToken"):
            return originals["describe_stacks"](self)
        if name:
            stack = stacks.find(self.region, name)
            return ActionResult({"Stacks": [stack.describe()]}) if stack else originals["describe_stacks"](self)
        theirs = self.cloudformation_backend.describe_stacks(None)
        return ActionResult({"Stacks": [*theirs, *(s.describe() for s in stacks.in_region(self.region))]})

    def list_stacks(self: Any) -> Any:
        stacks = ACTIVE_STACKS()
        if stacks is None:
            return originals["list_stacks"](self)
        wanted = self._get_param("StackStatusFilter", [])
        theirs = self.cloudformation_backend.list_stacks(wanted)
        mine = [s.summary() for s in stacks.in_region(self.region) if not wanted or s.status in wanted]
        return ActionResult({"StackSummaries": [*theirs, *mine]})

    def list_stack_resources(self: Any) -> Any:
        stack = ours(self, self._get_param("StackName"))
        if stack is None:
            return originals["list_stack_resources"](self)
        return ActionResult({"StackResourceSummaries": [stack.resource_summary(r) for r in stack.resources]})

    def describe_stack_resource(self: Any) -> Any:
        stack = ours(self, self._get_param("StackName"))
        if stack is None:
            return originals["describe_stack_resource"](self)
        logical_id = self._get_param("LogicalResourceId")
        resource = stack.resource(logical_id)
        if resource is None:
            raise ValidationError(message=f"Resource {logical_id} does not exist for stack {stack.name}")
        return ActionResult({"StackResourceDetail": stack.resource_detail(resource)})

    def describe_stack_resources(self: Any) -> Any:
        stacks = ACTIVE_STACKS()
        name, physical_id = self._get_param("StackName"), self._get_param("PhysicalResourceId")
        stack = ours(self, name)
        if stack is None and not name and physical_id and stacks is not None:
            stack = stacks.holding(self.region, physical_id)
        if stack is None:
            return originals["describe_stack_resources"](self)
        logical_id = self._get_param("LogicalResourceId")
        chosen = [
            r
            for r in stack.resources
            if (logical_id is None or r.logical_id == logical_id) and (name or r.physical_id == physical_id)
        ]
        return ActionResult({"StackResources": [stack.resource_entry(r) for r in chosen]})

    hooks = {
        "describe_stacks": describe_stacks,
        "list_stacks": list_stacks,
        "list_stack_resources": list_stack_resources,
        "describe_stack_resource": describe_stack_resource,
        "describe_stack_resources": describe_stack_resources,
    }
    for name, hook in hooks.items():
        wrapped = functools.wraps(originals[name])(hook)
        wrapped._cd4ml_hook = True  # type: ignore[attr-defined]
        setattr(CloudFormationResponse, name, wrapped)
