"""Deploying a transformed template onto the moto server: resources created in dependency order by API calls."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .aws import ACCOUNT_ID, PARTITION
from .errors import DeploymentError, TemplateError, UnsupportedResourceError
from .intrinsics import NO_VALUE, Resolver, references
from .kinesis import KinesisMappingSpec
from .lambda_runtime import AsyncConfig, FunctionSpec
from .schedules import ScheduledRule
from .template import TransformedTemplate

if TYPE_CHECKING:
    from .cloud import LocalCloud

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


Handler = Callable[["Deployer", str, dict[str, Any]], DeployedResource]
_HANDLERS: dict[str, Handler] = {}
# Resources that exist only to grant or wire something the local cloud does not enforce; recorded, not created.
_RECORDED_ONLY = {"AWS::Lambda::Permission", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"}


def handles(resource_type: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        _HANDLERS[resource_type] = function
        return function

    return register


def supported_resource_types() -> list[str]:
    return sorted([*_HANDLERS, *_RECORDED_ONLY])


class Deployer:
    def __init__(
        self, cloud: LocalCloud, stack_name: str, template: TransformedTemplate, parameters: dict[str, str]
    ) -> None:
        self.cloud = cloud
        self.clients = cloud.clients
        self.region = cloud.region
        self.template = template
        self.stack = Stack(stack_name, cloud.region, self._parameter_values(template.parameters, parameters))
        self.resolver = Resolver(self._ref, self._get_att, template.conditions, template.mappings, cloud.region)

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
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack.name}/local",
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
            if kind not in _HANDLERS and kind not in _RECORDED_ONLY:
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
                if kind in _RECORDED_ONLY:
                    deployed = DeployedResource(logical_id, kind, f"{self.stack.name}-{logical_id}", logical_id)
                else:
                    deployed = _HANDLERS[kind](self, logical_id, properties)
            except (TemplateError, UnsupportedResourceError):
                raise
            except Exception as exc:
                raise DeploymentError(logical_id, kind, exc) from exc
            self.stack.resources[logical_id] = deployed
            if progress:
                progress(f"{kind:<36} {logical_id:<40} {deployed.physical_id} ({(time.perf_counter() - started):.2f}s)")
        for name, output in self.template.outputs.items():
            condition = output.get("Condition")
            if condition and not self.resolver.condition(condition):
                continue
            self.stack.outputs[name] = self.resolver.resolve(output.get("Value"))
        return self.stack

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
        path = self.cloud.work_dir.joinpath(self.stack.name, *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


def _policy_json(document: Any) -> str:
    """CloudFormation accepts policies without a Version (SAM generates some); moto's IAM insists on one."""
    if isinstance(document, dict) and "Version" not in document:
        document = {"Version": "2012-10-17", **document}
    return document if isinstance(document, str) else json.dumps(document)


def _tags(props: dict[str, Any]) -> list[dict[str, str]]:
    tags = props.get("Tags") or []
    if isinstance(tags, dict):  # SAM resources carry tags as a map
        return [{"Key": k, "Value": str(v)} for k, v in tags.items()]
    return [{"Key": t["Key"], "Value": str(t["Value"])} for t in tags]


_PLACEHOLDER_ZIP = io.BytesIO()
with zipfile.ZipFile(_PLACEHOLDER_ZIP, "w") as _zip:
    _zip.writestr("README.txt", "The local cloud runs this function from its local code folder.")
PLACEHOLDER_ZIP = _PLACEHOLDER_ZIP.getvalue()


# ---- S3 ---------------------------------------------------------------------------------------------------
@handles("AWS::S3::Bucket")
def _bucket(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    s3 = d.clients("s3")
    name = p.get("BucketName") or d.name_for(logical_id, 63, lower=True)
    if d.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": d.region})
    if p.get("VersioningConfiguration"):
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]}
        )
    if p.get("BucketEncryption"):
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **(
                    {"BucketKeyEnabled": str(rule["BucketKeyEnabled"]).lower() == "true"}
                    if "BucketKeyEnabled" in rule
                    else {}
                ),
            }
            for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if p.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
    if p.get("OwnershipControls"):
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=p["OwnershipControls"])
    if p.get("LifecycleConfiguration"):
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration=_lifecycle(p["LifecycleConfiguration"])
        )
    notification = p.get("NotificationConfiguration") or {}
    unsupported = set(notification) - {"EventBridgeConfiguration"}
    if unsupported:
        raise UnsupportedResourceError(
            logical_id,
            "AWS::S3::Bucket",
            f"NotificationConfiguration {sorted(unsupported)} is not supported; route S3 events through EventBridge",
        )
    if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true", "True"):
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    if _tags(p):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(p)})
    return DeployedResource(
        logical_id,
        "AWS::S3::Bucket",
        name,
        name,
        {
            "Arn": f"arn:{PARTITION}:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{d.region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{d.region}.amazonaws.com",
        },
    )


def _lifecycle(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle property names differ from the API's; translate the common ones."""
    rules = []
    for rule in config.get("Rules", []):
        api: dict[str, Any] = {
            "Status": rule.get("Status", "Enabled"),
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if rule.get("Id"):
            api["ID"] = rule["Id"]
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpirationInDays" in rule:
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            api["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
            }
        if "AbortIncompleteMultipartUpload" in rule:
            api["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            }
        if "Transitions" in rule:
            api["Transitions"] = [
                {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
            ]
        rules.append(api)
    return {"Rules": rules}


@handles("AWS::S3::BucketPolicy")
def _bucket_policy(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    d.clients("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))
    return DeployedResource(logical_id, "AWS::S3::BucketPolicy", p["Bucket"], p["Bucket"])


# ---- IAM --------------------------------------------------------------------------------------------------
@handles("AWS::IAM::Role")
def _role(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    iam = d.clients("iam")
    name = p.get("RoleName") or d.name_for(logical_id, 64)
    role = iam.create_role(
        RoleName=name,
        Path=p.get("Path", "/"),
        AssumeRolePolicyDocument=_policy_json(p["AssumeRolePolicyDocument"]),
        Tags=_tags(p),
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
            PolicyDocument=_policy_json(policy["PolicyDocument"]),
        )
    return DeployedResource(logical_id, "AWS::IAM::Role", name, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


@handles("AWS::IAM::Policy")
def _policy(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    iam = d.clients("iam")
    for role in p.get("Roles", []):
        iam.put_role_policy(RoleName=role, PolicyName=p["PolicyName"], PolicyDocument=_policy_json(p["PolicyDocument"]))
    return DeployedResource(logical_id, "AWS::IAM::Policy", p["PolicyName"], p["PolicyName"])


@handles("AWS::IAM::ManagedPolicy")
def _managed_policy(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    iam = d.clients("iam")
    name = p.get("ManagedPolicyName") or d.name_for(logical_id, 128)
    policy_arn = iam.create_policy(PolicyName=name, PolicyDocument=_policy_json(p["PolicyDocument"]))["Policy"]["Arn"]
    for role in p.get("Roles", []):
        iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
    return DeployedResource(logical_id, "AWS::IAM::ManagedPolicy", policy_arn, policy_arn, {"PolicyArn": policy_arn})


# ---- Lambda -----------------------------------------------------------------------------------------------
@handles("AWS::Lambda::LayerVersion")
def _layer(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    local = d.template.local_path(p.get("Content"))
    if local is None:
        raise UnsupportedResourceError(
            logical_id,
            "AWS::Lambda::LayerVersion",
            "a layer's ContentUri must be a local folder in the local cloud",
        )
    name = p.get("LayerName") or d.name_for(logical_id, 64)
    layer_arn = d.clients("lambda").publish_layer_version(
        LayerName=name,
        Content={"ZipFile": PLACEHOLDER_ZIP},
        CompatibleRuntimes=p.get("CompatibleRuntimes", []),
    )["LayerVersionArn"]
    d.cloud.layer_dirs[layer_arn] = local
    return DeployedResource(
        logical_id, "AWS::Lambda::LayerVersion", layer_arn, layer_arn, {"LayerVersionArn": layer_arn}
    )


@handles("AWS::Lambda::Function")
def _function(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    runtime = p.get("Runtime", "")
    if not str(runtime).startswith("python3"):
        raise UnsupportedResourceError(
            logical_id,
            "AWS::Lambda::Function",
            f"runtime {runtime!r}: the local cloud runs Python 3 functions only",
        )
    if p.get("PackageType") == "Image":
        raise UnsupportedResourceError(logical_id, "AWS::Lambda::Function", "container-image functions need Docker")
    name = p.get("FunctionName") or d.name_for(logical_id, 64)
    code = p.get("Code", {})
    local = d.template.local_path(code)
    if local is None and isinstance(code, dict) and "ZipFile" in code:
        local = d.work_dir("inline", name)
        (local / "index.py").write_text(code["ZipFile"], encoding="utf-8")
    if local is None:
        raise UnsupportedResourceError(
            logical_id,
            "AWS::Lambda::Function",
            "its code must be a local CodeUri folder or inline ZipFile code",
        )
    layer_dirs = []
    for layer_arn in p.get("Layers", []):
        if layer_arn not in d.cloud.layer_dirs:
            raise TemplateError(f"{logical_id}: layer {layer_arn} is not a local layer of this stack")
        layer_dirs.append(d.cloud.layer_dirs[layer_arn])
    environment = {k: _env_value(v) for k, v in (p.get("Environment", {}).get("Variables", {}) or {}).items()}
    timeout = float(p.get("Timeout", 3))
    memory = int(p.get("MemorySize", 128))
    lam = d.clients("lambda")
    created = lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=p["Role"],
        Handler=p["Handler"],
        Code={"ZipFile": PLACEHOLDER_ZIP},
        Timeout=int(timeout),
        MemorySize=memory,
        Environment={"Variables": environment},
        Layers=p.get("Layers", []),
        Tags={t["Key"]: t["Value"] for t in _tags(p)},
        **({"DeadLetterConfig": p["DeadLetterConfig"]} if p.get("DeadLetterConfig") else {}),
    )
    spec = FunctionSpec(
        name=name,
        arn=created["FunctionArn"],
        handler=p["Handler"],
        code_dir=local,
        runtime=runtime,
        layer_dirs=layer_dirs,
        environment=environment,
        timeout_s=timeout,
        memory_mb=memory,
        role_arn=p["Role"],
        reserved_concurrency=int(p["ReservedConcurrentExecutions"]) if "ReservedConcurrentExecutions" in p else None,
        async_config=AsyncConfig(dead_letter_arn=(p.get("DeadLetterConfig") or {}).get("TargetArn")),
    )
    d.cloud.runtime.register(spec)
    return DeployedResource(logical_id, "AWS::Lambda::Function", name, name, {"Arn": created["FunctionArn"]})


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


@handles("AWS::Lambda::Version")
def _version(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    published = d.clients("lambda").publish_version(FunctionName=p["FunctionName"])
    version_arn = published["FunctionArn"]
    return DeployedResource(
        logical_id,
        "AWS::Lambda::Version",
        version_arn,
        version_arn,
        {"Version": published["Version"], "FunctionArn": version_arn},
    )


@handles("AWS::Lambda::Alias")
def _alias(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    alias = d.clients("lambda").create_alias(
        FunctionName=p["FunctionName"], Name=p["Name"], FunctionVersion=str(p["FunctionVersion"])
    )
    return DeployedResource(logical_id, "AWS::Lambda::Alias", alias["AliasArn"], alias["AliasArn"])


@handles("AWS::Lambda::EventInvokeConfig")
def _event_invoke_config(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    spec = d.cloud.runtime.spec(p["FunctionName"])
    destinations = p.get("DestinationConfig", {}) or {}
    spec.async_config = AsyncConfig(
        maximum_retry_attempts=int(p.get("MaximumRetryAttempts", 2)),
        maximum_event_age_s=int(p.get("MaximumEventAgeInSeconds", 21600)),
        on_success=(destinations.get("OnSuccess") or {}).get("Destination"),
        on_failure=(destinations.get("OnFailure") or {}).get("Destination"),
        dead_letter_arn=spec.async_config.dead_letter_arn,
    )
    return DeployedResource(logical_id, "AWS::Lambda::EventInvokeConfig", f"{spec.name}-invoke-config", spec.name)


@handles("AWS::Lambda::EventSourceMapping")
def _event_source_mapping(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    source = p.get("EventSourceArn", "")
    if ":kinesis:" not in source:
        raise UnsupportedResourceError(
            logical_id,
            "AWS::Lambda::EventSourceMapping",
            f"event source {source!r}: only Kinesis streams are supported",
        )
    spec = d.cloud.runtime.spec(p["FunctionName"])
    uuid = d.clients("lambda").create_event_source_mapping(
        EventSourceArn=source,
        FunctionName=spec.name,
        StartingPosition=p.get("StartingPosition", "LATEST"),
        BatchSize=int(p.get("BatchSize", 100)),
    )["UUID"]
    timestamp = p.get("StartingPositionTimestamp")
    from datetime import UTC, datetime

    mapping = KinesisMappingSpec(
        uuid=uuid,
        function_name=spec.name,
        function_arn=spec.arn,
        stream_arn=source,
        batch_size=int(p.get("BatchSize", 100)),
        maximum_batching_window_s=float(p.get("MaximumBatchingWindowInSeconds", 0)),
        starting_position=p.get("StartingPosition", "LATEST"),
        starting_position_timestamp=datetime.fromtimestamp(float(timestamp), UTC) if timestamp else None,
        report_batch_item_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
        bisect_batch_on_function_error=str(p.get("BisectBatchOnFunctionError", False)).lower() == "true",
        maximum_retry_attempts=int(p.get("MaximumRetryAttempts", -1)),
        maximum_record_age_s=int(p.get("MaximumRecordAgeInSeconds", -1)),
        on_failure_arn=((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
        enabled=str(p.get("Enabled", True)).lower() == "true",
        role_arn=spec.role_arn,
    )
    d.cloud.kinesis.add(mapping)
    return DeployedResource(logical_id, "AWS::Lambda::EventSourceMapping", uuid, uuid, {"Id": uuid})


# ---- Step Functions ---------------------------------------------------------------------------------------
@handles("AWS::StepFunctions::StateMachine")
def _state_machine(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    if "DefinitionS3Location" in p:
        raise UnsupportedResourceError(
            logical_id,
            "AWS::StepFunctions::StateMachine",
            "use a local DefinitionUri (SAM) or an inline Definition",
        )
    definition = p.get("DefinitionString") or json.dumps(p.get("Definition", {}))
    for key, value in (p.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", _env_value(value))
    import re

    left = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
    if left:
        raise TemplateError(f"{logical_id}: definition placeholders without a DefinitionSubstitutions entry: {left}")
    name = p.get("StateMachineName") or d.name_for(logical_id, 80)
    created = d.clients("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=p["RoleArn"],
        type=p.get("StateMachineType", "STANDARD"),
        tags=[{"key": t["Key"], "value": t["Value"]} for t in _tags(p)],
    )
    state_machine_arn = created["stateMachineArn"]
    return DeployedResource(
        logical_id,
        "AWS::StepFunctions::StateMachine",
        state_machine_arn,
        state_machine_arn,
        {"Arn": state_machine_arn, "Name": name},
    )


# ---- EventBridge ------------------------------------------------------------------------------------------
@handles("AWS::Events::EventBus")
def _event_bus(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    bus_arn = d.clients("events").create_event_bus(Name=p["Name"])["EventBusArn"]
    return DeployedResource(
        logical_id, "AWS::Events::EventBus", p["Name"], p["Name"], {"Arn": bus_arn, "Name": p["Name"]}
    )


@handles("AWS::Events::Rule")
def _rule(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
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
        d.cloud.scheduler.add(ScheduledRule(name=name, arn=rule_arn, expression=p["ScheduleExpression"], event_bus=bus))
    return DeployedResource(logical_id, "AWS::Events::Rule", name, name, {"Arn": rule_arn})


# ---- Kinesis, DynamoDB, SNS, SQS, Logs, CloudWatch, KMS, SSM ---------------------------------------------
@handles("AWS::Kinesis::Stream")
def _stream(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    kinesis = d.clients("kinesis")
    name = p.get("Name") or d.name_for(logical_id, 128)
    mode = (p.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
    args: dict[str, Any] = {"StreamName": name, "StreamModeDetails": {"StreamMode": mode}}
    if mode == "PROVISIONED":
        args["ShardCount"] = int(p.get("ShardCount", 1))
    kinesis.create_stream(**args)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    encryption = p.get("StreamEncryption")
    if encryption:
        kinesis.start_stream_encryption(
            StreamName=name, EncryptionType=encryption["EncryptionType"], KeyId=encryption["KeyId"]
        )
    if p.get("RetentionPeriodHours") and int(p["RetentionPeriodHours"]) > 24:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=int(p["RetentionPeriodHours"]))
    stream_arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return DeployedResource(logical_id, "AWS::Kinesis::Stream", name, name, {"Arn": stream_arn})


@handles("AWS::DynamoDB::Table")
def _table(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    ddb = d.clients("dynamodb")
    name = p.get("TableName") or d.name_for(logical_id, 255)
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": p["KeySchema"],
        "AttributeDefinitions": p["AttributeDefinitions"],
        "BillingMode": p.get("BillingMode", "PROVISIONED"),
    }
    for key in (
        "ProvisionedThroughput",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "StreamSpecification",
    ):
        if p.get(key):
            args[key] = p[key]
    if args["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in args:
        raise TemplateError(f"{logical_id}: a PROVISIONED table needs ProvisionedThroughput")
    if p.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
    if p.get("SSESpecification"):
        sse = p["SSESpecification"]
        args["SSESpecification"] = {
            "Enabled": str(sse.get("SSEEnabled", False)).lower() == "true",
            **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
            **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
        }
    table = ddb.create_table(**args)["TableDescription"]
    recovery = p.get("PointInTimeRecoverySpecification") or {}
    if str(recovery.get("PointInTimeRecoveryEnabled", False)).lower() == "true":
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    ttl = p.get("TimeToLiveSpecification")
    if ttl and str(ttl.get("Enabled", False)).lower() == "true":
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    return DeployedResource(
        logical_id,
        "AWS::DynamoDB::Table",
        name,
        name,
        {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")},
    )


@handles("AWS::SNS::Topic")
def _topic(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    sns = d.clients("sns")
    name = p.get("TopicName") or d.name_for(logical_id, 256)
    attributes = {
        k: str(p[k]).lower() if isinstance(p[k], bool) else str(p[k])
        for k in ("KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "DisplayName")
        if k in p
    }
    topic_arn = sns.create_topic(Name=name, Attributes=attributes, Tags=_tags(p))["TopicArn"]
    for subscription in p.get("Subscription", []):
        sns.subscribe(TopicArn=topic_arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return DeployedResource(
        logical_id, "AWS::SNS::Topic", topic_arn, topic_arn, {"TopicArn": topic_arn, "TopicName": name}
    )


@handles("AWS::SNS::Subscription")
def _subscription(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    attributes = {}
    if "FilterPolicy" in p:
        attributes["FilterPolicy"] = (
            json.dumps(p["FilterPolicy"]) if isinstance(p["FilterPolicy"], dict) else p["FilterPolicy"]
        )
    if "RawMessageDelivery" in p:
        attributes["RawMessageDelivery"] = str(p["RawMessageDelivery"]).lower()
    subscription_arn = d.clients("sns").subscribe(
        TopicArn=p["TopicArn"],
        Protocol=p["Protocol"],
        Endpoint=p["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return DeployedResource(logical_id, "AWS::SNS::Subscription", subscription_arn, subscription_arn)


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "RedrivePolicy",
    "RedriveAllowPolicy",
)


@handles("AWS::SQS::Queue")
def _queue(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    sqs = d.clients("sqs")
    fifo = str(p.get("FifoQueue", False)).lower() == "true"
    name = p.get("QueueName") or (d.name_for(logical_id, 75) + (".fifo" if fifo else ""))
    attributes = {}
    for key in _QUEUE_ATTRIBUTES:
        if key in p:
            value = p[key]
            attributes[key] = (
                json.dumps(value)
                if isinstance(value, dict)
                else (str(value).lower() if isinstance(value, bool) else str(value))
            )
    url = sqs.create_queue(QueueName=name, Attributes=attributes, tags={t["Key"]: t["Value"] for t in _tags(p)})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return DeployedResource(
        logical_id, "AWS::SQS::Queue", url, url, {"Arn": queue_arn, "QueueUrl": url, "QueueName": name}
    )


@handles("AWS::Logs::LogGroup")
def _log_group(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    logs = d.clients("logs")
    name = p.get("LogGroupName") or d.name_for(logical_id, 512)
    logs.create_log_group(logGroupName=name)
    if p.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))
    return DeployedResource(
        logical_id, "AWS::Logs::LogGroup", name, name, {"Arn": d.arn("logs", f"log-group:{name}:*")}
    )


@handles("AWS::CloudWatch::Alarm")
def _alarm(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    name = p.get("AlarmName") or d.name_for(logical_id, 255)
    keys = (
        "AlarmDescription",
        "ActionsEnabled",
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "Unit",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
        "Metrics",
    )
    args = {k: p[k] for k in keys if k in p}
    for numeric in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if numeric in args:
            args[numeric] = int(args[numeric])
    if "Threshold" in args:
        args["Threshold"] = float(args["Threshold"])
    d.clients("cloudwatch").put_metric_alarm(AlarmName=name, **args)
    return DeployedResource(
        logical_id, "AWS::CloudWatch::Alarm", name, name, {"Arn": d.arn("cloudwatch", f"alarm:{name}")}
    )


@handles("AWS::KMS::Key")
def _kms_key(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    args: dict[str, Any] = {"Description": p.get("Description", logical_id)}
    if p.get("KeyPolicy"):
        args["Policy"] = json.dumps(p["KeyPolicy"])
    key = d.clients("kms").create_key(**args)["KeyMetadata"]
    if str(p.get("EnableKeyRotation", False)).lower() == "true":
        d.clients("kms").enable_key_rotation(KeyId=key["KeyId"])
    return DeployedResource(
        logical_id, "AWS::KMS::Key", key["KeyId"], key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]}
    )


@handles("AWS::KMS::Alias")
def _kms_alias(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    d.clients("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
    return DeployedResource(logical_id, "AWS::KMS::Alias", p["AliasName"], p["AliasName"])


@handles("AWS::SageMaker::ModelPackageGroup")
def _model_package_group(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    name = p.get("ModelPackageGroupName") or d.name_for(logical_id, 63)
    args: dict[str, Any] = {"ModelPackageGroupName": name}
    if p.get("ModelPackageGroupDescription"):
        args["ModelPackageGroupDescription"] = p["ModelPackageGroupDescription"]
    if _tags(p):
        args["Tags"] = _tags(p)
    group_arn = d.clients("sagemaker").create_model_package_group(**args)["ModelPackageGroupArn"]
    return DeployedResource(
        logical_id, "AWS::SageMaker::ModelPackageGroup", name, group_arn, {"ModelPackageGroupArn": group_arn}
    )


@handles("AWS::SSM::Parameter")
def _ssm_parameter(d: Deployer, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    name = p.get("Name") or d.name_for(logical_id, 128)
    d.clients("ssm").put_parameter(Name=name, Value=str(p["Value"]), Type=p.get("Type", "String"))
    return DeployedResource(
        logical_id, "AWS::SSM::Parameter", name, name, {"Type": p.get("Type", "String"), "Value": p["Value"]}
    )
