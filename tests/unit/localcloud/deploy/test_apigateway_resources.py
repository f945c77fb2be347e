"""Deploying HTTP API resources: what the local cloud cannot serve as AWS would is refused before anything exists."""

import pytest

from cd4ml.localcloud.deploy.resources import apigateway
from cd4ml.localcloud.errors import UnsupportedResourceError


class NothingMayBeCreated:
    """A deploy context whose clients fail the test: the handler must refuse before calling any API."""

    region = "us-east-1"

    def clients(self, service):
        raise AssertionError(f"{service} was called before the resource was refused")

    def name_for(self, logical_id, max_length=64, lower=False):
        return logical_id


def _body(operation):
    return {"openapi": "3.0.1", "info": {"title": "t"}, "paths": {"/x": {"get": operation}}}


LAMBDA = {"type": "aws_proxy", "uri": "arn:aws:lambda:us-east-1:123456789012:function:f"}


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"Body": _body({"x-amazon-apigateway-integration": {**LAMBDA, "payloadFormatVersion": "1.0"}})}, "2.0"),
        ({"Body": _body({"x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "https://x"}})}, "http"),
        ({"Body": _body({"x-amazon-apigateway-integration": LAMBDA, "security": [{"Jwt": []}]})}, "Jwt"),
        ({"BodyS3Location": {"Bucket": "b", "Key": "k"}}, "BodyS3Location"),
        ({"Name": "ws", "ProtocolType": "WEBSOCKET"}, "WEBSOCKET"),
    ],
)
def test_an_api_the_local_cloud_cannot_serve_is_refused_before_it_is_created(properties, reason):
    with pytest.raises(UnsupportedResourceError, match=reason) as refused:
        apigateway._api(NothingMayBeCreated(), "DecisionApi", properties)
    assert "DecisionApi" in str(refused.value)


@pytest.mark.parametrize(
    ("handler", "properties", "reason"),
    [
        (apigateway._route, {"ApiId": "a", "RouteKey": "GET /x", "AuthorizationType": "JWT"}, "JWT"),
        (apigateway._integration, {"ApiId": "a", "IntegrationType": "HTTP_PROXY", "IntegrationUri": "u"}, "HTTP"),
    ],
)
def test_routes_and_integrations_the_local_cloud_cannot_serve_are_refused(handler, properties, reason):
    with pytest.raises(UnsupportedResourceError, match=reason):
        handler(NothingMayBeCreated(), "Thing", properties)
