"""HTTP APIs on the local cloud: a SAM HttpApi with IAM authorisation and throttling in front of an echo function,
reached through the stack output URL with `requests` (SigV4-signed as for AWS) and curl, as a client would."""

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from cd4ml.localcloud import LocalCloud

TEMPLATE = Path(__file__).parent / "stacks" / "http_api" / "template.yaml"


class SigV4(requests.auth.AuthBase):
    """Signs a request for API Gateway (service `execute-api`) with the local cloud's credentials."""

    def __init__(self, region):
        self.credentials = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        self.credentials = self.credentials.get_credentials()
        self.region = region

    def __call__(self, request):
        signed = AWSRequest(method=request.method, url=request.url, data=request.body or b"")
        if "content-type" in request.headers:
            signed.headers["Content-Type"] = request.headers["content-type"]
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud.deployed(TEMPLATE) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def api(cloud):
    return cloud.stack.outputs["ThingsApiUrl"]


@pytest.fixture(scope="module")
def signed(cloud):
    return SigV4(cloud.region)


def test_the_stack_outputs_are_local_urls_also_in_describe_stacks(cloud):
    api_id = cloud.physical_id("ThingsApi")
    assert cloud.stack.outputs["ThingsApiUrl"] == f"{cloud.endpoint_url}/_aws/execute-api/{api_id}/live"
    assert cloud.stack.outputs["ThingsApiEndpoint"] == f"{cloud.endpoint_url}/_aws/execute-api/{api_id}"
    [stack] = cloud.client("cloudformation").describe_stacks(StackName="cd4ml")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["ThingsApiUrl"] == cloud.stack.outputs["ThingsApiUrl"]


def test_a_signed_request_reaches_the_function_with_a_payload_2_0_event(cloud, api, signed):
    response = requests.post(
        f"{api}/things/42?colour=red&colour=blue&n=1",
        json={"amount": 12.5},
        headers={"X-Request-Source": "checkout", "Cookie": "session=abc"},
        auth=signed,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["apigw-requestid"]
    event = response.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /things/{id}"
    assert event["rawPath"] == "/live/things/42"  # a named stage is part of the path, as on AWS
    assert event["rawQueryString"] == "colour=red&colour=blue&n=1"
    assert event["queryStringParameters"] == {"colour": "red,blue", "n": "1"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["cookies"] == ["session=abc"]
    assert event["headers"]["x-request-source"] == "checkout"
    assert event["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert json.loads(event["body"]) == {"amount": 12.5} and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["apiId"] == cloud.physical_id("ThingsApi") and context["stage"] == "live"
    assert context["http"]["method"] == "POST" and context["http"]["path"] == "/live/things/42"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["userAgent"].startswith("python-requests/")
    assert context["requestId"] == response.headers["apigw-requestid"]
    iam = context["authorizer"]["iam"]
    assert iam["accessKey"] == "testing" and iam["accountId"] == cloud.account_id
    assert iam["userArn"] == cloud.client("sts").get_caller_identity()["Arn"]  # the same caller STS names


def test_a_binary_body_on_a_greedy_route_arrives_base64_encoded(api, signed):
    data = bytes(range(256))
    response = requests.put(
        f"{api}/files/reports/2026/12/01.bin",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        auth=signed,
        timeout=10,
    )
    event = response.json()
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "reports/2026/12/01.bin"}
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data


def test_an_unsigned_request_to_an_iam_route_is_forbidden(cloud, api):
    before = _invocations(cloud, "EchoFunction")
    response = requests.post(f"{api}/things/42", json={}, timeout=10)
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})
    assert _invocations(cloud, "EchoFunction") == before


def test_a_signature_for_another_service_is_forbidden(cloud, api):
    class S3Signed(SigV4):
        def __call__(self, request):
            signed = AWSRequest(method=request.method, url=request.url, data=request.body or b"")
            SigV4Auth(self.credentials, "s3", self.region).add_auth(signed)
            request.headers.update(dict(signed.headers.items()))
            return request

    response = requests.post(f"{api}/things/42", json={}, auth=S3Signed(cloud.region), timeout=10)
    assert response.status_code == 403 and "execute-api" in response.json()["message"]


def test_an_open_route_takes_unsigned_requests_and_its_answer_is_mapped_back(api):
    response = requests.get(f"{api}/open", params={"action": "respond"}, timeout=10)
    assert response.status_code == 201 and response.text == "created"
    assert response.headers["x-answer"] == "yes"
    assert response.raw.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2"]
    assert response.cookies["b"] == "2"


def test_binary_plain_and_malformed_answers(api):
    binary = requests.get(f"{api}/open", params={"action": "binary"}, timeout=10)
    assert binary.content == bytes(range(256)) and binary.headers["content-type"] == "application/octet-stream"
    plain = requests.get(f"{api}/open", params={"action": "plain"}, timeout=10)
    assert (plain.status_code, plain.json()) == (200, {"plain": True, "path": "/live/open"})
    assert plain.headers["content-type"] == "application/json"
    malformed = requests.get(f"{api}/open", params={"action": "malformed"}, timeout=10)
    assert (malformed.status_code, malformed.json()) == (500, {"message": "Internal Server Error"})


def test_a_function_error_is_500_internal_server_error(api):
    response = requests.get(f"{api}/open", params={"action": "raise"}, timeout=10)
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})
    assert "asked to fail" not in response.text


def test_a_function_slower_than_the_integration_timeout_is_503(api):
    started = time.monotonic()
    response = requests.get(f"{api}/slow", params={"action": "sleep", "seconds": "2"}, timeout=10)
    assert (response.status_code, response.json()) == (503, {"message": "Service Unavailable"})
    assert time.monotonic() - started < 1.5  # TimeoutInMillis: 500, not the function's 2 s


def _invocations(cloud, logical_id):
    log = cloud.runtime.log_dir / f"{cloud.physical_id(logical_id)}.log"
    return log.read_text().count("START RequestId") if log.exists() else 0


def test_past_the_burst_limit_requests_are_throttled_without_invoking_the_function(cloud, api, signed):
    before = _invocations(cloud, "EchoFunction")
    statuses = [requests.post(f"{api}/limited", json={}, auth=signed, timeout=10).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]  # LimitedBurst: 3 at 0.01 requests/s
    response = requests.post(f"{api}/limited", json={}, auth=signed, timeout=10)
    assert (response.status_code, response.json()) == (429, {"message": "Too Many Requests"})
    assert _invocations(cloud, "EchoFunction") == before + 3
    other = requests.post(f"{api}/things/1", json={}, auth=signed, timeout=10)
    assert other.status_code == 200  # the stage default of another route is untouched


def test_unknown_routes_stages_and_apis_are_not_found(cloud, api, signed):
    api_id = cloud.physical_id("ThingsApi")
    for url in (
        f"{api}/nothing/here",
        f"{cloud.endpoint_url}/_aws/execute-api/{api_id}/things/42",  # no $default stage on this API
        f"{cloud.endpoint_url}/_aws/execute-api/nosuchapi/",
    ):
        response = requests.get(url, auth=signed, timeout=10)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"}), url


def test_the_implicit_api_answers_every_path_on_its_default_route_also_to_curl(cloud):
    url = cloud.stack.outputs["DefaultApiUrl"]
    assert url.endswith("/")
    response = requests.delete(f"{url}any/where", timeout=10)
    event = response.json()
    assert (event["routeKey"], event["rawPath"], event["requestContext"]["stage"]) == (
        "$default",
        "/any/where",
        "$default",
    )
    if shutil.which("curl"):
        printed = subprocess.run(
            ["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json", "-d", '{"k": 1}', f"{url}orders"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
        answered = json.loads(printed)
        assert answered["rawPath"] == "/orders" and json.loads(answered["body"]) == {"k": 1}


def test_the_apis_are_listed_by_the_apigatewayv2_api(cloud):
    client = cloud.client("apigatewayv2")
    apis = {a["ApiId"]: a for a in client.get_apis()["Items"]}
    things = cloud.physical_id("ThingsApi")
    assert set(apis) == {things, cloud.physical_id("ServerlessHttpApi"), cloud.physical_id("ClosedApi")}
    assert apis[cloud.physical_id("ClosedApi")]["DisableExecuteApiEndpoint"] is True
    assert apis[things]["ProtocolType"] == "HTTP"
    assert apis[things]["ApiEndpoint"] == f"https://{things}.execute-api.{cloud.region}.amazonaws.com"
    routes = {r["RouteKey"]: r["AuthorizationType"] for r in client.get_routes(ApiId=things)["Items"]}
    assert routes == {
        "POST /things/{id}": "AWS_IAM",
        "ANY /files/{proxy+}": "AWS_IAM",
        "POST /limited": "AWS_IAM",
        "GET /open": "NONE",
        "GET /slow": "NONE",
    }
    [stage] = client.get_stages(ApiId=things)["Items"]
    assert stage["StageName"] == "live"
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 1000
    assert stage["RouteSettings"]["POST /limited"]["ThrottlingBurstLimit"] == 3


def test_the_api_is_also_reached_by_its_execute_api_host_name(cloud):
    api_id = cloud.physical_id("ThingsApi")
    response = requests.get(
        f"{cloud.endpoint_url}/live/open",
        params={"action": "plain"},
        headers={"Host": f"{api_id}.execute-api.localhost"},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (200, {"plain": True, "path": "/live/open"})
    # any other request still reaches moto's services
    assert cloud.client("apigatewayv2").get_api(ApiId=api_id)["ApiId"] == api_id


def test_an_api_whose_execute_api_endpoint_is_disabled_answers_forbidden(cloud):
    response = requests.get(cloud.stack.outputs["ClosedApiUrl"] + "anything", timeout=10)
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})
