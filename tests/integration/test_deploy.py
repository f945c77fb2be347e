"""Deploying templates on the local cloud: parameters, conditions and clear failures."""

import json
import textwrap

import pytest

from cd4ml.localcloud import LocalCloud, TemplateError, UnsupportedResourceError


def _deploy_fails(template_text, tmp_path, parameters=None):
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(template_text))
    with LocalCloud() as cloud:
        try:
            cloud.deploy(path, parameters)
        finally:
            created = cloud.client("s3").list_buckets()["Buckets"]
    return created


def test_unsupported_resource_is_an_error_naming_it_and_nothing_is_created(tmp_path):
    template = """\
        Resources:
          Data:
            Type: AWS::S3::Bucket
          Box:
            Type: AWS::EC2::Instance
            Properties: {ImageId: ami-12345678}
        """
    with pytest.raises(UnsupportedResourceError) as error:
        _deploy_fails(template, tmp_path)
    assert "'Box'" in str(error.value) and "AWS::EC2::Instance" in str(error.value)
    assert error.value.logical_id == "Box"


def test_parameter_outside_allowed_values_is_rejected(core_template):
    with pytest.raises(TemplateError, match=r"Stage='qa' is not one of"), LocalCloud() as cloud:
        cloud.deploy(core_template, {"Stage": "qa"})


def test_undeclared_parameter_is_rejected(core_template):
    with pytest.raises(TemplateError, match="not declared by the template: Colour"), LocalCloud() as cloud:
        cloud.deploy(core_template, {"Colour": "blue"})


def test_missing_code_folder_is_reported_with_its_path(tmp_path):
    template = """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: functions/missing/, Handler: app.handler, Runtime: python3.11}
        """
    with pytest.raises(TemplateError, match=r"Fn .*functions/missing/.* does not exist"):
        _deploy_fails(template, tmp_path)


def test_reference_to_a_missing_resource_is_reported(tmp_path):
    template = """\
        Resources:
          Queue:
            Type: AWS::SQS::Queue
            Properties:
              RedrivePolicy: {deadLetterTargetArn: !GetAtt Nowhere.Arn, maxReceiveCount: 3}
        """
    with pytest.raises(TemplateError, match="Nowhere"):
        _deploy_fails(template, tmp_path)


def test_overridden_parameters_flow_into_conditions_and_functions(core_template):
    with LocalCloud.deployed(core_template, {"Stage": "prod", "Greeting": "bonjour"}) as cloud:
        body = json.loads(cloud.invoke("EchoFunction", {}).payload)
    assert body["stage"] == "prod"
    assert body["prod"] == "yes"
    assert body["shout"] == "BONJOUR!"


def test_a_port_already_in_use_is_a_clear_error():
    import socket

    from cd4ml.localcloud import LocalCloudError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalCloudError, match=f"cannot serve on 127.0.0.1:{port}"):
            LocalCloud(port=port).start()
