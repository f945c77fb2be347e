"""Route selection as API Gateway does it for HTTP APIs, and the routes SAM's transform writes into an API's Body."""

from pathlib import Path

import pytest

from cd4ml.localcloud.apigateway.routes import RouteError, function_arn_of, openapi_routes, select_route
from cd4ml.localcloud.deploy.template import load_template, transform_template

STACK = Path(__file__).resolve().parents[3] / "integration" / "stacks" / "http_api" / "template.yaml"
KEYS = ["POST /things/{id}", "GET /things/special", "ANY /things/{id}", "ANY /files/{proxy+}", "GET /", "$default"]


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        ("POST", "/things/42", "POST /things/{id}", {"id": "42"}),
        ("GET", "/things/special", "GET /things/special", {}),  # a full match beats a path variable
        ("GET", "/things/42", "ANY /things/{id}", {"id": "42"}),  # ANY takes the methods the path does not name
        ("DELETE", "/files/a/b/c.txt", "ANY /files/{proxy+}", {"proxy": "a/b/c.txt"}),
        ("GET", "/", "GET /", {}),
        ("GET", "/files", "$default", {}),  # a greedy variable needs at least one character
        ("POST", "/things/42/extra", "$default", {}),
    ],
)
def test_the_most_specific_route_answers(method, path, route_key, parameters):
    match = select_route(KEYS, method, path)
    assert match is not None
    assert (match.route_key, match.path_parameters) == (route_key, parameters)


def test_no_route_and_no_default_route_is_not_found():
    assert select_route(["POST /things/{id}"], "GET", "/things/1") is None
    assert select_route(["POST /things/{id}"], "POST", "/other") is None


def test_a_greedy_variable_that_is_not_last_is_refused():
    with pytest.raises(RouteError, match="greedy"):
        select_route(["GET /{proxy+}/tail"], "GET", "/a/tail")


def test_the_function_arn_comes_out_of_apigateway_integration_uris():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:echo"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    assert function_arn_of(uri) == arn
    assert function_arn_of(arn) == arn


def test_routes_of_what_sam_makes_of_an_http_api_with_iam_auth():
    template = transform_template(load_template(STACK), {}, STACK.parent, "us-east-1")
    body = template.resources["ThingsApi"]["Properties"]["Body"]
    routes = {r.route_key: r for r in openapi_routes(body)}
    assert set(routes) == {"POST /things/{id}", "ANY /files/{proxy+}", "POST /limited", "GET /open", "GET /slow"}
    assert routes["POST /things/{id}"].authorization_type == "AWS_IAM"  # the API's DefaultAuthorizer
    assert routes["GET /open"].authorization_type == "NONE"  # Auth: Authorizer: NONE on the event
    assert routes["GET /slow"].timeout_ms == 500
    assert {r.payload_format_version for r in routes.values()} == {"2.0"}
    implicit = openapi_routes(template.resources["ServerlessHttpApi"]["Properties"]["Body"])
    assert [(r.route_key, r.authorization_type) for r in implicit] == [("$default", "NONE")]


def test_an_authoriser_the_local_cloud_does_not_check_is_refused_not_served_open():
    body = {
        "paths": {"/x": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "f"}}}},
        "security": [{"MyJwt": []}],
        "components": {"securitySchemes": {"MyJwt": {"type": "oauth2", "x-amazon-apigateway-authorizer": {}}}},
    }
    with pytest.raises(RouteError, match="MyJwt"):
        openapi_routes(body)
