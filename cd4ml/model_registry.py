"""People's side of the model registry (`cd4ml model list | approve | reject`): which group a stack registers into,
what its versions say (status, headline metrics, the run that trained them, which one serves), and approval
decisions recorded with who made them. Plain functions taking boto3 clients; the text and JSON views are separate
from the look-ups so either can be tested with plain values."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from cd4ml_shared.aws.client_errors import error_code
from cd4ml_shared.registry import RUN_ID_KEY

GROUP_OUTPUT = "ModelPackageGroupName"
HEADLINE_METRICS = ("pr_auc", "auc", "f1")  # what model_package_request puts in the description, in this order
# The deployment workflow marks the package it deploys; both spellings are read until one is settled.
DEPLOYED_AT_KEYS = ("deployed_at", "cd4ml:deployed_at")
ENDPOINT_KEYS = ("endpoint", "cd4ml:endpoint")
_MAX_DESCRIPTION = 1024  # UpdateModelPackage's ApprovalDescription limit
_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[^/]+)/(?P<v>\d+)$")
_HEADLINE = re.compile(r"\b(?P<name>[a-z][a-z0-9_]*) (?P<value>-?\d+(?:\.\d+)?(?:e-?\d+)?)\b")

Decision = Literal["Approved", "Rejected"]


class RegistryRefusal(Exception):
    """A registry command that must not go ahead (unknown version, foreign group, missing reason, no stack): the
    CLI prints it and exits 2."""


# ---- the group ---------------------------------------------------------------------------------------------------
def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """A deployed stack's outputs by name; a refusal naming the stack when CloudFormation does not know it."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error_code(error) == "ValidationError":
            raise RegistryRefusal(
                f"stack {stack_name!r} does not exist here (give --stack-name, --config-env or --group)"
            ) from None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs") or []}


def group_of_stack(outputs: Mapping[str, str], stack_name: str) -> str:
    """The model package group a stack registers into, from its `ModelPackageGroupName` output."""
    group = outputs.get(GROUP_OUTPUT)
    if not group:
        raise RegistryRefusal(f"stack {stack_name!r} has no output {GROUP_OUTPUT} (outputs: {sorted(outputs)})")
    return group


def endpoint_of_stack(outputs: Mapping[str, str]) -> str | None:
    """The endpoint a stack serves with, when an output names one (`...EndpointName`)."""
    names = sorted(key for key in outputs if key.endswith("EndpointName") and outputs[key])
    return outputs[names[0]] if names else None


# ---- versions ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelVersion:
    """One version of a group as a person reviewing it needs it."""

    version: int
    arn: str
    status: str
    created: str  # ISO 8601
    metrics: dict[str, float]
    run_id: str | None
    approval_description: str | None
    deployed_at: str | None  # the deployment workflow's mark, as ISO 8601
    marked_endpoint: str | None
    in_service: bool = False


@dataclass(frozen=True)
class Serving:
    """What an endpoint really runs, read from SageMaker (not from the packages' marks)."""

    endpoint: str
    status: str
    endpoint_config: str | None
    model_packages: list[str]  # the ModelPackageName of each served model's container
    versions: list[int]  # the group's versions among them


@dataclass(frozen=True)
class Listing:
    group: str
    versions: list[ModelVersion]
    serving: Serving | None = None
    warnings: list[str] = field(default_factory=list)


def headline_metrics(package: Mapping[str, Any]) -> dict[str, float]:
    """The headline metrics a version carries: `metric:<name>` (or bare `pr_auc`...) metadata, else the
    registration's description (`run <id>: auc 0.9100, f1 0.5000, pr_auc 0.8000`); the full set is in
    the evaluation.json that `ModelMetrics.ModelQuality` names."""
    metadata = package.get("CustomerMetadataProperties") or {}
    found: dict[str, float] = {}
    for key, value in metadata.items():
        name = key.removeprefix("metric:")
        if (key.startswith("metric:") or name in HEADLINE_METRICS) and _number(value) is not None:
            found[name] = float(value)
    if found:
        return found
    _, _, headline = str(package.get("ModelPackageDescription") or "").partition(": ")
    return {m["name"]: float(m["value"]) for m in _HEADLINE.finditer(headline)}


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _first(metadata: Mapping[str, str], keys: Iterable[str]) -> str | None:
    return next((metadata[k] for k in keys if metadata.get(k)), None)


def deployed_instant(text: str | None) -> datetime | None:
    """When a version was marked deployed: the workflow writes epoch seconds (`"1764583200.5"`); ISO 8601 is read
    too. None when unmarked or unreadable (such a mark is not trusted to say what serves)."""
    if not text:
        return None
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def version_of(package: Mapping[str, Any]) -> ModelVersion:
    """A described model package as a `ModelVersion` (not yet told whether it serves)."""
    metadata = package.get("CustomerMetadataProperties") or {}
    created = package.get("CreationTime")
    deployed = deployed_instant(_first(metadata, DEPLOYED_AT_KEYS))
    return ModelVersion(
        version=int(package["ModelPackageVersion"]),
        arn=package["ModelPackageArn"],
        status=package["ModelApprovalStatus"],
        created=created.isoformat(timespec="seconds") if isinstance(created, datetime) else str(created or ""),
        metrics=headline_metrics(package),
        run_id=metadata.get(RUN_ID_KEY),
        approval_description=package.get("ApprovalDescription"),
        deployed_at=deployed.isoformat(timespec="seconds") if deployed else None,
        marked_endpoint=_first(metadata, ENDPOINT_KEYS),
    )


def _require_group(sagemaker: Any, group: str) -> None:
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as error:
        if error_code(error) == "ValidationException":
            raise RegistryRefusal(f"model package group {group!r} does not exist") from None
        raise


def version_summaries(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    """Every version of `group` as ListModelPackages summarises it, newest first; a refusal for an unknown group."""
    _require_group(sagemaker, group)
    summaries: list[dict[str, Any]] = []
    for page in sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
    ):
        summaries += page["ModelPackageSummaryList"]
    return sorted(summaries, key=lambda s: int(s["ModelPackageVersion"]), reverse=True)


def describe_versions(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    """Every version of `group`, described (metadata and description are not in the summaries), newest first."""
    return [
        sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"])
        for s in version_summaries(sagemaker, group)
    ]


def serving_of(sagemaker: Any, endpoint: str, group: str) -> Serving | None:
    """What `endpoint` runs: DescribeEndpoint → its EndpointConfigName → DescribeEndpointConfig → each variant's
    model → DescribeModel → the containers' ModelPackageName. None when there is no such endpoint."""
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
    except ClientError as error:
        if error_code(error) == "ValidationException":
            return None
        raise
    config_name = described.get("EndpointConfigName")
    packages: list[str] = []
    if config_name:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        for variant in config.get("ProductionVariants") or []:
            model = sagemaker.describe_model(ModelName=variant["ModelName"])
            containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers", [])
            packages += [c["ModelPackageName"] for c in containers if c.get("ModelPackageName")]
    versions = sorted({v for v in (_version_in_group(name, group) for name in packages) if v is not None})
    return Serving(endpoint, described.get("EndpointStatus", ""), config_name, packages, versions)


def _version_in_group(package_name: str, group: str) -> int | None:
    """The version a ModelPackageName (an ARN or `group/version`) names, if it is one of `group`'s (ARNs hold the
    group's name lower-cased)."""
    match = _PACKAGE_ARN.match(package_name)
    named_group, _, version = f"{match['group']}/{match['v']}".partition("/") if match else package_name.partition("/")
    return int(version) if version.isdigit() and named_group.lower() == group.lower() else None


def listing(sagemaker: Any, group: str, endpoint: str | None = None) -> Listing:
    """The group's versions, newest first, with which one is in service: the deployment workflow's mark (the
    newest `deployed_at` per endpoint), confirmed against what the endpoint runs when `endpoint` is known."""
    versions = [version_of(p) for p in describe_versions(sagemaker, group)]
    marked: dict[str, ModelVersion] = {}
    for v in versions:
        if v.deployed_at and v.marked_endpoint:
            current = marked.get(v.marked_endpoint)
            if current is None or _instant(current) < _instant(v):
                marked[v.marked_endpoint] = v
    in_service = {v.version for v in marked.values()}
    warnings: list[str] = []
    serving = serving_of(sagemaker, endpoint, group) if endpoint else None
    if endpoint and serving is None:
        warnings.append(f"endpoint {endpoint} does not exist: no version of {group} is in service there")
        in_service -= {v.version for e, v in marked.items() if e == endpoint}
    elif serving is not None:
        claimed = marked.get(serving.endpoint)
        if claimed is not None and claimed.version not in serving.versions:
            runs = ", ".join(f"v{n}" for n in serving.versions) or "none of this group's versions"
            warnings.append(
                f"v{claimed.version} is marked deployed to {serving.endpoint}, but the endpoint runs {runs} "
                f"(config {serving.endpoint_config}): the endpoint is what serves"
            )
            in_service.discard(claimed.version)
        in_service |= set(serving.versions)
    return Listing(
        group=group,
        versions=[_with(v, in_service=v.version in in_service) for v in versions],
        serving=serving,
        warnings=warnings,
    )


def _instant(version: ModelVersion) -> datetime:
    return datetime.fromisoformat(version.deployed_at) if version.deployed_at else datetime.min.replace(tzinfo=UTC)


def _with(version: ModelVersion, **changes: Any) -> ModelVersion:
    return ModelVersion(**{**asdict(version), **changes})


# ---- decisions ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What an approve or reject did: `changed` False when the version already had that status."""

    version: int
    arn: str
    status: str
    previous_status: str
    changed: bool
    description: str | None


def resolve(sagemaker: Any, group: str, target: str) -> dict[str, Any]:
    """The described version `target` (a version number of `group`, or a model package ARN) names; a refusal
    for a version the group does not have or an ARN of another group."""
    if target.isdigit():
        for summary in version_summaries(sagemaker, group):
            if int(summary["ModelPackageVersion"]) == int(target):
                described: dict[str, Any] = sagemaker.describe_model_package(
                    ModelPackageName=summary["ModelPackageArn"]
                )
                return described
        raise RegistryRefusal(f"{group} has no version {target}")
    if not _PACKAGE_ARN.match(target):
        raise RegistryRefusal(
            f"{target!r} is neither a version number nor a model package ARN "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
        )
    try:
        package: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=target)
    except ClientError as error:
        if error_code(error) == "ValidationException":
            raise RegistryRefusal(f"model package {target} does not exist") from None
        raise
    if package.get("ModelPackageGroupName") != group:
        raise RegistryRefusal(
            f"{target} is version {package.get('ModelPackageVersion')} of {package.get('ModelPackageGroupName')}, "
            f"not of {group}: name the group it belongs to"
        )
    return package


def approval_description(decision: Decision, who: str, reason: str | None) -> str:
    """`Approved by <identity ARN>: <reason>`, cut to the API's 1024 characters."""
    verb = "Approved" if decision == "Approved" else "Rejected"
    text = f"{verb} by {who}" + (f": {reason.strip()}" if reason and reason.strip() else "")
    return text[:_MAX_DESCRIPTION]


def decide(sagemaker: Any, sts: Any, group: str, target: str, decision: Decision, reason: str | None) -> Outcome:
    """Approve or reject one version, recording who (STS caller identity) and why in `ApprovalDescription`.

    A rejection needs a reason in every stage: it is the audit trail, and rejecting the version in service rolls
    production back. A version already in the requested status is left as it is (no update, so no second event).
    """
    if decision == "Rejected" and not (reason and reason.strip()):
        raise RegistryRefusal("a rejection needs --reason (it is recorded in the registry and may roll back prod)")
    package = resolve(sagemaker, group, target)
    version, arn, before = (
        int(package["ModelPackageVersion"]),
        package["ModelPackageArn"],
        package["ModelApprovalStatus"],
    )
    if before == decision:
        return Outcome(version, arn, before, before, False, package.get("ApprovalDescription"))
    description = approval_description(decision, sts.get_caller_identity()["Arn"], reason)
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=decision, ApprovalDescription=description)
    return Outcome(version, arn, decision, before, True, description)


# ---- views -------------------------------------------------------------------------------------------------------
def listing_json(result: Listing) -> str:
    return json.dumps(asdict(result), indent=2, sort_keys=True)


def listing_table(result: Listing) -> str:
    """The versions as an aligned table, newest first, then what the endpoint runs and any disagreement."""
    names = [m for m in HEADLINE_METRICS if any(m in v.metrics for v in result.versions)]
    names += sorted({m for v in result.versions for m in v.metrics} - set(names))
    header = ["VERSION", "STATUS", "CREATED", *(n.upper() for n in names), "RUN", "IN SERVICE"]
    rows = [header]
    for v in result.versions:
        serving = ""
        if v.in_service:
            where = v.marked_endpoint or (result.serving.endpoint if result.serving else "")
            serving = f"yes ({where}" + (f", since {v.deployed_at})" if v.deployed_at else ")")
        metrics = [f"{v.metrics[n]:.4f}" if n in v.metrics else "-" for n in names]
        rows.append([str(v.version), v.status, v.created, *metrics, v.run_id or "-", serving])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"Model package group {result.group}: {len(result.versions)} version(s)"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if not result.versions:
        lines.append("(no versions registered yet)")
    if result.serving is not None:
        s = result.serving
        runs = ", ".join(f"v{n}" for n in s.versions) or ", ".join(s.model_packages) or "no model package"
        lines.append(f"Endpoint {s.endpoint} ({s.status}, config {s.endpoint_config}) runs {runs}")
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def outcome_text(outcome: Outcome, group: str) -> str:
    if not outcome.changed:
        return f"{group} v{outcome.version} is already {outcome.status}: nothing changed ({outcome.arn})"
    return (
        f"{group} v{outcome.version}: {outcome.previous_status} -> {outcome.status} ({outcome.arn})\n"
        f"  {outcome.description}"
    )
