"""Access logs of an HTTP API on the local cloud: the test stack's `ThingsApi` stage has AccessLogSettings (a JSON
line per request into its `ThingsApiAccessLogs` group), and every request it answers (signed, refused, throttled,
failed, not found) shows in that group through CloudWatch Logs' FilterLogEvents, as `aws logs tail` reads it."""

import json
import re
import time
from pathlib import Path

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cd4ml.localcloud import LocalCloud

TEMPLATE = Path(__file__).parent / "stacks" / "http_api" / "template.yaml"
# The stage's DefaultRouteSettings for this module: each route takes DEFAULT_BURST requests, then 429.
DEFAULT_BURST = 100
UNSIGNED_AUTHORIZER_ERROR = "The request for the IAM Authorizer doesn't match the format that API Gateway expects."


@pytest.fixture(scope="module")
def cloud():
    parameters = {"DefaultBurst": str(DEFAULT_BURST), "DefaultRate": "0.01"}
    with LocalCloud.deployed(TEMPLATE, parameters) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def api(cloud):
    return cloud.stack.outputs["ThingsApiUrl"]


def _signed(cloud, method, url, body=b""):
    """Headers of a SigV4 signature for execute-api, as any AWS client signs a request to an IAM route."""
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("testing", "testing"), "execute-api", cloud.region).add_auth(request)
    return dict(request.headers.items())


def _lines(cloud):
    """Every access log line of the stage's log group by request id, read as a user reads them (FilterLogEvents);
    every line of the JSON format must parse as JSON."""
    logs = cloud.client("logs")
    group = cloud.physical_id("ThingsApiAccessLogs")
    lines, token = {}, None
    while True:
        page = logs.filter_log_events(logGroupName=group, **({"nextToken": token} if token else {}))
        for event in page["events"]:
            line = json.loads(event["message"])
            lines[line["requestId"]] = line
        token = page.get("nextToken")
        if not token:
            return lines


def _logged(cloud, request_ids, timeout_s=10.0):
    """The lines of these requests, waiting for them to be shipped (every 0.2 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = _lines(cloud)
        missing = set(request_ids) - set(lines)
        if not missing:
            return [lines[request_id] for request_id in request_ids]
        assert time.monotonic() < deadline, f"no access log line for {sorted(missing)}"
        time.sleep(0.1)


def _id(response):
    return response.headers["apigw-requestid"]


def test_a_signed_request_is_logged_with_its_caller_and_timings(cloud, api):
    url = f"{api}/things/42"
    body = json.dumps({"amount": 12.5}).encode()
    response = requests.post(url, data=body, headers=_signed(cloud, "POST", url, body), timeout=10)
    assert response.status_code == 200, response.text
    [line] = _logged(cloud, [_id(response)])
    caller = cloud.client("sts").get_caller_identity()
    assert line["status"] == 200 and line["route"] == "POST /things/{id}" and line["stage"] == "live"
    assert (line["method"], line["path"], line["protocol"]) == ("POST", "/live/things/42", "HTTP/1.1")
    assert (line["caller"], line["callerId"], line["callerAccount"]) == (
        caller["Arn"],
        caller["UserId"],
        caller["Account"],
    )
    assert line["sourceIp"] == "127.0.0.1" and line["userAgent"].startswith("python-requests/")
    assert (line["error"], line["authorizerError"], line["integrationError"]) == ("-", "-", "-")
    assert (line["integrationStatus"], line["functionStatus"]) == ("200", "200")
    assert re.fullmatch(r"[0-9a-f-]{36}", line["lambdaRequestId"])  # the invocation's request id
    assert line["responseLength"] == len(response.content)
    assert 0 <= int(line["integrationLatencyMs"]) <= line["latencyMs"] < 10_000
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", line["time"])
    assert abs(line["epochMs"] / 1000 - time.time()) < 60


def test_an_unsigned_request_is_logged_as_forbidden_without_a_caller(cloud, api):
    response = requests.post(f"{api}/things/42", json={}, timeout=10)
    assert response.status_code == 403
    [line] = _logged(cloud, [_id(response)])
    assert line["status"] == 403 and line["route"] == "POST /things/{id}"
    assert (line["caller"], line["callerId"], line["callerAccount"]) == ("-", "-", "-")
    assert (line["error"], line["authorizerError"]) == ("Forbidden", UNSIGNED_AUTHORIZER_ERROR)
    assert (line["integrationStatus"], line["integrationLatencyMs"], line["lambdaRequestId"]) == ("-", "-", "-")


def test_requests_past_a_route_setting_limit_are_logged_as_429(cloud, api):
    url = f"{api}/limited"
    answers = [requests.post(url, data=b"{}", headers=_signed(cloud, "POST", url, b"{}"), timeout=10) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]  # LimitedBurst: 3
    lines = _logged(cloud, [_id(a) for a in answers])
    assert [line["status"] for line in lines] == [200, 200, 200, 429, 429]
    assert [line["error"] for line in lines[3:]] == ["Too Many Requests"] * 2
    assert {line["route"] for line in lines} == {"POST /limited"}
    assert [line["integrationStatus"] for line in lines[3:]] == ["-", "-"]  # the function was not invoked


def test_requests_past_the_stage_default_limit_are_logged_as_429(cloud, api):
    statuses, ids = [], []
    for n in range(DEFAULT_BURST + 3):
        url = f"{api}/files/report-{n}.txt"
        response = requests.get(url, headers=_signed(cloud, "GET", url), timeout=10)
        statuses.append(response.status_code)
        ids.append(_id(response))
    assert statuses == [200] * DEFAULT_BURST + [429] * 3  # DefaultRouteSettings: the stage's burst per route
    lines = _logged(cloud, ids)
    assert [line["status"] for line in lines] == statuses
    assert {line["route"] for line in lines} == {"ANY /files/{proxy+}"}
    assert [line["error"] for line in lines[-3:]] == ["Too Many Requests"] * 3


def test_a_function_error_is_logged_with_the_integration_error(cloud, api):
    response = requests.get(f"{api}/open", params={"action": "raise"}, timeout=10)
    assert response.status_code == 500
    [line] = _logged(cloud, [_id(response)])
    assert (line["status"], line["route"], line["caller"]) == (500, "GET /open", "-")
    assert line["error"] == "Internal Server Error" and line["integrationStatus"] == "200"
    assert line["integrationError"] == (
        "The Lambda function returned the following error: asked to fail. Check your Lambda function code and try "
        "again."
    )


def test_a_function_past_the_integration_timeout_is_logged_as_503(cloud, api):
    response = requests.get(f"{api}/slow", params={"action": "sleep", "seconds": "1"}, timeout=10)
    assert response.status_code == 503
    [line] = _logged(cloud, [_id(response)])
    assert (line["status"], line["error"]) == (503, "Service Unavailable")
    assert 500 <= int(line["integrationLatencyMs"]) < 1000  # TimeoutInMillis: 500


def test_a_path_no_route_matches_is_logged_on_its_stage(cloud, api):
    response = requests.get(f"{api}/nothing/here", params={"q": 'say "hi"'}, timeout=10)
    assert response.status_code == 404
    [line] = _logged(cloud, [_id(response)])
    assert (line["status"], line["route"], line["error"], line["path"]) == (404, "-", "Not Found", "/live/nothing/here")


def test_a_user_agent_with_quotes_keeps_the_line_json(cloud, api):
    agent = 'probe "quoted" \\ backslash'
    response = requests.get(f"{api}/open", params={"action": "plain"}, headers={"User-Agent": agent}, timeout=10)
    [line] = _logged(cloud, [_id(response)])  # _logged parses every line of the group as JSON
    assert line["userAgent"] == agent


def test_other_stages_without_access_log_settings_write_nothing(cloud):
    before = len(_lines(cloud))
    response = requests.get(cloud.stack.outputs["DefaultApiUrl"] + "anything", timeout=10)
    assert response.status_code == 200
    time.sleep(0.5)  # more than the shipping interval
    assert len(_lines(cloud)) == before
