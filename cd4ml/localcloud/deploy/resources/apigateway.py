"""HTTP APIs (API Gateway v2): APIs from an OpenAPI `Body` (what SAM makes of `AWS::Serverless::HttpApi` and of
functions' `HttpApi` events) or quick-create, stages with their throttling and access logs, routes, integrations and
deployments, created through moto's apigatewayv2 API; the local cloud's gateway (`apigateway/gateway.py`) serves
them."""

from __future__ import annotations

from typing import Any

from ...apigateway.access_logs import AccessLogSettingsError, parse_settings
from ...apigateway.routes import DEFAULT_ROUTE, RouteError, RouteSpec, openapi_routes
from ...errors import UnsupportedResourceError
from ..base import DeployContext, DeployedResource, handles

_API = "AWS::ApiGatewayV2::Api"


def _tag_map(p: dict[str, Any]) -> dict[str, str]:
    tags = p.get("Tags") or {}
    if isinstance(tags, list):
        return {t["Key"]: str(t["Value"]) for t in tags}
    return {str(k): str(v) for k, v in tags.items()}


def _body_tags(body: dict[str, Any]) -> dict[str, str]:
    return {
        str(t["name"]): str(t.get("x-amazon-apigateway-tag-value", ""))
        for t in body.get("tags") or []
        if isinstance(t, dict) and "name" in t
    }


def _execute_api_endpoint_disabled(p: dict[str, Any], body: dict[str, Any]) -> bool:
    """The property, or where SAM writes it: the OpenAPI `servers`' endpoint configuration."""
    flags = [p.get("DisableExecuteApiEndpoint", False)] + [
        (server.get("x-amazon-apigateway-endpoint-configuration") or {}).get("disableExecuteApiEndpoint", False)
        for server in body.get("servers") or []
        if isinstance(server, dict)
    ]
    return any(str(flag).lower() == "true" for flag in flags)


def _check_served(spec: RouteSpec) -> RouteSpec:
    if spec.payload_format_version != "2.0":
        raise RouteError(
            f"route {spec.route_key!r}: payload format {spec.payload_format_version}; the local cloud serves 2.0"
        )
    return spec


def _create_route(client: Any, api_id: str, spec: RouteSpec) -> str:
    integration = client.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=spec.function_arn,
        PayloadFormatVersion=spec.payload_format_version,
        TimeoutInMillis=spec.timeout_ms,
    )
    route = client.create_route(
        ApiId=api_id,
        RouteKey=spec.route_key,
        Target=f"integrations/{integration['IntegrationId']}",
        AuthorizationType=spec.authorization_type,
    )
    return str(route["RouteId"])


@handles(_API)
def _api(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    if "BodyS3Location" in p:
        raise UnsupportedResourceError(logical_id, _API, "BodyS3Location: give the OpenAPI definition inline as Body")
    body = p.get("Body")
    protocol = p.get("ProtocolType", "HTTP")
    if body is None and protocol != "HTTP":
        raise UnsupportedResourceError(logical_id, _API, f"ProtocolType {protocol!r}: HTTP APIs only")
    if body is not None and not isinstance(body, dict):
        raise UnsupportedResourceError(logical_id, _API, "Body must be an OpenAPI document (a map)")
    try:  # before anything is created: an authoriser or integration not served locally fails the deploy
        routes = openapi_routes(body) if body is not None else []
        if body is None and p.get("Target"):
            routes = [RouteSpec(str(p.get("RouteKey") or DEFAULT_ROUTE), str(p["Target"]))]
        routes = [_check_served(spec) for spec in routes]
    except RouteError as exc:
        raise UnsupportedResourceError(logical_id, _API, str(exc)) from exc
    info = (body or {}).get("info") or {}
    client = d.clients("apigatewayv2")
    created = client.create_api(
        Name=str(p.get("Name") or info.get("title") or d.name_for(logical_id)),
        ProtocolType="HTTP",
        Description=str(p.get("Description") or info.get("description") or ""),
        Version=str(info.get("version") or p.get("Version") or ""),
        DisableExecuteApiEndpoint=_execute_api_endpoint_disabled(p, body or {}),
        Tags={**_body_tags(body or {}), **_tag_map(p)},
    )
    api_id = created["ApiId"]
    for spec in routes:
        _create_route(client, api_id, spec)
    if body is None and p.get("Target"):  # quick create makes the $default stage, auto-deployed
        client.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return DeployedResource(logical_id, _API, api_id, api_id, {"ApiId": api_id, "ApiEndpoint": created["ApiEndpoint"]})


@handles("AWS::ApiGatewayV2::Stage")
def _stage(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    route_settings = {key: _route_settings(value) for key, value in (p.get("RouteSettings") or {}).items()}
    arguments: dict[str, Any] = {
        "ApiId": p["ApiId"],
        "StageName": p["StageName"],
        "AutoDeploy": str(p.get("AutoDeploy", False)).lower() == "true",
        "StageVariables": {k: str(v) for k, v in (p.get("StageVariables") or {}).items()},
        "Tags": _tag_map(p),
    }
    if p.get("DefaultRouteSettings"):
        arguments["DefaultRouteSettings"] = _route_settings(p["DefaultRouteSettings"])
    if route_settings:
        arguments["RouteSettings"] = route_settings
    if p.get("Description"):
        arguments["Description"] = str(p["Description"])
    if p.get("AccessLogSettings"):
        try:  # a destination or format the gateway could not write to fails the deploy, as CreateStage refuses it
            settings = parse_settings(p["AccessLogSettings"])
        except AccessLogSettingsError as exc:
            raise UnsupportedResourceError(logical_id, "AWS::ApiGatewayV2::Stage", str(exc)) from exc
        arguments["AccessLogSettings"] = {"DestinationArn": settings.destination_arn, "Format": settings.format}
    d.clients("apigatewayv2").create_stage(**arguments)
    return DeployedResource(logical_id, "AWS::ApiGatewayV2::Stage", p["StageName"], p["StageName"])


def _route_settings(settings: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for name in ("DataTraceEnabled", "DetailedMetricsEnabled"):
        if name in settings:
            converted[name] = str(settings[name]).lower() == "true"
    if "LoggingLevel" in settings:
        converted["LoggingLevel"] = str(settings["LoggingLevel"])
    if "ThrottlingBurstLimit" in settings:
        converted["ThrottlingBurstLimit"] = int(settings["ThrottlingBurstLimit"])
    if "ThrottlingRateLimit" in settings:
        converted["ThrottlingRateLimit"] = float(settings["ThrottlingRateLimit"])
    return converted


@handles("AWS::ApiGatewayV2::Integration")
def _integration(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    kind = str(p.get("IntegrationType", ""))
    version = str(p.get("PayloadFormatVersion", "2.0"))
    if kind != "AWS_PROXY" or version != "2.0":
        raise UnsupportedResourceError(
            logical_id,
            "AWS::ApiGatewayV2::Integration",
            f"IntegrationType {kind!r}, PayloadFormatVersion {version}: the local cloud serves Lambda proxy "
            "integrations in payload format 2.0",
        )
    created = d.clients("apigatewayv2").create_integration(
        ApiId=p["ApiId"],
        IntegrationType=kind,
        IntegrationMethod=str(p.get("IntegrationMethod", "POST")),
        IntegrationUri=str(p["IntegrationUri"]),
        PayloadFormatVersion=version,
        TimeoutInMillis=int(p.get("TimeoutInMillis", 30000)),
    )
    integration_id = created["IntegrationId"]
    return DeployedResource(logical_id, "AWS::ApiGatewayV2::Integration", integration_id, integration_id)


@handles("AWS::ApiGatewayV2::Route")
def _route(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    authorization = str(p.get("AuthorizationType", "NONE"))
    if authorization not in ("NONE", "AWS_IAM"):
        raise UnsupportedResourceError(
            logical_id, "AWS::ApiGatewayV2::Route", f"AuthorizationType {authorization!r}: only AWS_IAM and NONE"
        )
    created = d.clients("apigatewayv2").create_route(
        ApiId=p["ApiId"],
        RouteKey=str(p["RouteKey"]),
        Target=str(p.get("Target", "")),
        AuthorizationType=authorization,
    )
    route_id = created["RouteId"]
    return DeployedResource(logical_id, "AWS::ApiGatewayV2::Route", route_id, route_id)


@handles("AWS::ApiGatewayV2::Deployment")
def _deployment(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    """Routes are served as soon as they exist (as with AutoDeploy); a deployment is only recorded."""
    deployment_id = d.name_for(logical_id, 32, lower=True)
    return DeployedResource(logical_id, "AWS::ApiGatewayV2::Deployment", deployment_id, deployment_id)
