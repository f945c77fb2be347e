"""EventBridge buses and rules (patterns, targets, schedules)."""

from __future__ import annotations

import json
import logging
from typing import Any

from ...errors import TemplateError
from ...events.scheduler import ScheduledRule
from ..base import DeployContext, DeployedResource, handles

log = logging.getLogger(__name__)


@handles("AWS::Events::EventBus")
def _event_bus(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    bus_arn = d.clients("events").create_event_bus(Name=p["Name"])["EventBusArn"]
    return DeployedResource(
        logical_id, "AWS::Events::EventBus", p["Name"], p["Name"], {"Arn": bus_arn, "Name": p["Name"]}
    )


@handles("AWS::Events::Rule")
def _rule(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    events = d.clients("events")
    name = p.get("Name") or d.name_for(logical_id, 64)
    bus = p.get("EventBusName", "default")
    if isinstance(bus, str) and bus.startswith("arn:"):
        bus = bus.split("/", 1)[1]
    args: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": p.get("State", "ENABLED")}
    if "EventPattern" in p:
        pattern = p["EventPattern"]
        args["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if "ScheduleExpression" in p:
        args["ScheduleExpression"] = p["ScheduleExpression"]
    if p.get("Description"):
        args["Description"] = p["Description"]
    rule_arn = events.put_rule(**args)["RuleArn"]
    targets = []
    for target in p.get("Targets", []):
        api = {
            k: v
            for k, v in target.items()
            if k
            in (
                "Id",
                "Arn",
                "RoleArn",
                "Input",
                "InputPath",
                "InputTransformer",
                "RetryPolicy",
                "DeadLetterConfig",
                "SqsParameters",
                "KinesisParameters",
            )
        }
        if "InputTransformer" in api and isinstance(api["InputTransformer"].get("InputTemplate"), dict):
            api["InputTransformer"]["InputTemplate"] = json.dumps(api["InputTransformer"]["InputTemplate"])
        targets.append(api)
    if targets:
        result = events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        if result.get("FailedEntryCount"):
            raise TemplateError(f"{logical_id}: targets rejected: {result['FailedEntries']}")
    if "ScheduleExpression" in p and args["State"] == "ENABLED":
        d.registrar.add_schedule(
            ScheduledRule(name=name, arn=rule_arn, expression=p["ScheduleExpression"], event_bus=bus)
        )
    return DeployedResource(logical_id, "AWS::Events::Rule", name, name, {"Arn": rule_arn})
