"""What an event delivered to request_retraining means (cd4ml_shared.retraining.request_of), on the real shapes in
events/: monitoring's RetrainingRequested, the retraining schedule, the quality alarm going into ALARM (and leaving
it), the training pipeline's end of a retraining run (and of any other run); the retraining's id from the event that
asked; the lineage a retraining dataset gives its model version; and the settings' errors."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cd4ml_shared.environment import SettingsError
from cd4ml_shared.retraining import (
    MAX_METADATA_VALUE,
    GuardPolicy,
    InvalidRequest,
    RetrainingRequest,
    RetrainingSettings,
    RunEnded,
    request_id_of,
    request_of,
    retraining_lineage,
)

GROUP = "cd4ml-dev-fraud"
WALL = datetime(2026, 12, 2, 12, 0, tzinfo=UTC).timestamp()  # the handler's clock: only a fallback for `time`
REQUEST_ID = "20261202T100005Z-7bf73129"  # events/eventbridge_retraining_requested.json's
Event = Callable[[str], dict[str, Any]]


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_monitorings_retraining_requested_is_a_request_with_its_reason_episode_and_windows(sample_event: Event) -> None:
    event = sample_event("eventbridge_retraining_requested.json")

    request = request_of(event, group="another-group", now=WALL)

    assert isinstance(request, RetrainingRequest)
    # the event names its group; the function's own group is for the events that do not
    assert (request.group, request.reason) == (GROUP, "drift")
    assert request.episode == "20261130T100000Z--20261201T100000Z"
    assert request.requested_at == at("2026-12-02T10:00:05+00:00")  # the event's time, not the handler's clock
    assert request.detail["windows"] == ["20261130T100000Z--20261201T100000Z"]
    assert request.detail["why"] == "drift order_amount; drift merchant_category"


def test_the_schedule_asks_for_a_retraining_without_an_episode(sample_event: Event) -> None:
    event = sample_event("scheduled_event.json")

    request = request_of(event, group=GROUP, now=WALL)

    assert request == RetrainingRequest(
        GROUP,
        "schedule",
        at("2026-11-25T12:00:00+00:00"),
        None,
        {"rule": "arn:aws:events:us-east-1:123456789012:rule/cd4ml-dev-MonitoringSchedule"},
    )


def test_the_quality_alarm_going_into_alarm_is_a_request_of_its_own_episode(sample_event: Event) -> None:
    event = sample_event("cloudwatch_alarm_state_change.json")

    request = request_of(event, group=GROUP, now=WALL)

    assert isinstance(request, RetrainingRequest)
    assert (request.group, request.reason, request.requested_at) == (GROUP, "alarm", at("2026-12-02T11:04:40+00:00"))
    name = "cd4ml-dev-QualityAlarm-1TUVWXYZ9ABC"
    assert request.episode == f"alarm:{name}:2026-12-02T11:04:40.989+0000"
    assert request.detail["alarm"] == name
    assert request.detail["why"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [0.1587")


def test_the_alarm_going_into_alarm_again_later_is_another_episode(sample_event: Event) -> None:
    first = sample_event("cloudwatch_alarm_state_change.json")
    again = copy.deepcopy(first)
    again["time"] = "2026-12-02T15:04:40Z"
    again["detail"]["state"]["timestamp"] = "2026-12-02T15:04:40.512+0000"

    one, other = (request_of(e, group=GROUP, now=WALL) for e in (first, again))

    assert isinstance(one, RetrainingRequest) and isinstance(other, RetrainingRequest)
    assert one.episode != other.episode


def test_the_alarm_going_back_to_ok_asks_for_nothing(sample_event: Event) -> None:
    event = sample_event("cloudwatch_alarm_state_change.json")
    detail = event["detail"]
    detail["previousState"], detail["state"] = detail["state"], {**detail["previousState"], "value": "OK"}

    assert request_of(event, group=GROUP, now=WALL) is None


def test_the_end_of_a_retraining_run_names_the_request_whose_lock_it_releases(sample_event: Event) -> None:
    event = sample_event("sfn_execution_status_change_retraining.json")

    ended = request_of(event, group=GROUP, now=WALL)

    assert ended == RunEnded(REQUEST_ID, "SUCCEEDED", event["detail"]["executionArn"])


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_retraining_run_that_did_not_succeed_also_ends(sample_event: Event, status: str) -> None:
    event = sample_event("sfn_execution_status_change_retraining.json")
    event["detail"]["status"] = status

    ended = request_of(event, group=GROUP, now=WALL)

    assert isinstance(ended, RunEnded) and (ended.request_id, ended.status) == (REQUEST_ID, status)


def test_a_run_still_running_ends_nothing(sample_event: Event) -> None:
    event = sample_event("sfn_execution_status_change_retraining.json")
    event["detail"]["status"] = "RUNNING"

    assert request_of(event, group=GROUP, now=WALL) is None


def test_another_datasets_run_is_none_of_the_guards_business(sample_event: Event) -> None:
    uploaded = sample_event("sfn_execution_status_change.json")  # a FAILED run of an uploaded orders.csv
    uploaded["detail"]["input"] = json.dumps(sample_event("training_pipeline_input.json"))
    unreadable = sample_event("sfn_execution_status_change_retraining.json")
    unreadable["detail"]["input"] = "{not json"
    # a file that only starts like one: retrain-<id>.csv is not what request_retraining writes
    csv = sample_event("sfn_execution_status_change_retraining.json")
    run_input = json.loads(csv["detail"]["input"])
    run_input["dataset"]["key"] = run_input["dataset"]["key"].replace(".parquet", ".csv")
    csv["detail"]["input"] = json.dumps(run_input)

    for event in (uploaded, sample_event("sfn_execution_status_change.json"), unreadable, csv):
        assert request_of(event, group=GROUP, now=WALL) is None


def test_an_event_it_does_not_handle_is_invalid(sample_event: Event) -> None:
    event = sample_event("sagemaker_endpoint_in_service.json")

    with pytest.raises(InvalidRequest, match="does not handle 'SageMaker Endpoint State Change' events"):
        request_of(event, group=GROUP, now=WALL)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("reason"), "detail.reason must be one of .* got None"),
        (lambda d: d.update(reason="boredom"), "got 'boredom'"),
        (lambda d: d.pop("model_package_group"), "detail.model_package_group is missing"),
        (lambda d: d.update(episode=""), "detail.episode must be a non-empty string"),
    ],
)
def test_a_retraining_requested_without_what_the_guard_needs_is_invalid(
    sample_event: Event, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    event = sample_event("eventbridge_retraining_requested.json")
    change(event["detail"])

    with pytest.raises(InvalidRequest, match=message):
        request_of(event, group=GROUP, now=WALL)


def test_a_retraining_requested_without_a_detail_is_invalid(sample_event: Event) -> None:
    event = sample_event("eventbridge_retraining_requested.json")
    del event["detail"]

    with pytest.raises(InvalidRequest, match="no detail object"):
        request_of(event, group=GROUP, now=WALL)


def test_an_event_without_a_readable_time_is_requested_at_the_handlers_clock(sample_event: Event) -> None:
    event = sample_event("eventbridge_retraining_requested.json")
    event["time"] = "yesterday"

    request = request_of(event, group=GROUP, now=WALL)

    assert isinstance(request, RetrainingRequest) and request.requested_at == WALL


def test_a_redelivered_event_gets_the_same_request_id_and_another_event_another(sample_event: Event) -> None:
    event = sample_event("eventbridge_retraining_requested.json")
    redelivered = json.loads(json.dumps(event))
    other = {**event, "id": "0d2f4a61-77c3-4b0e-9e1a-3c5d6f7a8b90"}

    first = request_id_of(event, at(event["time"].replace("Z", "+00:00")))
    again = request_id_of(redelivered, at(redelivered["time"].replace("Z", "+00:00")))

    assert first == again == REQUEST_ID
    assert request_id_of(other, at("2026-12-02T10:00:05+00:00")) == "20261202T100005Z-0d2f4a61"
    assert request_id_of({}, at("2026-12-02T10:00:05+00:00")) == "20261202T100005Z-noid"


def test_a_retraining_datasets_metadata_becomes_the_versions_lineage() -> None:
    metadata = {
        "retraining-request-id": REQUEST_ID,
        "retraining-reason": "drift",
        "retraining-episode": "20261130T100000Z--20261201T100000Z",
        "retraining-windows": '["20261130T100000Z--20261201T100000Z"]',
        "source-dataset": "s3://cd4ml-dev-rawdatabucket-example/datasets/orders/2026-11-21/orders.csv?versionId=v1",
        "production-rows": "240",
        "unlabelled-dropped": "60",
    }

    lineage = retraining_lineage(f"datasets/orders/2026-12-02/retrain-{REQUEST_ID}.parquet", metadata)

    assert lineage == {
        "cd4ml:retraining": "true",
        "cd4ml:retraining_request_id": REQUEST_ID,
        "cd4ml:retraining_reason": "drift",
        "cd4ml:retraining_episode": "20261130T100000Z--20261201T100000Z",
        "cd4ml:retraining_windows": '["20261130T100000Z--20261201T100000Z"]',
        "cd4ml:retraining_source_dataset": metadata["source-dataset"],
        "cd4ml:retraining_production_rows": "240",
    }


def test_the_lineage_leaves_out_empty_values_and_cuts_long_ones_to_what_the_registry_takes() -> None:
    metadata = {"retraining-reason": "schedule", "retraining-episode": "", "retraining-windows": "x" * 5000}

    lineage = retraining_lineage(f"datasets/orders/2026-12-02/retrain-{REQUEST_ID}.parquet", metadata)

    assert "cd4ml:retraining_episode" not in lineage  # a schedule has no episode: no empty value on the version
    assert lineage["cd4ml:retraining_windows"] == "x" * MAX_METADATA_VALUE


def test_any_other_dataset_has_no_retraining_lineage() -> None:
    metadata = {"retraining-request-id": REQUEST_ID, "retraining-reason": "drift"}

    assert retraining_lineage("datasets/orders/2026-11-25/orders.csv", metadata) == {}
    # the file's name decides, not a folder that happens to be called so
    assert retraining_lineage("datasets/retrain-orders/2026-11-25/orders.csv", metadata) == {}


SETTINGS = {
    "ARTIFACTS_BUCKET": "cd4ml-dev-artifactsbucket-example",
    "RAW_DATA_BUCKET": "cd4ml-dev-rawdatabucket-example",
    "MODEL_PACKAGE_GROUP": GROUP,
    "GUARD_TABLE": "cd4ml-dev-RetrainingGuardTable-EXAMPLE",
    "RETRAINING_COOLDOWN_S": "86400",
    "RETRAINING_STALE_AFTER_S": "21600",
    "RETRAINING_LOOKBACK_S": "604800",
}


def test_the_settings_read_the_templates_environment() -> None:
    settings = RetrainingSettings.from_environment(SETTINGS)

    assert settings.policy == GuardPolicy(cooldown_s=86400, stale_after_s=21600)
    assert (settings.guard_table, settings.lookback_s) == ("cd4ml-dev-RetrainingGuardTable-EXAMPLE", 604800)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_missing_setting_is_named(name: str) -> None:
    environ = {key: value for key, value in SETTINGS.items() if key != name}

    with pytest.raises(SettingsError, match=f"environment variable {name} is not set"):
        RetrainingSettings.from_environment(environ)


def test_a_cooldown_that_is_no_number_is_named_with_its_value() -> None:
    with pytest.raises(SettingsError, match="RETRAINING_COOLDOWN_S must be a whole number of seconds, got '1d'"):
        RetrainingSettings.from_environment({**SETTINGS, "RETRAINING_COOLDOWN_S": "1d"})


@pytest.mark.parametrize(("name", "value"), [("RETRAINING_COOLDOWN_S", "-1"), ("RETRAINING_STALE_AFTER_S", "0")])
def test_a_policy_that_cannot_guard_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="cooldown_s must be >= 0 and stale_after_s > 0"):
        RetrainingSettings.from_environment({**SETTINGS, name: value})
