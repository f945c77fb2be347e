"""The decisions behind local SageMaker endpoints, with plain values: traffic split, blue/green steps, data-capture
records and files, GPU environment, and CloudWatch alarm evaluation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cd4ml.localcloud.cloudwatch_alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmEvaluator,
    evaluate_alarm,
    unsupported_reason,
)
from cd4ml.localcloud.sagemaker.endpoints.capture import (
    CaptureBuffer,
    capture_encoding,
    capture_object,
    capture_record,
    capture_summary,
    should_capture,
)
from cd4ml.localcloud.sagemaker.endpoints.config import event_status, pick_by_weight, traffic_steps
from cd4ml.localcloud.sagemaker.endpoints.publishing import MetricBuffer
from cd4ml.localcloud.sagemaker.images import gpu_environment

WHEN = datetime(2026, 11, 25, 13, 4, 5, 678000, tzinfo=UTC)
BOTH = {"CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
TYPES = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}


# ---- traffic ---------------------------------------------------------------------------------------------------
def test_weights_split_the_unit_interval_in_proportion() -> None:
    draws = [i / 1000 for i in range(1000)]
    picks = [pick_by_weight([3.0, 1.0], d) for d in draws]
    assert picks.count(0) == 750 and picks.count(1) == 250


def test_a_zero_weight_variant_gets_no_traffic_and_all_zero_weights_share_equally() -> None:
    assert {pick_by_weight([0.0, 2.0, 0.0], d / 100) for d in range(100)} == {1}
    assert [pick_by_weight([0.0, 0.0], d) for d in (0.1, 0.9)] == [0, 1]


def test_all_at_once_is_the_default_deployment() -> None:
    assert traffic_steps(None, 1) == [1.0]
    assert traffic_steps({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60}, 3) == [1.0]


@pytest.mark.parametrize(
    ("size", "instances", "steps"),
    [
        ({"Type": "CAPACITY_PERCENT", "Value": 25}, 1, [0.25, 1.0]),
        ({"Type": "INSTANCE_COUNT", "Value": 1}, 4, [0.25, 1.0]),
        ({"Type": "INSTANCE_COUNT", "Value": 1}, 1, [1.0]),  # a one-instance canary is the whole fleet
    ],
)
def test_canary_sends_its_capacity_share_first_then_everything(
    size: dict[str, Any], instances: int, steps: list[float]
) -> None:
    assert traffic_steps({"Type": "CANARY", "CanarySize": size}, instances) == steps


def test_linear_shifts_in_equal_steps_up_to_all_traffic() -> None:
    routing = {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 30}}
    assert traffic_steps(routing, 2) == [0.3, 0.6, 0.9, 1.0]
    routing = {"Type": "LINEAR", "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1}}
    assert traffic_steps(routing, 4) == [0.25, 0.5, 0.75, 1.0]


def test_event_statuses_are_spelled_as_sagemakers_events_spell_them() -> None:
    assert [event_status(s) for s in ("Creating", "InService", "Updating", "RollingBack", "Failed")] == [
        "CREATING",
        "IN_SERVICE",
        "UPDATING",
        "ROLLING_BACK",
        "FAILED",
    ]


def test_only_gpu_instance_types_see_this_machines_gpus() -> None:
    assert gpu_environment("ml.g5.xlarge", 2) == {"SM_NUM_GPUS": "2", "CUDA_VISIBLE_DEVICES": "0,1"}
    assert gpu_environment("ml.g5.xlarge", 0) == {"SM_NUM_GPUS": "0", "CUDA_VISIBLE_DEVICES": ""}
    assert gpu_environment("ml.m5.large", 2) == {"SM_NUM_GPUS": "0", "CUDA_VISIBLE_DEVICES": ""}
    assert gpu_environment(None, 2)["SM_NUM_GPUS"] == "0"  # serverless


# ---- data capture ----------------------------------------------------------------------------------------------
def test_capture_encodes_the_content_types_it_is_told_about_as_text() -> None:
    assert capture_encoding("text/csv", TYPES) == "CSV"
    assert capture_encoding("application/json; charset=utf-8", TYPES) == "JSON"
    assert capture_encoding("application/x-npy", TYPES) == "BASE64"
    assert capture_encoding("text/csv", None) == "BASE64"  # without CaptureContentTypeHeader, AWS base64-encodes


def test_capture_record_has_sagemakers_shape() -> None:
    record = capture_record(
        {**BOTH, "CaptureContentTypeHeader": TYPES},
        (b"1,2", "text/csv"),
        (b'{"p": 3}', "application/json"),
        "event-1",
        WHEN,
        "inference-1",
    )
    assert record == {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2", "encoding": "CSV"},
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": '{"p": 3}',
                "encoding": "JSON",
            },
        },
        "eventMetadata": {"eventId": "event-1", "inferenceTime": "2026-11-25T13:04:05Z", "inferenceId": "inference-1"},
        "eventVersion": "0",
    }


def test_capture_record_holds_only_the_modes_asked_and_base64_for_binary() -> None:
    image = bytes(range(256))
    record = capture_record(
        {"CaptureOptions": [{"CaptureMode": "Input"}], "CaptureContentTypeHeader": TYPES},
        (image, "text/csv"),  # declared CSV but not UTF-8: kept intact as base64
        (b"x", "text/plain"),
        "event-2",
        WHEN,
    )
    assert list(record["captureData"]) == ["endpointInput"]
    assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(record["captureData"]["endpointInput"]["data"]) == image
    assert "inferenceId" not in record["eventMetadata"]


def test_capture_files_are_laid_out_by_endpoint_variant_and_hour() -> None:
    assert capture_object("s3://bucket/capture/", "ep", "AllTraffic", WHEN, "u") == (
        "bucket",
        "capture/ep/AllTraffic/2026/11/25/13/04-05-678-u.jsonl",
    )
    assert capture_object("s3://bucket", "ep", "v", WHEN, "u")[1] == "ep/v/2026/11/25/13/04-05-678-u.jsonl"


def test_sampling_follows_the_initial_sampling_percentage() -> None:
    config = {"DestinationS3Uri": "s3://b/p", "InitialSamplingPercentage": 30}
    assert [should_capture(config, d) for d in (0.0, 0.29, 0.3, 0.99)] == [True, True, False, False]
    assert not should_capture({**config, "InitialSamplingPercentage": 0}, 0.0)
    assert not should_capture({**config, "EnableCapture": False}, 0.0)
    assert not should_capture(None, 0.0)


def test_describe_endpoint_shows_a_capture_summary() -> None:
    summary = capture_summary({"DestinationS3Uri": "s3://b/p", "InitialSamplingPercentage": 20, **BOTH})
    assert summary == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 20,
        "DestinationS3Uri": "s3://b/p",
    }
    assert capture_summary({}) is None


def test_buffered_captures_become_one_file_per_variant_and_hour() -> None:
    buffer = CaptureBuffer()
    later = WHEN.replace(hour=14)
    for when in (WHEN, WHEN, later):
        buffer.add("s3://bucket/capture", "ep", "AllTraffic", when, {"eventMetadata": {"at": when.isoformat()}})
    buffer.add("s3://bucket/capture", "ep", "Shadow", WHEN, {"n": 1})

    assert buffer.take(older_than_s=3600, max_records=1000) == []  # neither old nor big enough yet
    files = sorted(buffer.take(older_than_s=None, max_records=1000))
    assert [(bucket, key.split("/")[2], key.split("/")[6]) for bucket, key, _ in files] == [
        ("bucket", "AllTraffic", "13"),
        ("bucket", "AllTraffic", "14"),
        ("bucket", "Shadow", "13"),
    ]
    assert [len(body.decode().splitlines()) for _, _, body in files] == [2, 1, 1]
    assert all(json.loads(line) for _, _, body in files for line in body.decode().splitlines())


def test_invocation_metrics_are_aggregated_per_variant() -> None:
    metrics = MetricBuffer()
    metrics.record("ep", "AllTraffic", 200, 900.0, 100.0)
    metrics.record("ep", "AllTraffic", 500, 1100.0, 300.0)
    metrics.record("ep", "AllTraffic", 400, None, 50.0)

    data = {d["MetricName"]: d for d in metrics.drain()}

    assert data["Invocations"]["StatisticValues"]["Sum"] == 3
    assert data["Invocation5XXErrors"]["StatisticValues"] == {"SampleCount": 3, "Sum": 1, "Minimum": 0, "Maximum": 1}
    assert data["Invocation4XXErrors"]["StatisticValues"]["Sum"] == 1
    assert data["ModelLatency"]["StatisticValues"] == {"SampleCount": 2, "Sum": 2000, "Minimum": 900, "Maximum": 1100}
    assert data["ModelLatency"]["Unit"] == "Microseconds"
    assert data["Invocations"]["Dimensions"] == [
        {"Name": "EndpointName", "Value": "ep"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    assert metrics.drain() == []


def test_each_fleets_invocations_are_also_published_under_its_endpoint_config() -> None:
    """As AWS does for blue/green updates: an alarm on the new fleet (EndpointConfigName) sees only its traffic."""
    metrics = MetricBuffer()
    metrics.record("ep", "AllTraffic", 200, 900.0, 100.0, "ep-v1")
    metrics.record("ep", "AllTraffic", 200, 300_000.0, 100.0, "ep-v2")

    latency = [d for d in metrics.drain() if d["MetricName"] == "ModelLatency"]

    by_config = {
        next((x["Value"] for x in d["Dimensions"] if x["Name"] == "EndpointConfigName"), None): d["StatisticValues"]
        for d in latency
    }
    assert by_config[None]["SampleCount"] == 2  # the variant: both fleets
    assert by_config["ep-v1"] == {"SampleCount": 1, "Sum": 900.0, "Minimum": 900.0, "Maximum": 900.0}
    assert by_config["ep-v2"]["Sum"] == 300_000.0


# ---- alarms ----------------------------------------------------------------------------------------------------
def alarm(**overrides: Any) -> dict[str, Any]:
    return {
        "AlarmName": "errors",
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocation5XXErrors",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        **overrides,
    }


def test_a_breaching_datapoint_puts_the_alarm_in_alarm() -> None:
    outcome = evaluate_alarm(alarm(), [3.0])
    assert outcome.state == ALARM
    assert outcome.reason.startswith(
        "Threshold Crossed: 1 out of the last 1 datapoints [3.0] was greater than or equal"
    )
    assert evaluate_alarm(alarm(), [0.0]).state == OK


def test_m_out_of_n_needs_datapoints_to_alarm_breaching_periods() -> None:
    two_of_three = alarm(EvaluationPeriods=3, DatapointsToAlarm=2)
    assert evaluate_alarm(two_of_three, [5.0, 0.0, 0.0]).state == OK
    assert evaluate_alarm(two_of_three, [5.0, 0.0, 2.0]).state == ALARM


def test_missing_data_is_treated_as_configured() -> None:
    assert evaluate_alarm(alarm(), [None]).state == INSUFFICIENT_DATA  # "missing", the default
    assert evaluate_alarm(alarm(TreatMissingData="notBreaching"), [None]).state == OK
    assert evaluate_alarm(alarm(TreatMissingData="breaching"), [None]).state == ALARM
    assert evaluate_alarm(alarm(TreatMissingData="ignore"), [None], current_state=ALARM).state == ALARM
    assert evaluate_alarm(alarm(EvaluationPeriods=2, TreatMissingData="breaching"), [1.0, None]).state == ALARM


def test_lower_bound_alarms_compare_the_other_way() -> None:
    low_traffic = alarm(MetricName="Invocations", ComparisonOperator="LessThanThreshold", Threshold=10.0)
    assert evaluate_alarm(low_traffic, [3.0]).state == ALARM
    assert evaluate_alarm(low_traffic, [10.0]).state == OK


def test_alarms_the_local_cloud_cannot_evaluate_are_named() -> None:
    assert unsupported_reason(alarm()) is None
    assert "metric-math" in str(unsupported_reason(alarm(Metrics=[{"Id": "m1"}])))
    assert "percentile" in str(unsupported_reason({**alarm(), "Statistic": None, "ExtendedStatistic": "p99"}))
    assert "anomaly" in str(unsupported_reason(alarm(ComparisonOperator="GreaterThanUpperThreshold")))


class FakeCloudWatch:
    """Answers as the local CloudWatch would, recording the windows asked for and the states set."""

    def __init__(self, alarms: list[dict[str, Any]], sums: list[float | None]) -> None:
        self.alarms = alarms
        self.sums = list(sums)
        self.windows: list[tuple[datetime, datetime, int]] = []
        self.states: list[tuple[str, str]] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_alarms"
        fake = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                names = kwargs.get("AlarmNames")
                return [{"MetricAlarms": [a for a in fake.alarms if names is None or a["AlarmName"] in names]}]

        return Paginator()

    def get_metric_statistics(self, **request: Any) -> dict[str, Any]:
        self.windows.append((request["StartTime"], request["EndTime"], request["Period"]))
        value = self.sums.pop(0)
        return {"Datapoints": [] if value is None else [{"Sum": value}]}

    def set_alarm_state(self, **request: Any) -> None:
        self.states.append((request["AlarmName"], request["StateValue"]))
        json.loads(request["StateReasonData"])


def test_the_evaluator_reads_one_window_per_period_and_writes_only_changes() -> None:
    now = datetime(2026, 11, 25, 13, 0, 0, 400000, tzinfo=UTC).timestamp()
    cloudwatch = FakeCloudWatch(
        [alarm(EvaluationPeriods=2, DatapointsToAlarm=1, Period=10, StateValue=OK)], [2.0, None]
    )

    outcomes = AlarmEvaluator(cloudwatch, now=lambda: now).evaluate(["errors"])

    assert outcomes["errors"].state == ALARM
    assert outcomes["errors"].datapoints == (2.0, None)
    newest_end = datetime(2026, 11, 25, 13, 0, 1, tzinfo=UTC)  # the current second counts
    previous_end = datetime(2026, 11, 25, 12, 59, 51, tzinfo=UTC)
    assert cloudwatch.windows == [
        (previous_end, newest_end, 10),
        (datetime(2026, 11, 25, 12, 59, 41, tzinfo=UTC), previous_end, 10),
    ]
    assert cloudwatch.states == [("errors", ALARM)]

    cloudwatch.alarms[0]["StateValue"] = ALARM
    cloudwatch.sums = [1.0, 0.0]
    AlarmEvaluator(cloudwatch, now=lambda: now).evaluate(["errors"])
    assert cloudwatch.states == [("errors", ALARM)]  # unchanged: nothing written


def test_the_evaluator_skips_alarms_of_other_namespaces_and_unsupported_ones() -> None:
    alarms = [
        alarm(AlarmName="lambda", Namespace="AWS/Lambda"),
        alarm(AlarmName="math", Metrics=[{"Id": "m1"}]),
        alarm(AlarmName="errors"),
    ]
    cloudwatch = FakeCloudWatch(alarms, [0.0])

    outcomes = AlarmEvaluator(cloudwatch).evaluate(namespaces=["AWS/SageMaker"])

    assert list(outcomes) == ["errors"]
