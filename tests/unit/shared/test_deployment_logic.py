"""The deployment workflow's decisions: names per version, which approved version may deploy, the endpoint config
and the blue/green update SageMaker is asked for, and the verdict on an endpoint after its wait (a silent rollback
is a named failure, never a success)."""

import pytest
from cd4ml_shared.deployment import (
    DeploymentFailed,
    DeploymentRolledBack,
    DeploymentSettings,
    deployment_config,
    deployment_record,
    endpoint_config_request,
    execution_name,
    model_request,
    new_fleet_alarm_names,
    new_fleet_alarms,
    notification,
    record_key,
    refusal,
    verdict,
    version_in_service,
    version_of_package,
    versioned_name,
    wait_timeout,
)
from cd4ml_shared.environment import SettingsError

ENV = {
    "ENDPOINT_NAME": "cd4ml-dev-fraud",
    "STAGE": "dev",
    "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
    "ARTIFACTS_BUCKET": "artifacts",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker",
    "INSTANCE_TYPE": "ml.m5.large",
    "INSTANCE_COUNT": "1",
    "CAPTURE_PERCENT": "20",
    "CAPTURE_KMS_KEY": "",
    "TRAFFIC_ROUTING": "CANARY",
    "TRAFFIC_STEP_PERCENT": "10",
    "BAKING_SECONDS": "300",
    "TERMINATION_WAIT_SECONDS": "120",
    "MAX_EXECUTION_SECONDS": "1800",
    "ROLLBACK_ALARMS": "errors-alarm,latency-alarm",
}
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/cd4ml-dev-fraud/7"


def settings(**changes: str) -> DeploymentSettings:
    return DeploymentSettings.from_environment({**ENV, **changes})


def test_names_derive_from_the_package_version_and_fit_sagemakers_limit():
    assert version_of_package(ARN) == 7
    assert execution_name(7) == "deploy-v7"
    assert versioned_name("cd4ml-dev-fraud", 7) == "cd4ml-dev-fraud-v7"
    long = versioned_name("x" * 70, 123)
    assert len(long) == 63 and long.endswith("-v123")
    with pytest.raises(ValueError, match="not the ARN of a model package version"):
        version_of_package("arn:aws:sagemaker:us-east-1:123456789012:model-package-group/cd4ml-dev-fraud")


def test_the_version_in_service_is_read_from_the_endpoints_config_name():
    assert version_in_service("cd4ml-dev-fraud-v12") == 12
    assert version_in_service(None) is None
    assert version_in_service("made-by-hand") is None


def test_an_approval_older_than_the_version_in_service_is_refused():
    assert refusal(3, None) is None  # no endpoint yet
    assert refusal(5, 4) is None
    assert refusal(3, 4) == "version 3 is older than version 4 in service"


def test_the_endpoint_config_has_one_variant_and_captures_input_and_output():
    request = endpoint_config_request(settings(), "cd4ml-dev-fraud-v7", "cd4ml-dev-fraud-v7")
    (variant,) = request["ProductionVariants"]
    assert variant["InstanceType"] == "ml.m5.large" and variant["InitialInstanceCount"] == 1
    capture = request["DataCaptureConfig"]
    assert capture["DestinationS3Uri"] == "s3://artifacts/capture/" and capture["InitialSamplingPercentage"] == 20
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert "KmsKeyId" not in capture
    keyed = endpoint_config_request(settings(CAPTURE_KMS_KEY="alias/capture"), "c", "m")
    assert keyed["DataCaptureConfig"]["KmsKeyId"] == "alias/capture"


def test_the_model_is_created_from_the_package_version():
    request = model_request(settings(), "cd4ml-dev-fraud-v7", ARN)
    assert request["PrimaryContainer"] == {
        "ModelPackageName": ARN,
        "Environment": {"CD4ML_MODEL_VERSION": ARN.rsplit("/", 1)[-1]},  # its answers say which version gave them
    }


def test_an_update_also_rolls_back_on_alarms_that_watch_the_new_fleet_alone():
    errors, latency = new_fleet_alarms(settings(LATENCY_BUDGET_US="250000"), "cd4ml-dev-fraud-v7")
    assert (errors["AlarmName"], latency["AlarmName"]) == new_fleet_alarm_names("cd4ml-dev-fraud-v7")
    for alarm in (errors, latency):
        assert {"Name": "EndpointConfigName", "Value": "cd4ml-dev-fraud-v7"} in alarm["Dimensions"]
        assert alarm["Namespace"] == "AWS/SageMaker" and alarm["TreatMissingData"] == "notBreaching"
    assert (errors["MetricName"], errors["Statistic"], errors["Threshold"]) == ("Invocation5XXErrors", "Sum", 1.0)
    assert (latency["MetricName"], latency["Statistic"], latency["Threshold"]) == ("ModelLatency", "Average", 250000.0)
    rollback = deployment_config(settings(), "cd4ml-dev-fraud-v7")["AutoRollbackConfiguration"]["Alarms"]
    assert [a["AlarmName"] for a in rollback] == [
        "errors-alarm",
        "latency-alarm",
        *new_fleet_alarm_names("cd4ml-dev-fraud-v7"),
    ]


def test_the_update_is_blue_green_canary_with_alarm_rollback_or_linear_when_asked():
    canary = deployment_config(settings())
    policy = canary["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 300,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
    }
    assert policy["TerminationWaitInSeconds"] == 120 and policy["MaximumExecutionTimeoutInSeconds"] == 1800
    assert canary["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": "errors-alarm"}, {"AlarmName": "latency-alarm"}]
    }
    linear = deployment_config(settings(TRAFFIC_ROUTING="LINEAR", TRAFFIC_STEP_PERCENT="25"))
    routing = linear["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "LINEAR" and routing["LinearStepSize"] == {"Type": "CAPACITY_PERCENT", "Value": 25}


def test_the_wait_outlasts_sagemakers_own_bound_on_the_update():
    assert wait_timeout(settings()) == 1800 + 600
    # 4 linear steps of 600 s baking + 120 s termination wait exceed the execution timeout
    assert wait_timeout(settings(TRAFFIC_ROUTING="LINEAR", TRAFFIC_STEP_PERCENT="25", BAKING_SECONDS="600")) == (
        4 * 600 + 120 + 600
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"STAGE": "prod", "INSTANCE_COUNT": "1"}, "INSTANCE_COUNT must be at least 2 in prod"),
        ({"TRAFFIC_ROUTING": "ALL_AT_ONCE"}, "TRAFFIC_ROUTING must be CANARY or LINEAR"),
        ({"MAX_EXECUTION_SECONDS": "300"}, "at least 600"),
        ({"CAPTURE_PERCENT": "101"}, "CAPTURE_PERCENT must be 0..100"),
    ],
)
def test_settings_sagemaker_or_prod_would_refuse_are_named_at_cold_start(changes, message):
    with pytest.raises(SettingsError, match=message):
        settings(**changes)


def test_prod_with_two_instances_is_accepted():
    assert settings(STAGE="prod", INSTANCE_COUNT="2").instance_count == 2


def endpoint(status: str, config: str, reason: str | None = None) -> dict:
    described = {"EndpointName": "cd4ml-dev-fraud", "EndpointStatus": status, "EndpointConfigName": config}
    if reason is not None:
        described["FailureReason"] = reason
    return described


def test_in_service_on_the_requested_config_is_success():
    assert verdict(endpoint("InService", "cd4ml-dev-fraud-v7"), "cd4ml-dev-fraud-v7")["status"] == "InService"


def test_in_service_on_the_old_config_with_an_empty_reason_is_a_named_rollback():
    with pytest.raises(DeploymentRolledBack, match="SageMaker rolled the update back and gave no reason"):
        verdict(endpoint("InService", "cd4ml-dev-fraud-v6", reason=""), "cd4ml-dev-fraud-v7")
    with pytest.raises(DeploymentRolledBack, match="alarm errors-alarm"):
        verdict(endpoint("InService", "cd4ml-dev-fraud-v6", reason="alarm errors-alarm"), "cd4ml-dev-fraud-v7")


def test_a_failed_endpoint_is_a_named_failure_with_its_reason():
    with pytest.raises(DeploymentFailed, match=r"is Failed on cd4ml-dev-fraud-v7 .*: Could not find model data"):
        verdict(endpoint("Failed", "cd4ml-dev-fraud-v7", reason="Could not find model data"), "cd4ml-dev-fraud-v7")


def test_the_record_and_the_notification_say_what_was_deployed_and_how_it_ended():
    deployment = {
        "endpoint_name": "cd4ml-dev-fraud",
        "model_package_arn": ARN,
        "version": 7,
        "model_name": "cd4ml-dev-fraud-v7",
        "config_name": "cd4ml-dev-fraud-v7",
        "started_at": 1795610000.0,
        "before": {"exists": True, "config_name": "cd4ml-dev-fraud-v6", "deployment_config": {"x": 1}},
    }
    error = {"Error": "DeploymentRolledBack", "Cause": "alarm"}
    record = deployment_record(deployment, result="failed", error=error, finished_at=1795610090.5)
    assert record["previous_config_name"] == "cd4ml-dev-fraud-v6" and record["deployment_config"] == {"x": 1}
    assert record["duration_s"] == 90.5 and record["error"] == error
    assert record_key("cd4ml-dev-fraud", 7, 1795610090.5) == "deployments/cd4ml-dev-fraud/20261125T123450Z-v7.json"
    subject, message = notification(
        record, {"CustomerMetadataProperties": {"cd4ml:run_id": "run-1"}}, record_uri="s3://artifacts/x.json"
    )
    assert subject == "cd4ml: deployment of model version 7 failed: DeploymentRolledBack"
    assert (
        message["run_id"] == "run-1" and message["kind"] == "deployment" and message["error"] == "DeploymentRolledBack"
    )
