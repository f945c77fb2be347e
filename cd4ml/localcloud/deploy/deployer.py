"""Deploying a transformed template onto the moto server: resources created in dependency order by API calls."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import cloudformation
from ..apigateway.urls import localise_urls
from ..aws import ACCOUNT_ID, PARTITION
from ..context import ServiceContext
from ..errors import DeploymentError, TemplateError, UnsupportedResourceError
from . import resources as _handlers  # noqa: F401  (importing it registers every resource handler)
from .base import HANDLERS, RECORDED_ONLY, DeployedResource, Registrar, Stack, supported_resource_types
from .intrinsics import NO_VALUE, Resolver, references
from .template import TransformedTemplate

log = logging.getLogger(__name__)

PSEUDO_PARAMETERS = (
    "AWS::Region",
    "AWS::AccountId",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NoValue",
    "AWS::NotificationARNs",
)


class Deployer:
    """Deploys one stack: parameters checked, references resolved, each resource created by its family's handler
    (`resources/`), and what must run locally handed to the registrar."""

    def __init__(
        self,
        ctx: ServiceContext,
        registrar: Registrar,
        stack_name: str,
        template: TransformedTemplate,
        parameters: dict[str, str],
    ) -> None:
        self.ctx = ctx
        self.registrar = registrar
        self.clients = ctx.clients
        self.region = ctx.region
        self.template = template
        self.stack = Stack(stack_name, ctx.region, self._parameter_values(template.parameters, parameters))
        self.stack_id = cloudformation.stack_id(stack_name, ctx.region)
        self._created: dict[str, datetime] = {}  # when each resource was created, for CloudFormation's answers
        self.resolver = Resolver(self._ref, self._get_att, template.conditions, template.mappings, ctx.region)

    # ---- parameters and references -----------------------------------------------------------------
    def _parameter_values(self, declared: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
        unknown = set(given) - set(declared)
        if unknown:
            raise TemplateError(f"parameters not declared by the template: {', '.join(sorted(unknown))}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in given:
                value = str(given[name])
            elif "Default" in spec:
                default = spec["Default"]
                value = ",".join(map(str, default)) if isinstance(default, list) else str(default)
            else:
                raise TemplateError(f"parameter {name!r} has no Default and no value was given")
            allowed = spec.get("AllowedValues")
            if allowed and value not in [str(v) for v in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            pattern = spec.get("AllowedPattern")
            if pattern:
                import re

                if not re.fullmatch(pattern, value):
                    raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
            values[name] = value
        return values

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack.name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.stack.parameters:
            value = self.stack.parameters[name]
            kind = self.template.parameters[name].get("Type", "String")
            return value.split(",") if kind.startswith("List<") or kind == "CommaDelimitedList" else value
        if name in self.stack.resources:
            return self.stack.resources[name].ref
        raise TemplateError(f"Ref to {name!r}: no such parameter or (deployed) resource")

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.stack.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute}: no such (deployed) resource")
        if attribute not in resource.attributes:
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{attribute}: {resource.resource_type} has attributes "
                f"{sorted(resource.attributes)} in the local cloud"
            )
        return resource.attributes[attribute]

    # ---- order and deploy -----------------------------------------------------------------------------
    def deployment_order(self) -> list[str]:
        resources = self.template.resources
        graph: dict[str, set[str]] = {}
        for logical_id, resource in resources.items():
            depends = resource.get("DependsOn", [])
            depends = {depends} if isinstance(depends, str) else set(depends)
            refs = references(resource.get("Properties", {})) | depends
            graph[logical_id] = {r for r in refs if r in resources and r != logical_id}
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(node: str, path: list[str]) -> None:
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                raise TemplateError(f"circular dependency between resources: {' -> '.join([*path, node])}")
            state[node] = 1
            for dep in sorted(graph[node]):
                visit(dep, [*path, node])
            state[node] = 2
            order.append(node)

        for node in resources:
            visit(node, [])
        return order

    def check_supported(self) -> None:
        """Fail before creating anything if a resource type is not supported or a reference leads nowhere."""
        known = set(self.template.resources) | set(self.template.parameters) | set(PSEUDO_PARAMETERS)
        for logical_id, resource in self.template.resources.items():
            kind = resource.get("Type", "")
            if kind not in HANDLERS and kind not in RECORDED_ONLY:
                raise UnsupportedResourceError(
                    logical_id, kind, f"supported types are: {', '.join(supported_resource_types())}"
                )
            missing = references(resource.get("Properties", {})) - known
            if missing:
                raise TemplateError(
                    f"resource {logical_id!r} refers to {', '.join(sorted(missing))}: no such resource or parameter"
                )

    def deploy(self, progress: Callable[[str], None] | None = None) -> Stack:
        self.check_supported()
        for logical_id in self.deployment_order():
            resource = self.template.resources[logical_id]
            kind = resource["Type"]
            condition = resource.get("Condition")
            if condition and not self.resolver.condition(condition):
                self.stack.skipped.append(logical_id)
                continue
            properties = self.resolver.resolve(resource.get("Properties", {}) or {})
            started = time.perf_counter()
            try:
                if kind in RECORDED_ONLY:
                    deployed = DeployedResource(logical_id, kind, f"{self.stack.name}-{logical_id}", logical_id)
                else:
                    deployed = HANDLERS[kind](self, logical_id, properties)
            except (TemplateError, UnsupportedResourceError):
                raise
            except Exception as exc:
                raise DeploymentError(logical_id, kind, exc) from exc
            self.stack.resources[logical_id] = deployed
            self._created[logical_id] = datetime.now(UTC)
            if progress:
                progress(f"{kind:<36} {logical_id:<40} {deployed.physical_id} ({(time.perf_counter() - started):.2f}s)")
        outputs = []
        http_apis = [r.physical_id for r in self.stack.by_type("AWS::ApiGatewayV2::Api")]
        for name, output in self.template.outputs.items():
            condition = output.get("Condition")
            if condition and not self.resolver.condition(condition):
                continue
            # an HTTP API's execute-api URL becomes the local URL that serves it (apigateway/urls.py)
            self.stack.outputs[name] = localise_urls(
                self.resolver.resolve(output.get("Value")), self.clients.endpoint_url, http_apis
            )
            export = self.resolver.resolve(output.get("Export", {})).get("Name")
            description = self.resolver.resolve(output.get("Description"))
            outputs.append(
                cloudformation.StackOutputRecord(
                    name, cloudformation.output_value(self.stack.outputs[name]), description, export
                )
            )
        cloudformation.record_deployed(self._stack_record(outputs))
        return self.stack

    def _stack_record(self, outputs: list[cloudformation.StackOutputRecord]) -> cloudformation.StackRecord:
        """The stack as CloudFormation describes it: every resource of the transformed template that was created
        (SAM's generated ones too), parameters with defaults applied and NoEcho ones masked."""
        resources = [
            cloudformation.StackResourceRecord(
                logical_id,
                deployed.physical_id,
                deployed.resource_type,
                self._created[logical_id],
                self.template.resources[logical_id].get("Metadata"),
            )
            for logical_id, deployed in self.stack.resources.items()
        ]
        no_echo = frozenset(
            name for name, spec in self.template.parameters.items() if str(spec.get("NoEcho", "")).lower() == "true"
        )
        return cloudformation.StackRecord(
            name=self.stack.name,
            stack_id=self.stack_id,
            region=self.region,
            parameters=dict(self.stack.parameters),
            no_echo=no_echo,
            outputs=outputs,
            resources=resources,
        )

    # ---- helpers for handlers -------------------------------------------------------------------------
    def name_for(self, logical_id: str, max_length: int = 64, lower: bool = False) -> str:
        """A CloudFormation-style generated physical name: stack-LogicalId-SUFFIX, stable for a stack."""
        suffix = hashlib.sha256(f"{self.stack.name}/{logical_id}".encode()).hexdigest()[:12].upper()
        prefix = f"{self.stack.name}-{logical_id}"[: max_length - len(suffix) - 1]
        name = f"{prefix}-{suffix}"
        return name.lower() if lower else name

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:{PARTITION}:{service}:{self.region if region else ''}:{ACCOUNT_ID}:{resource}"

    def work_dir(self, *parts: str) -> Path:
        path = self.ctx.work_dir.joinpath(self.stack.name, *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path
