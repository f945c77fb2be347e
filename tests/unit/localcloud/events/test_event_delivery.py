"""EventBridge input shaping and S3 bucket-policy conditions, with plain values."""

import json

from cd4ml.localcloud.events.router import iso_time, render_input_template, transform_input
from cd4ml.localcloud.s3 import condition_holds, effective_statements

EVENT = {
    "id": "e-1",
    "source": "aws.s3",
    "detail-type": "Object Created",
    "time": "2026-11-25T12:00:00Z",
    "detail": {"bucket": {"name": "raw"}, "object": {"key": 'datasets/a "quoted".csv', "size": 12}},
}


def test_input_transformer_inserts_strings_inside_quotes_and_json_outside():
    template = '{"key": "<key>", "size": <size>, "object": <object>, "note": "file <key> of <size> bytes"}'
    paths = {"key": "$.detail.object.key", "size": "$.detail.object.size", "object": "$.detail.object"}
    result = json.loads(render_input_template(template, paths, EVENT))
    assert result == {
        "key": 'datasets/a "quoted".csv',
        "size": 12,
        "object": EVENT["detail"]["object"],
        "note": 'file datasets/a "quoted".csv of 12 bytes',
    }


def test_input_transformer_can_produce_a_string_as_aws_documents():
    # AWS's documented form for text output: the template is a quoted JSON string with placeholders inside
    result = render_input_template('"Upload to <bucket>"', {"bucket": "$.detail.bucket.name"}, EVENT)
    assert result == '"Upload to raw"'


def test_input_path_and_constant_input():
    assert json.loads(transform_input({"InputPath": "$.detail.bucket"}, EVENT)) == {"name": "raw"}
    assert transform_input({"Input": '{"fixed": true}'}, EVENT) == '{"fixed": true}'
    assert json.loads(transform_input({}, EVENT)) == EVENT


def test_event_times_are_iso_8601_utc():
    assert iso_time(0) == "1970-01-01T00:00:00Z"
    assert iso_time("2026-11-25T12:00:00Z") == "2026-11-25T12:00:00Z"


def test_tls_only_deny_does_not_apply_to_local_requests_but_unconditional_deny_does():
    tls_only = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    always = {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "*"}
    kept = effective_statements({"Statement": [tls_only, always]})
    assert kept == [always]


def test_condition_operators_follow_iam_semantics_for_missing_keys():
    assert condition_holds({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"})
    assert not condition_holds({"StringEquals": {"aws:SourceAccount": "1"}}, {})
    assert condition_holds({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, {})
    assert condition_holds({"Null": {"aws:SourceArn": "true"}}, {})
