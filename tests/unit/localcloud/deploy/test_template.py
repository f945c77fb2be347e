"""Reading SAM templates and transforming them offline with local code paths kept."""

import textwrap

import pytest

from cd4ml.localcloud.deploy.template import LOCAL_CODE_BUCKET, load_template, transform_template
from cd4ml.localcloud.errors import TemplateError


def _write(tmp_path, text):
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_short_form_tags_load_as_intrinsic_functions(tmp_path):
    path = _write(
        tmp_path,
        """\
        Resources:
          Q:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !Sub "${AWS::StackName}-q"
              Tags: [{Key: arn, Value: !GetAtt Other.Arn}, {Key: r, Value: !Ref Other}]
        """,
    )
    props = load_template(path)["Resources"]["Q"]["Properties"]
    assert props["QueueName"] == {"Fn::Sub": "${AWS::StackName}-q"}
    assert props["Tags"][0]["Value"] == {"Fn::GetAtt": ["Other", "Arn"]}
    assert props["Tags"][1]["Value"] == {"Ref": "Other"}


def test_sam_transform_keeps_local_code_and_inlines_definitions(tmp_path):
    (tmp_path / "fn").mkdir()
    (tmp_path / "sm.asl.json").write_text('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}')
    path = _write(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.11}
          Machine:
            Type: AWS::Serverless::StateMachine
            Properties: {DefinitionUri: sm.asl.json}
        """,
    )
    transformed = transform_template(load_template(path), {}, tmp_path, "us-east-1")
    code = transformed.resources["Fn"]["Properties"]["Code"]
    assert code["S3Bucket"] == LOCAL_CODE_BUCKET
    assert transformed.local_path(code) == (tmp_path / "fn").resolve()
    assert transformed.resources["FnRole"]["Type"] == "AWS::IAM::Role"
    assert (
        "DefinitionString" in transformed.resources["Machine"]["Properties"]
        or "Definition" in transformed.resources["Machine"]["Properties"]
    )


def test_invalid_yaml_and_templates_without_resources_are_rejected(tmp_path):
    with pytest.raises(TemplateError, match="Resources"):
        load_template(_write(tmp_path, "Parameters: {}\n"))
    with pytest.raises(TemplateError, match="not a valid template"):
        load_template(_write(tmp_path, "Resources: [unclosed\n"))


def test_sam_transform_errors_are_reported(tmp_path):
    path = _write(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {InlineCode: "x", Handler: app.handler, Runtime: python3.11, Events: {E: {Type: Nope}}}
        """,
    )
    with pytest.raises(TemplateError, match="SAM transform rejected"):
        transform_template(load_template(path), {}, tmp_path, "us-east-1")
