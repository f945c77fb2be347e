"""IAM roles and policies: created, not enforced, as in moto."""

from __future__ import annotations

import logging
from typing import Any

from ..base import DeployContext, DeployedResource, handles, policy_json, tags

log = logging.getLogger(__name__)


@handles("AWS::IAM::Role")
def _role(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    iam = d.clients("iam")
    name = p.get("RoleName") or d.name_for(logical_id, 64)
    role = iam.create_role(
        RoleName=name,
        Path=p.get("Path", "/"),
        AssumeRolePolicyDocument=policy_json(p["AssumeRolePolicyDocument"]),
        Tags=tags(p),
        **({"PermissionsBoundary": p["PermissionsBoundary"]} if p.get("PermissionsBoundary") else {}),
    )["Role"]
    for policy_arn in p.get("ManagedPolicyArns", []):
        try:
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        except iam.exceptions.NoSuchEntityException:
            # AWS managed policies are not loaded into moto; IAM is recorded, not enforced, locally.
            log.debug("role %s: managed policy %s not known locally", name, policy_arn)
    for policy in p.get("Policies", []):
        iam.put_role_policy(
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=policy_json(policy["PolicyDocument"]),
        )
    return DeployedResource(logical_id, "AWS::IAM::Role", name, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


@handles("AWS::IAM::Policy")
def _policy(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    iam = d.clients("iam")
    for role in p.get("Roles", []):
        iam.put_role_policy(RoleName=role, PolicyName=p["PolicyName"], PolicyDocument=policy_json(p["PolicyDocument"]))
    return DeployedResource(logical_id, "AWS::IAM::Policy", p["PolicyName"], p["PolicyName"])


@handles("AWS::IAM::ManagedPolicy")
def _managed_policy(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    iam = d.clients("iam")
    name = p.get("ManagedPolicyName") or d.name_for(logical_id, 128)
    policy_arn = iam.create_policy(PolicyName=name, PolicyDocument=policy_json(p["PolicyDocument"]))["Policy"]["Arn"]
    for role in p.get("Roles", []):
        iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
    return DeployedResource(logical_id, "AWS::IAM::ManagedPolicy", policy_arn, policy_arn, {"PolicyArn": policy_arn})
