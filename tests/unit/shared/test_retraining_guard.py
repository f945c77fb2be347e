"""The retraining storm guard: one run in flight, a cooldown, one run per drift episode; 100 requests within an
hour start exactly one run and every other is dropped with its reason; concurrent requests that read the same state
cannot both start (the conditional write); a run in flight past its staleness is taken over."""

from __future__ import annotations

import itertools

import boto3
import pytest
from cd4ml_shared.aws.retraining import claim, read_guard, release
from cd4ml_shared.retraining import (
    GuardPolicy,
    GuardState,
    InvalidRequest,
    RetrainingRequest,
    judge,
    started,
)
from moto import mock_aws

TABLE = "cd4ml-dev-RetrainingGuardTable-EXAMPLE"
GROUP = "cd4ml-dev-fraud"
T0 = 1_764_700_000.0
HOUR, DAY = 3_600.0, 86_400.0
POLICY = GuardPolicy(cooldown_s=DAY, stale_after_s=6 * HOUR)


def request(at: float, reason: str = "drift", episode: str | None = "drift-20261202T10") -> RetrainingRequest:
    return RetrainingRequest(GROUP, reason, at, episode)


@pytest.fixture
def dynamodb(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "group", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "group", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def runs():
    counter = itertools.count(1)
    return lambda: f"retrain-{next(counter)}"


def test_a_hundred_requests_within_an_hour_start_one_run_and_say_why_the_others_were_dropped(dynamodb):
    new_run = runs()
    reasons = ["drift", "quality", "schedule", "alarm"]
    outcomes = [
        claim(dynamodb, TABLE, request(T0 + n * 36, reasons[n % 4], f"episode-{n % 3}"), POLICY, new_run)
        for n in range(100)
    ]

    started_runs = [run for verdict, run in outcomes if verdict.start]
    assert started_runs == ["retrain-1"]
    assert {verdict.dropped for verdict, _ in outcomes[1:]} == {"in_flight"}
    assert all("retrain-1 is in flight" in verdict.why for verdict, _ in outcomes[1:])


def test_after_the_run_ends_the_cooldown_then_the_episode_rule_apply(dynamodb):
    new_run = runs()
    first, run = claim(dynamodb, TABLE, request(T0), POLICY, new_run)
    assert first.start and release(dynamodb, TABLE, GROUP, run) and not release(dynamodb, TABLE, GROUP, run)

    soon, _ = claim(dynamodb, TABLE, request(T0 + HOUR, episode="another"), POLICY, new_run)
    assert soon.dropped == "cooldown" and "left" in soon.why
    same_episode, _ = claim(dynamodb, TABLE, request(T0 + 2 * DAY), POLICY, new_run)
    assert same_episode.dropped == "episode_handled"
    new_episode, second = claim(dynamodb, TABLE, request(T0 + 2 * DAY, episode="drift-20261204T08"), POLICY, new_run)
    assert new_episode.start and second == "retrain-2"
    assert read_guard(dynamodb, TABLE, GROUP).episodes == ("drift-20261202T10", "drift-20261204T08")


def test_two_requests_that_read_the_same_state_cannot_both_start(dynamodb, monkeypatch):
    """The second request judged the empty state too, but its write finds the first's: it reads again and drops."""
    import cd4ml_shared.aws.retraining as guard

    empty = read_guard(dynamodb, TABLE, GROUP)
    reads = iter([empty, empty])  # both requests' first reads happen before either writes
    real = guard.read_guard
    monkeypatch.setattr(guard, "read_guard", lambda *a: next(reads, None) or real(*a))

    one, run_one = claim(dynamodb, TABLE, request(T0), POLICY, runs())
    other, run_other = claim(dynamodb, TABLE, request(T0 + 1, "quality", None), POLICY, lambda: "retrain-x")

    assert one.start and run_one == "retrain-1"
    assert (other.start, other.dropped, run_other) == (False, "in_flight", None)
    assert read_guard(dynamodb, TABLE, GROUP).in_flight == "retrain-1"


def test_a_run_in_flight_past_its_staleness_is_taken_over():
    state = started(GuardState(), request(T0), "retrain-lost")
    assert judge(state, request(T0 + HOUR, episode=None), POLICY).dropped == "in_flight"
    late = judge(state, request(T0 + 2 * DAY, episode=None), POLICY)
    assert late.start and "retrain-lost went stale" in late.why


def test_a_request_event_needs_a_known_reason_and_the_group():
    event = {"detail": {"reason": "drift", "model_package_group": GROUP, "episode": "e-1", "features": ["x"]}}
    parsed = RetrainingRequest.from_event(event, T0)
    assert (parsed.reason, parsed.group, parsed.episode, parsed.detail["features"]) == ("drift", GROUP, "e-1", ["x"])
    for detail, match in (
        ({"reason": "boredom", "model_package_group": GROUP}, "reason must be one of"),
        ({"reason": "drift"}, "model_package_group is missing"),
        ({"reason": "drift", "model_package_group": GROUP, "episode": ""}, "episode must be"),
    ):
        with pytest.raises(InvalidRequest, match=match):
            RetrainingRequest.from_event({"detail": detail}, T0)
    with pytest.raises(ValueError, match="cooldown_s"):
        GuardPolicy(cooldown_s=-1, stale_after_s=1)
