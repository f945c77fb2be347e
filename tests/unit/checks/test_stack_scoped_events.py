"""Stages that share an account share its default event bus: every rule of the SAM-transformed template must match
only this stack's events (a job-name prefix, an endpoint, group, bucket, alarm or state machine of the stack), so
that staging's decisions never reach prod's decision log and one stage's retraining request never starts another's."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cd4ml.localcloud.deploy.template import load_template, transform_template

INTRINSICS = {"Ref", "Fn::Sub", "Fn::GetAtt", "Fn::Join", "Fn::Select", "Fn::ImportValue"}


@pytest.fixture(scope="module")
def resources(root: Path) -> dict[str, Any]:
    return transform_template(load_template(root / "template.yaml"), {}, root, "us-east-1").resources


def stack_references(node: Any) -> Iterator[Any]:
    """The values of a pattern that name something of this stack: an intrinsic (its name, ARN or id)."""
    if isinstance(node, dict):
        if node and set(node) <= INTRINSICS:
            yield node
            return
        for value in node.values():
            yield from stack_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from stack_references(value)


def unscoped_rules(resources: dict[str, Any]) -> list[str]:
    return [
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Events::Rule"
        and "EventPattern" in resource.get("Properties", {})
        and not list(stack_references(resource["Properties"]["EventPattern"]))
    ]


def test_every_event_rule_matches_only_this_stacks_events(resources: dict[str, Any]) -> None:
    rules = [r for r in resources.values() if r.get("Type") == "AWS::Events::Rule"]
    assert len([r for r in rules if "EventPattern" in r["Properties"]]) >= 10  # the scan reaches SAM's rules
    assert unscoped_rules(resources) == []


def test_the_custom_events_are_matched_on_the_stacks_endpoint_and_group(resources: dict[str, Any]) -> None:
    decisions = resources["DecisionLogRule"]["Properties"]["EventPattern"]
    assert decisions["detail"]["endpoint_name"] == [{"Fn::Sub": "${AWS::StackName}-fraud"}]
    requests = resources["RequestRetrainingFunctionRetrainingRequested"]["Properties"]["EventPattern"]
    assert requests["source"] == ["cd4ml.monitoring"]
    assert requests["detail"]["model_package_group"] == [{"Fn::Sub": "${AWS::StackName}-fraud"}]


def test_a_rule_on_every_decision_of_the_account_is_found() -> None:
    pattern = {"source": ["cd4ml.decisions"], "detail-type": ["Decision Made"]}
    scoped = {**pattern, "detail": {"endpoint_name": [{"Fn::Sub": "${AWS::StackName}-fraud"}]}}
    found = unscoped_rules(
        {
            "Everyone": {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": pattern}},
            "Ours": {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": scoped}},
            "Nightly": {"Type": "AWS::Events::Rule", "Properties": {"ScheduleExpression": "rate(1 day)"}},
        }
    )
    assert found == ["Everyone"]
