"""What CloudFormation makes of the SAM-transformed template's resources for given parameters, for the checks that
read resolved properties: a parameter is what `Ref` answers (a list for the list types), another resource stands
for `<logical id>` (Ref) or `<logical id>.<attribute>` (GetAtt)."""

from collections.abc import Mapping
from typing import Any

import botocore.session

from cd4ml.framework_images import partition_url_suffix
from cd4ml.localcloud.deploy.intrinsics import NO_VALUE, Resolver

ACCOUNT = "123456789012"


def ref_value(spec: Mapping[str, Any], value: str) -> str | list[str]:
    """`value` (as given, or the Default as text) for a parameter declared by `spec`: CommaDelimitedList and
    List<...> parameters are lists (an empty one is `[""]`, as in CloudFormation), the others strings."""
    kind = str(spec.get("Type", "String"))
    return value.split(",") if kind == "CommaDelimitedList" or kind.startswith("List<") else value


def resolved(transformed: Any, logical_id: str, *, region: str, stack: str, **parameters: str) -> dict[str, Any]:
    """`logical_id`'s properties in stack `stack` of `region` for these parameters (the others at their defaults)."""
    values = {name: str(spec.get("Default", "")) for name, spec in transformed.parameters.items()} | parameters
    partition = botocore.session.get_session().get_partition_for_region(region)
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": stack,
        "AWS::Partition": partition,
        "AWS::URLSuffix": partition_url_suffix(region),
        "AWS::StackId": f"arn:{partition}:cloudformation:{region}:{ACCOUNT}:stack/{stack}/0a1b2c3d-0000-1111",
    }

    def ref(name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        return ref_value(transformed.parameters[name], values[name]) if name in values else name

    resolver = Resolver(
        ref, lambda name, attribute: f"{name}.{attribute}", transformed.conditions, transformed.mappings, region
    )
    properties: dict[str, Any] = resolver.resolve(transformed.resources[logical_id].get("Properties") or {})
    return properties
