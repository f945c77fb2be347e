"""Payload format 2.0: the event API Gateway sends for a request, and the HTTP response it makes of the answer."""

import base64
import json
from pathlib import Path

import pytest

from cd4ml.localcloud.apigateway.payload import HttpRequest, RouteContext, build_event, map_response

SAMPLE = json.loads((Path(__file__).resolve().parents[4] / "events" / "http_api_request.json").read_text())


def _context(**overrides):
    values = dict(
        api_id="a1b2c3d4e5",
        stage="$default",
        route_key="POST /decisions",
        region="us-east-1",
        account_id="123456789012",
        request_id="JKJaXmPLvHcESHA=",
        epoch_ms=1796163300000,
    )
    return RouteContext(**{**values, **overrides})


def test_the_event_is_the_sample_api_gateway_sends():
    headers = [(k.title(), v) for k, v in SAMPLE["headers"].items()] + [("Cookie", "session=5f2c")]
    request = HttpRequest(
        method="POST",
        path="/decisions",
        raw_query_string="dry_run=false",
        headers=headers,
        body=SAMPLE["body"].encode(),
        source_ip="203.0.113.17",
    )
    event = build_event(request, _context(iam=SAMPLE["requestContext"]["authorizer"]["iam"]))
    assert event == SAMPLE


def _request(**overrides):
    values = dict(method="get", path="/live/things/7", raw_query_string="", headers=[], body=b"", source_ip="10.0.0.1")
    return HttpRequest(**{**values, **overrides})


def test_headers_are_lower_cased_and_repeated_values_joined_and_cookies_split_out():
    event = build_event(
        _request(headers=[("X-Custom", "a"), ("x-custom", "b"), ("Cookie", "s=1; t=2"), ("User-Agent", "curl/8")]),
        _context(),
    )
    assert event["headers"]["x-custom"] == "a,b"
    assert "cookie" not in event["headers"] and event["cookies"] == ["s=1", "t=2"]
    assert event["requestContext"]["http"]["userAgent"] == "curl/8"
    assert event["requestContext"]["http"]["method"] == "GET"


def test_query_path_parameters_and_stage_are_given_as_aws_gives_them():
    event = build_event(
        _request(raw_query_string="a=1&a=2&empty=&q=x%20y"),
        _context(stage="live", route_key="GET /things/{id}", path_parameters={"id": "7"}, stage_variables={"v": "1"}),
    )
    assert event["rawPath"] == "/live/things/7" and event["requestContext"]["http"]["path"] == "/live/things/7"
    assert event["rawQueryString"] == "a=1&a=2&empty=&q=x%20y"
    assert event["queryStringParameters"] == {"a": "1,2", "empty": "", "q": "x y"}
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] == {"v": "1"}
    assert event["requestContext"]["stage"] == "live"


def test_optional_fields_are_absent_not_null():
    event = build_event(_request(), _context())
    for absent in ("cookies", "queryStringParameters", "pathParameters", "stageVariables", "body"):
        assert absent not in event
    assert "authorizer" not in event["requestContext"]
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    ("content_type", "body", "encoded"),
    [
        ("application/json; charset=utf-8", b'{"a": 1}', False),
        ("text/csv", b"a,b\n1,2\n", False),
        ("application/octet-stream", bytes(range(256)), True),
        (None, b"no content type", True),
        ("application/json", b"\xff\xfe not utf-8", True),
    ],
)
def test_binary_bodies_are_base64_encoded(content_type, body, encoded):
    headers = [("Content-Type", content_type)] if content_type else []
    event = build_event(_request(method="POST", headers=headers, body=body), _context())
    assert event["isBase64Encoded"] is encoded
    assert (base64.b64decode(event["body"]) if encoded else event["body"].encode()) == body


def test_a_described_response_is_served_as_described():
    answer = {
        "statusCode": 201,
        "headers": {"x-count": 3, "content-type": "text/plain"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": "created",
    }
    response = map_response(json.dumps(answer).encode(), None)
    assert response.status == 201 and response.body == b"created"
    assert ("x-count", "3") in response.headers
    assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1; Path=/", "b=2"]


def test_a_base64_body_is_decoded():
    answer = {"statusCode": 200, "body": base64.b64encode(b"\x00\x01\xff").decode(), "isBase64Encoded": True}
    assert map_response(json.dumps(answer).encode(), None).body == b"\x00\x01\xff"


@pytest.mark.parametrize("answer", [{"decision": "approve"}, "a string", 7, [1, 2], None])
def test_any_other_json_answer_is_200_json_as_it_is(answer):
    payload = json.dumps(answer).encode()
    response = map_response(payload, None)
    assert response.status == 200 and response.body == payload
    assert ("content-type", "application/json") in response.headers


@pytest.mark.parametrize(
    "answer",
    [{"statusCode": "teapot"}, {"statusCode": 99}, {"statusCode": 200, "body": {"a": 1}}, {"statusCode": True}],
)
def test_a_malformed_response_is_500(answer):
    response = map_response(json.dumps(answer).encode(), None)
    assert (response.status, json.loads(response.body)) == (500, {"message": "Internal Server Error"})


def test_a_function_error_is_500_without_the_error_details():
    error = json.dumps({"errorType": "RuntimeError", "errorMessage": "boom", "stackTrace": []}).encode()
    response = map_response(error, "Unhandled")
    assert response.status == 500 and response.body == b'{"message":"Internal Server Error"}'
