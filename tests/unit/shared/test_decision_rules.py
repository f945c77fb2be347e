"""The decision API's plain values: the order a request carries (400 naming the field), the model's request and
answer, the thresholds derived from the operating point and the stage's band, and the rules."""

import base64
import json
import math
from pathlib import Path

import pytest
from cd4ml_shared.decisions import (
    DECISIONS_ATTRIBUTE,
    RECENT_DECISIONS,
    DecisionOutcome,
    DecisionRules,
    DecisionSettings,
    InvalidOrder,
    ModelAnswer,
    ModelFailed,
    OrderConflict,
    RecordedDecision,
    Thresholds,
    decide,
    decided_before,
    decisions_attribute,
    model_request_body,
    operating_point_of,
    order_fingerprint,
    parse_model_answer,
    parse_model_score,
    parse_order,
    recorded_decisions,
    request_body,
)
from cd4ml_shared.environment import SettingsError

EVENT = json.loads((Path(__file__).parents[3] / "events" / "http_api_request.json").read_text())


def order(**changes):
    return {**json.loads(EVENT["body"]), **changes}


def test_the_sample_request_carries_one_valid_order():
    parsed = parse_order(request_body(EVENT))
    assert parsed["order_id"] == "o-000123" and parsed["billing_shipping_match"] is True


def test_a_base64_body_is_decoded():
    event = {**EVENT, "body": base64.b64encode(EVENT["body"].encode()).decode(), "isBase64Encoded": True}
    assert parse_order(request_body(event)) == parse_order(EVENT["body"])


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"order_amount": "12"}, "order_amount", "expected a number"),
        ({"order_amount": -1.0}, "order_amount", "below the minimum"),
        ({"order_amount": True}, "order_amount", "expected a number"),
        ({"num_items": 2.5}, "num_items", "whole number"),
        ({"currency": "XYZ"}, "currency", "not one of"),
        ({"order_ts": "yesterday"}, "order_ts", "ISO 8601"),
        ({"billing_shipping_match": 1}, "billing_shipping_match", "true or false"),
        ({"customer_id": ""}, "customer_id", "non-empty text"),
        ({"device_type": None}, "device_type", "null"),
        ({"is_fraud": 0}, "is_fraud", "label"),
    ],
)
def test_a_malformed_order_names_its_field(changes, field, problem):
    with pytest.raises(InvalidOrder) as raised:
        parse_order(json.dumps(order(**changes)))
    assert raised.value.field == field and problem in str(raised.value)


def test_a_missing_field_is_named_and_a_nullable_one_may_be_null():
    body = order(shipping_distance_km=None)
    assert parse_order(json.dumps(body))["shipping_distance_km"] is None
    del body["num_items"]
    with pytest.raises(InvalidOrder, match="missing") as raised:
        parse_order(json.dumps(body))
    assert raised.value.field == "num_items"


@pytest.mark.parametrize("body", [None, "", "not json", "[1, 2]"])
def test_a_body_that_is_not_an_order_has_no_field(body):
    with pytest.raises(InvalidOrder) as raised:
        parse_order(body)
    assert raised.value.field is None


def test_the_model_request_is_one_exact_csv_row_with_empty_cells_for_missing_values():
    assert model_request_body([0.1, math.nan, 3.0, 1e-17]) == "0.1,,3.0,1e-17\n"
    assert [float(c) for c in model_request_body([0.1 + 0.2]).strip().split(",")] == [0.1 + 0.2]


def test_the_model_answer_reads_as_one_finite_probability():
    assert parse_model_score(b'{"predictions": [{"score": 0.25, "label": 0}]}', "application/json") == 0.25
    assert parse_model_score(b"0.75,1\n", "text/csv") == 0.75
    for body in (
        b'{"predictions": []}',
        b'{"predictions": [{"score": 1.5}]}',
        b"<html>",
        b'{"predictions": [0.1, 0.2]}',
    ):
        with pytest.raises(ModelFailed):
            parse_model_score(body, "application/json")


def test_the_model_answer_carries_the_version_that_answered_when_the_container_reports_it():
    assert parse_model_answer(b'{"predictions": [{"score": 0.25}], "model_version": 3}', "application/json") == (
        ModelAnswer(0.25, 3)
    )
    # absent, or not a positive whole number: unknown (the endpoint's config says), never a failure
    for body in (b'{"predictions": [{"score": 0.25}]}', b'{"predictions": [0.25], "model_version": "3"}'):
        assert parse_model_answer(body, "application/json") == ModelAnswer(0.25, None)
    for version in ("0", "true", "2.5", "-1"):
        body = b'{"predictions": [0.25], "model_version": ' + version.encode() + b"}"
        assert parse_model_answer(body, "application/json").model_version is None
    assert parse_model_answer(b"0.75,1\n", "text/csv") == ModelAnswer(0.75, None)


def _outcome(order_id: str, decision: str = "review") -> DecisionOutcome:
    return DecisionOutcome(
        inference_id=f"i-{order_id}",
        order_id=order_id,
        customer_id="c-1",
        decision=decision,  # type: ignore[arg-type]
        score=0.3,
        model_version=2,
        thresholds=Thresholds(0.4, 0.2, 0.7),
    )


def test_recorded_decisions_round_trip_through_the_state_item_and_keep_the_latest():
    kept = [RecordedDecision(f"f{n}", _outcome(f"o-{n}")) for n in range(RECENT_DECISIONS + 5)]
    item = {DECISIONS_ATTRIBUTE: decisions_attribute(kept)}
    assert recorded_decisions(item, "c-1") == tuple(kept[5:])
    assert recorded_decisions(None, "c-1") == () == recorded_decisions({DECISIONS_ATTRIBUTE: {"S": "[{"}}, "c-1")


def test_a_retried_order_is_found_and_an_id_reused_with_other_fields_is_a_conflict():
    order = {"order_id": "o-1", "customer_id": "c-1", "order_amount": 10.0}
    kept = [RecordedDecision(order_fingerprint(order), _outcome("o-1"))]
    assert decided_before(kept, "o-1", order_fingerprint(dict(order))) == _outcome("o-1")
    assert decided_before(kept, "o-2", order_fingerprint({**order, "order_id": "o-2"})) is None
    with pytest.raises(OrderConflict, match="'o-1' was decided already with other field values"):
        decided_before(kept, "o-1", order_fingerprint({**order, "order_amount": 11.0}))
    # the label and fields the contract does not know are not part of the order's identity
    assert order_fingerprint({**order, "client_note": "x"}) == order_fingerprint(order)


def test_thresholds_derive_from_the_operating_point_and_the_band():
    rules = DecisionRules(review_below=0.5, decline_above=0.2)
    assert rules.thresholds(0.4) == Thresholds(operating_point=0.4, review=0.2, decline=pytest.approx(0.52))
    assert DecisionRules(0.0, 0.0).thresholds(0.4) == Thresholds(0.4, 0.4, 0.4)  # the model's own label
    with pytest.raises(ValueError, match="share"):
        DecisionRules(review_below=1.5, decline_above=0.0)
    with pytest.raises(ValueError, match="probability"):
        rules.thresholds(math.nan)


def test_below_review_approves_between_reviews_at_or_above_decline_declines():
    thresholds = Thresholds(operating_point=0.4, review=0.2, decline=0.52)
    assert [decide(s, thresholds) for s in (0.0, 0.199, 0.2, 0.51, 0.52, 1.0)] == [
        "approve",
        "approve",
        "review",
        "review",
        "decline",
        "decline",
    ]
    no_band = Thresholds(0.4, 0.4, 0.4)
    assert [decide(s, no_band) for s in (0.39, 0.4)] == ["approve", "decline"]


def test_the_operating_point_is_the_evaluation_threshold():
    evaluation = {"binary_classification_metrics": {"threshold": {"value": 0.31, "standard_deviation": "NaN"}}}
    assert operating_point_of(evaluation, "s3://a/evaluation.json") == 0.31
    with pytest.raises(ValueError, match=r"s3://a/evaluation\.json"):
        operating_point_of({"binary_classification_metrics": {}}, "s3://a/evaluation.json")


def test_settings_refuse_a_band_outside_zero_and_one():
    env = {
        "ENDPOINT_NAME": "s-fraud",
        "CUSTOMER_FEATURES_TABLE": "t",
        "MODEL_PACKAGE_ARN_PREFIX": "arn:aws:sagemaker:us-east-1:1:model-package/s-fraud/",
        "REVIEW_BELOW": "0.5",
        "DECLINE_ABOVE": "0",
    }
    assert DecisionSettings.from_environment(env).rules == DecisionRules(0.5, 0.0)
    with pytest.raises(SettingsError, match="REVIEW_BELOW"):
        DecisionSettings.from_environment({**env, "REVIEW_BELOW": "half"})
    with pytest.raises(SettingsError, match="decline_above"):
        DecisionSettings.from_environment({**env, "DECLINE_ABOVE": "2"})
