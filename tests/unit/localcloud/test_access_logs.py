"""HTTP API access logs: a stage's Format rendered for each request as API Gateway writes it (every variable the
gateway knows, `-` for the rest, JSON-safe inside quotes, CLF request times), its settings checked at deploy, and
the lines written to the stage's log group for every answer the gateway gives, throttled ones included."""

import json
import logging
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from cd4ml.localcloud.apigateway.access_logs import (
    VARIABLES,
    AccessLogSettingsError,
    AccessLogWriter,
    AccessRecord,
    Placeholder,
    compile_format,
    parse_settings,
    render,
    request_time,
)
from cd4ml.localcloud.apigateway.gateway import HttpApiGateway
from cd4ml.localcloud.apigateway.payload import HttpRequest, map_integration_response
from cd4ml.localcloud.deploy.resources import apigateway as apigateway_resources
from cd4ml.localcloud.deploy.template import load_template
from cd4ml.localcloud.errors import UnsupportedResourceError
from cd4ml.localcloud.lambda_.functions import Invocation

REGION = "us-east-1"
ACCOUNT = "123456789012"
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/api/access:*"
EPOCH_MS = 1796306709123  # 2026-12-03T14:05:09.123Z
CALLER_ARN = f"arn:aws:iam::{ACCOUNT}:user/checkout"
PROJECT_TEMPLATE = Path(__file__).parents[3] / "template.yaml"


def _decision_api_format():
    """The project template's format (DecisionApi): it must stay one JSON object per request."""
    decision_api = load_template(PROJECT_TEMPLATE)["Resources"]["DecisionApi"]
    return decision_api["Properties"]["AccessLogSettings"]["Format"]


DECISION_FORMAT = _decision_api_format()


def _record(**fields):
    values = dict(
        request_id="JKJaXmPLvHcESHA=",
        epoch_ms=EPOCH_MS,
        api_id="a1b2c3d4e5",
        account_id=ACCOUNT,
        region=REGION,
        method="POST",
        path="/live/decisions",
        protocol="HTTP/1.1",
        source_ip="203.0.113.7",
    )
    values.update(fields)
    return AccessRecord(**values)


def _answered_record():
    return _record(
        user_agent="python-requests/2.32",
        stage="live",
        route_key="POST /decisions",
        iam={
            "accessKey": "AKIA1",
            "accountId": "210987654321",
            "callerId": "AIDA1",
            "userArn": CALLER_ARN,
            "userId": "AIDA1",
        },
        authorizer_error=None,
        error_message="Internal Server Error",
        integration_status=200,
        function_status=None,
        integration_latency_ms=41,
        integration_error="The Lambda function returned the following error: boom. Check your Lambda function code",
        integration_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        status=500,
        response_length=35,
        response_latency_ms=44,
    )


def _line(text, record):
    return render(compile_format(text), record)


# ---- rendering ---------------------------------------------------------------------------------------------


def test_every_variable_the_gateway_knows_is_filled_from_the_request():
    text = "{" + ",".join(f'"{name}":"$context.{name}"' for name in sorted(VARIABLES)) + "}"
    logged = json.loads(_line(text, _answered_record()))
    assert logged == {
        "accountId": ACCOUNT,
        "apiId": "a1b2c3d4e5",
        "authorizer.error": "-",
        "awsEndpointRequestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "a1b2c3d4e5",
        "error.message": "Internal Server Error",
        "extendedRequestId": "JKJaXmPLvHcESHA=",
        "httpMethod": "POST",
        "identity.accountId": "210987654321",
        "identity.caller": "AIDA1",
        "identity.sourceIp": "203.0.113.7",
        "identity.user": "AIDA1",
        "identity.userAgent": "python-requests/2.32",
        "identity.userArn": CALLER_ARN,
        "integration.error": "The Lambda function returned the following error: boom. Check your Lambda function code",
        "integration.integrationStatus": "200",
        "integration.latency": "41",
        "integration.requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "integration.status": "-",
        "integrationErrorMessage": "The Lambda function returned the following error: boom. Check your Lambda "
        "function code",
        "integrationLatency": "41",
        "integrationStatus": "200",
        "path": "/live/decisions",
        "protocol": "HTTP/1.1",
        "requestId": "JKJaXmPLvHcESHA=",
        "requestTime": "03/Dec/2026:14:05:09 +0000",
        "requestTimeEpoch": str(EPOCH_MS),
        "responseLatency": "44",
        "responseLength": "35",
        "routeKey": "POST /decisions",
        "stage": "live",
        "status": "500",
    }


def test_the_project_format_is_one_json_object_per_request():
    logged = json.loads(_line(DECISION_FORMAT, _answered_record()))
    assert logged["caller"] == CALLER_ARN and logged["status"] == "500" and logged["route"] == "POST /decisions"
    assert logged["integrationError"].startswith("The Lambda function returned the following error: boom")


def test_unknown_variables_and_variables_without_a_value_are_written_as_a_dash():
    record = _record(user_agent="")  # an unsigned request that matched no route: no stage, route, caller
    text = (
        "$context.noSuchThing $context.authorizer.claims.sub $context.identity.userArn $context.routeKey "
        "$context.integrationLatency $context.identity.userAgent $context.customDomain.basePathMatched"
    )
    assert _line(text, record) == "- - - - - - -"


def test_a_placeholder_ends_where_its_name_does():
    assert compile_format("[$context.status].$context.stage.") == (
        "[",
        Placeholder("status", quoted=False),
        "].",
        Placeholder("stage", quoted=False),
        ".",
    )
    assert _line("$context.status-$context.requestId.", _record(status=204)) == "204-JKJaXmPLvHcESHA=."


def test_values_inside_quotes_are_escaped_so_that_a_json_format_stays_json():
    record = _record(path='/live/say/"hi"\\there', user_agent='curl "8"\nsecond line\t\x01', status=200)
    line = _line('{"path":"$context.path","agent":"$context.identity.userAgent","status":$context.status}', record)
    assert "\n" not in line
    assert json.loads(line) == {"path": '/live/say/"hi"\\there', "agent": 'curl "8"\nsecond line\t\x01', "status": 200}


def test_values_outside_quotes_are_inserted_as_they_are():
    # the Common Log Format the API Gateway console offers: the method and route sit inside quotes, the rest not
    clf = (
        '$context.identity.sourceIp - - [$context.requestTime] "$context.httpMethod $context.routeKey '
        '$context.protocol" $context.status $context.responseLength $context.requestId'
    )
    record = _record(route_key="GET /say/{word}", status=404, response_length=23, method="GET", path='/a"b')
    assert _line(clf, record) == (
        '203.0.113.7 - - [03/Dec/2026:14:05:09 +0000] "GET GET /say/{word} HTTP/1.1" 404 23 JKJaXmPLvHcESHA='
    )
    assert _line("path=$context.path", record) == 'path=/a"b'


def test_an_escaped_quote_in_the_format_does_not_open_a_quoted_stretch():
    segments = compile_format('x=\\"$context.path "$context.path" $context.path')
    assert [s.quoted for s in segments if isinstance(s, Placeholder)] == [False, True, False]


def test_error_message_string_is_the_quoted_message():
    text = '{"error":$context.error.messageString}'
    assert json.loads(_line(text, _record(error_message='Credential should be scoped to "execute-api"'))) == {
        "error": 'Credential should be scoped to "execute-api"'
    }
    assert _line(text, _record()) == '{"error":"-"}'


@pytest.mark.parametrize(
    ("epoch_ms", "expected"),
    [
        (0, "01/Jan/1970:00:00:00 +0000"),
        (EPOCH_MS, "03/Dec/2026:14:05:09 +0000"),
        (1772323200999, "01/Mar/2026:00:00:00 +0000"),  # milliseconds are dropped, never rounded up
        (1790812799000, "30/Sep/2026:23:59:59 +0000"),
    ],
)
def test_request_time_is_the_common_log_format_in_utc(epoch_ms, expected):
    assert request_time(epoch_ms) == expected


def test_request_time_has_english_months_whatever_the_locale():
    import calendar
    import locale

    previous = locale.setlocale(locale.LC_TIME)
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"):  # a non-English one where the machine has it
        try:
            locale.setlocale(locale.LC_TIME, name)
            break
        except locale.Error:
            continue
    try:
        months = [request_time(calendar.timegm((2026, m, 15, 12, 0, 0)) * 1000).split("/")[1] for m in range(1, 13)]
    finally:
        locale.setlocale(locale.LC_TIME, previous)
    assert months == ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def test_rendering_a_line_costs_microseconds_not_milliseconds():
    segments, record = compile_format(DECISION_FORMAT), _answered_record()
    render(segments, record)
    lines = 2000
    started = time.perf_counter()
    for _ in range(lines):
        render(segments, record)
    per_line_us = (time.perf_counter() - started) / lines * 1e6
    assert per_line_us < 200, f"{per_line_us:.1f} µs per line"  # measured ~10 µs; a request takes ~2,300 µs


# ---- settings ----------------------------------------------------------------------------------------------


def test_settings_name_a_log_group_in_the_template_or_the_api_spelling():
    from_template = parse_settings({"DestinationArn": GROUP_ARN, "Format": DECISION_FORMAT})
    from_api = parse_settings({"destinationArn": GROUP_ARN.removesuffix(":*"), "format": DECISION_FORMAT})
    for settings in (from_template, from_api):
        assert (settings.log_group, settings.region, settings.account_id) == ("/api/access", REGION, ACCOUNT)
        assert settings.format == DECISION_FORMAT
    assert from_template.destination_arn == GROUP_ARN


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"Format": "$context.requestId"}, "need a DestinationArn"),
        (
            {
                "DestinationArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-x",
                "Format": "$context.requestId",
            },
            "Firehose",
        ),
        ({"DestinationArn": "my-log-group", "Format": "$context.requestId"}, "not a CloudWatch Logs group ARN"),
        ({"DestinationArn": GROUP_ARN, "Format": "$context.status $context.requestIdentity"}, "requestId"),
    ],
)
def test_settings_the_gateway_cannot_write_to_are_refused_with_the_value(settings, reason):
    with pytest.raises(AccessLogSettingsError, match=reason):
        parse_settings(settings)


class StageRecorder:
    region = REGION

    def __init__(self):
        self.stages = []

    def clients(self, service):
        assert service == "apigatewayv2"
        return self

    def create_stage(self, **arguments):
        self.stages.append(arguments)


def test_a_stage_deploys_with_its_access_log_settings():
    context = StageRecorder()
    settings = {"DestinationArn": GROUP_ARN, "Format": DECISION_FORMAT}
    apigateway_resources._stage(
        context, "ApiStage", {"ApiId": "a1", "StageName": "$default", "AccessLogSettings": settings}
    )
    [stage] = context.stages
    assert stage["AccessLogSettings"] == settings


def test_a_stage_whose_access_logs_cannot_be_written_fails_the_deploy():
    context = StageRecorder()
    settings = {"DestinationArn": GROUP_ARN, "Format": '{"status":"$context.status"}'}
    with pytest.raises(UnsupportedResourceError, match=r"ApiStage.*requestId"):
        apigateway_resources._stage(
            context, "ApiStage", {"ApiId": "a1", "StageName": "s", "AccessLogSettings": settings}
        )
    assert context.stages == []


def test_moto_keeps_a_stages_access_log_settings_where_the_gateway_reads_them():
    import inspect

    from moto.apigatewayv2.models import Stage

    assert "self.access_log_settings =" in inspect.getsource(Stage.__init__)


# ---- integration error messages ------------------------------------------------------------------------------


def test_the_integration_error_message_says_why_a_function_answer_became_500():
    raised = json.dumps({"errorMessage": "asked to fail", "errorType": "RuntimeError"}).encode()
    response, error = map_integration_response(raised, "Unhandled")
    assert response.status == 500
    assert (
        error == "The Lambda function returned the following error: asked to fail. Check your Lambda function "
        "code and try again."
    )
    response, error = map_integration_response(json.dumps({"statusCode": "teapot"}).encode(), None)
    assert response.status == 500 and error.startswith("The response from the Lambda function doesn't match the format")
    response, error = map_integration_response(json.dumps({"statusCode": 201, "body": "made"}).encode(), None)
    assert (response.status, error) == (201, None)


# ---- writing ----------------------------------------------------------------------------------------------------


@pytest.fixture
def aws():
    with mock_aws():
        yield


def _now(**fields):
    """A record of a request of now: CloudWatch Logs refuses events more than 2 hours ahead or 14 days old."""
    return _record(epoch_ms=int(time.time() * 1000), **fields)


def _events(group):
    logs = boto3.client("logs", region_name=REGION)
    return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]


def test_lines_reach_the_stage_log_group_one_stream_per_stage(aws):
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/api/access")
    writer = AccessLogWriter(lambda: boto3.client("logs", region_name=REGION))
    try:
        settings = {"destinationArn": GROUP_ARN, "format": '{"id":"$context.requestId","status":$context.status}'}
        for n, stage in enumerate(["live", "live", "beta"]):
            writer.write(_now(request_id=f"r{n}", stage=stage, access_log_settings=settings, status=200 + n))
        writer.write(_now(request_id="no-stage", access_log_settings=settings, status=404))  # no stage: no line
        writer.flush()
        assert sorted(_events("/api/access")) == [
            '{"id":"r0","status":200}',
            '{"id":"r1","status":201}',
            '{"id":"r2","status":202}',
        ]
        streams = boto3.client("logs", region_name=REGION).describe_log_streams(logGroupName="/api/access")
        names = [s["logStreamName"] for s in streams["logStreams"]]
        assert len(names) == 2 and all(len(n) == 32 and int(n, 16) >= 0 for n in names)
    finally:
        writer.close()


def test_a_missing_group_or_bad_settings_never_fail_the_request_and_are_warned_about(aws, caplog):
    logs = boto3.client("logs", region_name=REGION)
    writer = AccessLogWriter(lambda: boto3.client("logs", region_name=REGION))
    try:
        with caplog.at_level(logging.WARNING):
            missing = {"destinationArn": GROUP_ARN, "format": "$context.requestId"}
            writer.write(_now(stage="live", access_log_settings=missing, status=200))
            writer.flush()
            bad = {"destinationArn": "arn:aws:firehose:us-east-1:1:deliverystream/x", "format": "$context.requestId"}
            for _ in range(3):
                writer.write(_now(stage="beta", access_log_settings=bad, status=200))
        assert logs.describe_log_groups()["logGroups"] == []  # API Gateway never makes the group
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("log group /api/access does not exist" in w for w in warnings)
        assert sum("stage beta are not written" in w and "Firehose" in w for w in warnings) == 1
    finally:
        writer.close()


def _gateway_with_api(answer, *, burst):
    """A gateway in front of one moto HTTP API (`GET /things`, no authorisation, a $default stage throttled by its
    DefaultRouteSettings, with access logs), whose function answers `answer`."""
    client = boto3.client("apigatewayv2", region_name=REGION)
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/api/access")
    api_id = client.create_api(Name="things", ProtocolType="HTTP")["ApiId"]
    integration = client.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:things",
        PayloadFormatVersion="2.0",
    )
    client.create_route(ApiId=api_id, RouteKey="GET /things", Target=f"integrations/{integration['IntegrationId']}")
    client.create_stage(
        ApiId=api_id,
        StageName="$default",
        DefaultRouteSettings={"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": 0.001},
        AccessLogSettings={
            "DestinationArn": GROUP_ARN,
            "Format": '{"id":"$context.requestId","route":"$context.routeKey","status":$context.status,'
            '"error":"$context.error.message","integrationStatus":"$context.integrationStatus",'
            '"functionStatus":"$context.integration.status","lambdaRequestId":"$context.awsEndpointRequestId"}',
        },
    )
    gateway = HttpApiGateway(
        lambda arn, event: answer,
        account_id=ACCOUNT,
        region=REGION,
        logs_client=lambda: boto3.client("logs", region_name=REGION),
    )
    gateway.install()
    return gateway, api_id


def _get(gateway, api_id, path):
    request = HttpRequest("GET", path, "", [("User-Agent", "unit")], b"", "198.51.100.1")
    return gateway.handle(api_id, request)


def test_every_answer_of_a_stage_is_logged_throttled_and_not_found_ones_included(aws):
    answer = Invocation(request_id="lambda-1", payload=json.dumps({"statusCode": 202, "body": "ok"}).encode())
    gateway, api_id = _gateway_with_api(answer, burst=1)
    try:
        answered = [_get(gateway, api_id, "/things"), _get(gateway, api_id, "/things"), _get(gateway, api_id, "/x")]
        gateway.access_logs.flush()
        logged = {line["id"]: line for line in map(json.loads, _events("/api/access"))}
    finally:
        gateway.close()
    ids = [dict(r.headers)["apigw-requestid"] for r in answered]
    assert [r.status for r in answered] == [202, 429, 404]
    assert logged[ids[0]] == {
        "id": ids[0],
        "route": "GET /things",
        "status": 202,
        "error": "-",
        "integrationStatus": "200",
        "functionStatus": "202",
        "lambdaRequestId": "lambda-1",
    }
    assert logged[ids[1]] == {
        "id": ids[1],
        "route": "GET /things",
        "status": 429,
        "error": "Too Many Requests",
        "integrationStatus": "-",
        "functionStatus": "-",
        "lambdaRequestId": "-",
    }
    assert logged[ids[2]]["route"] == "-" and logged[ids[2]]["status"] == 404
    assert logged[ids[2]]["error"] == "Not Found"


def test_without_a_logs_client_the_gateway_writes_nothing(aws):
    gateway = HttpApiGateway(lambda arn, event: None, account_id=ACCOUNT, region=REGION)
    gateway.install()
    try:
        assert gateway.access_logs is None
    finally:
        gateway.close()
