"""Lambda functions (run from their local code folder), layers, versions, aliases, async invoke configs and Kinesis
event-source mappings."""

from __future__ import annotations

import logging
from typing import Any

from ...errors import TemplateError, UnsupportedResourceError
from ...lambda_.functions import AsyncConfig, FunctionSpec
from ...lambda_.mapping_spec import KinesisMappingSpec
from ..base import PLACEHOLDER_ZIP, DeployContext, DeployedResource, env_value, handles, tags

log = logging.getLogger(__name__)


@handles("AWS::Lambda::LayerVersion")
def _layer(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
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
    d.registrar.add_layer(layer_arn, local)
    return DeployedResource(
        logical_id, "AWS::Lambda::LayerVersion", layer_arn, layer_arn, {"LayerVersionArn": layer_arn}
    )


@handles("AWS::Lambda::Function")
def _function(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
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
        layer_dir = d.registrar.layer_dir(layer_arn)
        if layer_dir is None:
            raise TemplateError(f"{logical_id}: layer {layer_arn} is not a local layer of this stack")
        layer_dirs.append(layer_dir)
    environment = {k: env_value(v) for k, v in (p.get("Environment", {}).get("Variables", {}) or {}).items()}
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
        Tags={t["Key"]: t["Value"] for t in tags(p)},
        **({"DeadLetterConfig": p["DeadLetterConfig"]} if p.get("DeadLetterConfig") else {}),
        **({"KMSKeyArn": p["KmsKeyArn"]} if p.get("KmsKeyArn") else {}),  # the environment's key, as configured
    )
    reserved = int(p["ReservedConcurrentExecutions"]) if "ReservedConcurrentExecutions" in p else None
    if reserved is not None:  # what get-function-concurrency answers; the runtime caps its workers to it
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
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
        reserved_concurrency=reserved,
        async_config=AsyncConfig(dead_letter_arn=(p.get("DeadLetterConfig") or {}).get("TargetArn")),
    )
    d.registrar.register_function(spec)
    return DeployedResource(logical_id, "AWS::Lambda::Function", name, name, {"Arn": created["FunctionArn"]})


@handles("AWS::Lambda::Version")
def _version(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
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
def _alias(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    alias = d.clients("lambda").create_alias(
        FunctionName=p["FunctionName"], Name=p["Name"], FunctionVersion=str(p["FunctionVersion"])
    )
    return DeployedResource(logical_id, "AWS::Lambda::Alias", alias["AliasArn"], alias["AliasArn"])


@handles("AWS::Lambda::EventInvokeConfig")
def _event_invoke_config(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    spec = d.registrar.function_spec(p["FunctionName"])
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
def _event_source_mapping(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    source = p.get("EventSourceArn", "")
    if ":kinesis:" not in source:
        raise UnsupportedResourceError(
            logical_id,
            "AWS::Lambda::EventSourceMapping",
            f"event source {source!r}: only Kinesis streams are supported",
        )
    spec = d.registrar.function_spec(p["FunctionName"])
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
    d.registrar.add_stream_mapping(mapping)
    return DeployedResource(logical_id, "AWS::Lambda::EventSourceMapping", uuid, uuid, {"Id": uuid})
