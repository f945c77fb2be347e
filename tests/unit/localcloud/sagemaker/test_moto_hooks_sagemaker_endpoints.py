"""Canaries for the moto internals that local SageMaker endpoints hook into: an upgrade that moves them fails here."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

import boto3


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_moto_is_the_pinned_version() -> None:
    assert version("moto") == "5.2.5", "sagemaker/hooks.py hooks private moto classes; re-check every hook below"


def test_endpoint_lifecycle_hook_points() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    assert _parameters(SageMakerModelBackend.create_endpoint) == [
        "self",
        "endpoint_name",
        "endpoint_config_name",
        "tags",
    ]
    assert _parameters(SageMakerModelBackend.delete_endpoint) == ["self", "endpoint_name"]
    assert _parameters(SageMakerModelBackend.describe_model)[:2] == ["self", "model_name"]


def test_moto_still_has_no_update_endpoint_of_its_own() -> None:
    from moto.core import responses
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    assert not hasattr(SageMakerModelBackend, "update_endpoint"), "moto implements UpdateEndpoint now: compare"
    added = getattr(SageMakerResponse, "update_endpoint", None)
    assert added is None or added.__module__ == "cd4ml.localcloud.sagemaker.hooks"
    # the action is found by name among the response class's functions, so adding one is enough
    assert "method_names_from_class" in inspect.getsource(responses.BaseResponse.call_action)


def test_endpoint_records_the_hooks_read_and_write() -> None:
    from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, Model

    endpoint: Any = FakeEndpoint(  # type: ignore[abstract]  # CloudFormation's is_created is not needed here
        "123456789012", "us-east-1", "ep", "config", [{"VariantName": "AllTraffic", "InitialVariantWeight": 1}], {}, []
    )
    for attribute in ("endpoint_status", "failure_reason", "production_variants", "endpoint_config_name", "tags"):
        assert hasattr(endpoint, attribute)
    assert hasattr(endpoint, "data_capture_config") and hasattr(endpoint, "last_modified_time")
    # DescribeEndpoint is built from the object's attributes: the ones the local cloud adds show up
    endpoint.last_deployment_config = {"AutoRollbackConfiguration": {}}
    endpoint.pending_deployment_summary = None
    assert "LastDeploymentConfig" in endpoint.response_object
    assert "PendingDeploymentSummary" not in endpoint.response_object
    assert endpoint._process_production_variants([{"VariantName": "v", "InitialVariantWeight": 2}]) == [
        {"VariantName": "v", "CurrentWeight": 2, "DesiredWeight": 2}
    ]
    assert FakeEndpoint.arn_formatter("ep", "123456789012", "us-east-1").endswith(":endpoint/ep")
    assert FakeEndpointConfig.arn_formatter("c", "123456789012", "us-east-1").endswith(":endpoint-config/c")
    for attribute in ("production_variants", "data_capture_config"):
        assert attribute in inspect.getsource(FakeEndpointConfig.__init__)
    assert "primary_container" in inspect.getsource(Model.__init__) and "containers" in inspect.getsource(Model)


def test_invoke_endpoint_hook_point() -> None:
    from moto.core import responses
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    assert _parameters(SageMakerRuntimeResponse.invoke_endpoint) == ["self"]
    assert hasattr(responses.BaseResponse, "use_raw_body")
    assert "self.raw_body = self.body" in inspect.getsource(responses.BaseResponse.setup_class)
    # an error status travels in the "status" header of the (status, headers, body) a response method returns
    assert 'new_headers.get("status"' in inspect.getsource(responses.BaseResponse._transform_response)


def test_cloudwatch_points_the_alarm_checks_use() -> None:
    from moto.cloudwatch.models import CloudWatchBackend, cloudwatch_backends

    assert cloudwatch_backends is not None
    assert _parameters(CloudWatchBackend.describe_alarms) == ["self"]
    source = inspect.getsource(CloudWatchBackend.get_metric_statistics)
    assert "start_time <= md.timestamp < end_time" in source  # windows are [start, end), whole seconds
    assert "replace(microsecond=0)" in source


def test_without_a_local_cloud_moto_answers_as_before() -> None:
    from moto import mock_aws

    from cd4ml.localcloud.sagemaker import hooks

    hooks.install_endpoint_hooks()  # what LocalCloud installs: the slot is empty while no local cloud runs
    assert hooks.ACTIVE_ENDPOINTS() is None
    with mock_aws():
        runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
        answer = runtime.invoke_endpoint(EndpointName="anything", Body=b"1,2", ContentType="text/csv")
        assert answer["Body"].read() == b"body"  # moto's canned answer
