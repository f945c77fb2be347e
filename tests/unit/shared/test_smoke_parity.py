"""The smoke test's decisions with plain values: where the smoke rows live, what a smoke file must hold, how the
endpoint's answers read, and score parity to 1e-6 with the worst row named when it fails."""

import json

import pytest
from cd4ml_shared.errors import SmokeTestFailed, SmokeTestUnavailable
from cd4ml_shared.smoke import (
    SMOKE_FORMAT,
    SmokeRequest,
    compare,
    judge,
    parse_scores,
    smoke_rows_of,
    smoke_uri_of,
)

URI = "s3://cd4ml-dev-artifacts/runs/orders-2026-11-25-3cf9/evaluation/smoke.json"
CSV = SmokeRequest(content_type="text/csv", accept="application/json", body="1.0,2.0\n3.0,\n")
JSON = SmokeRequest(content_type="application/json", accept="application/json", body='{"instances": []}')


def document(scores=(0.125, 0.875), labels=(0, 1)) -> dict:
    rows = zip(scores, labels, strict=True)
    return {
        "format": SMOKE_FORMAT,
        "features": ["order_amount", "num_items"],
        "rows": [{"test_row": 10 * i, "label": label, "score": s} for i, (s, label) in enumerate(rows)],
        "requests": [vars(CSV), vars(JSON)],
    }


def test_the_smoke_rows_sit_beside_the_evaluation_json_the_registry_recorded():
    evaluation = "s3://cd4ml-dev-artifacts/runs/orders-2026-11-25-3cf9/evaluation/evaluation.json"
    assert smoke_uri_of(evaluation) == URI


def test_an_evaluation_uri_that_is_no_s3_object_has_no_smoke_rows():
    with pytest.raises(SmokeTestUnavailable, match=r"'evaluation\.json' is not an S3 object URI"):
        smoke_uri_of("evaluation.json")


def test_a_smoke_file_reads_as_its_rows_and_requests():
    smoke = smoke_rows_of(document(), URI)

    assert [(r.test_row, r.label, r.score) for r in smoke.rows] == [(0, 0, 0.125), (10, 1, 0.875)]
    assert smoke.requests == (CSV, JSON)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"format": "cd4ml.smoke/0"}, "format is not 'cd4ml.smoke/1'"),
        ({"rows": [{"label": 0, "score": 0.1}]}, "KeyError: 'test_row'"),
        ({"rows": [{"test_row": 0, "score": "high"}]}, "could not convert string to float"),
        ({"requests": []}, "has 2 rows and 0 requests: nothing to test"),
        ({"rows": [{"test_row": 0, "score": float("nan")}]}, "a score that is not a finite number"),
    ],
)
def test_a_file_that_is_no_smoke_file_leaves_the_endpoint_untestable(broken, message):
    with pytest.raises(SmokeTestUnavailable, match=message) as raised:
        smoke_rows_of({**document(), **broken}, URI)
    assert URI in str(raised.value)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # this project's inference.py, JSON and CSV
        (b'{"predictions": [{"score": 0.125, "label": 0}, {"score": 0.875, "label": 1}]}', "application/json"),
        (b"0.125,0\n0.875,1\n", "text/csv"),
        # SageMaker's XGBoost container (JSON), a bare list, and CSV without a label
        (b'{"predictions": [{"score": 0.125}, {"score": 0.875}]}', "application/json; charset=utf-8"),
        (b"[0.125, 0.875]", "application/json"),
        (b"0.125\n0.875\n", "text/csv"),
    ],
)
def test_the_endpoints_answer_formats_read_as_scores(body, content_type):
    assert parse_scores(body, content_type) == [0.125, 0.875]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"<html>Service Unavailable</html>", "text/html", "JSONDecodeError"),
        (b'{"scores": [0.1]}', "application/json", 'expected {"predictions": \\[...\\]}'),
        (b'{"predictions": [{"probability": 0.1}]}', "application/json", "KeyError: 'score'"),
        (b'{"predictions": [true]}', "application/json", "True is not a score"),
        (b"high,1\n", "text/csv", "could not convert string to float"),
        (b"\xff\xfe", "text/csv", "UnicodeDecodeError"),
    ],
)
def test_an_answer_that_does_not_read_fails_the_smoke_test(body, content_type, message):
    with pytest.raises(SmokeTestFailed, match=message):
        parse_scores(body, content_type)


def test_scores_within_one_millionth_pass_with_the_largest_difference_reported():
    smoke = smoke_rows_of(document(), URI)
    comparisons = [
        compare(smoke.rows, [0.125, 0.875], CSV, "fraud-dev"),
        compare(smoke.rows, [0.125 + 9e-7, 0.875 - 1e-7], JSON, "fraud-dev"),
    ]

    report = judge(smoke, comparisons, "fraud-dev")

    assert report.to_dict() == {"passed": True, "rows": 2, "max_abs_diff": pytest.approx(9e-7, abs=1e-12)}


def test_a_score_beyond_one_millionth_fails_naming_the_worst_row_expected_and_got():
    smoke = smoke_rows_of(document(), URI)
    comparisons = [
        compare(smoke.rows, [0.125, 0.875], CSV, "fraud-dev"),
        compare(smoke.rows, [0.125 + 2e-6, 0.5], JSON, "fraud-dev"),
    ]

    with pytest.raises(SmokeTestFailed) as raised:
        judge(smoke, comparisons, "fraud-dev")

    assert str(raised.value) == (
        "smoke test of endpoint fraud-dev failed: row 1 (test row 10, label 1) scored 0.5 for the application/json "
        "request, the evaluation 0.875 (|diff| 0.375 > 1e-06); 2 of 2 rows differ; rows from " + URI
    )


def test_a_nan_score_differs_infinitely():
    smoke = smoke_rows_of(document(), URI)
    comparison = compare(smoke.rows, [0.125, float("nan")], CSV, "fraud-dev")
    assert comparison.max_abs_diff == float("inf") and comparison.worst == 1 and not comparison.passed


def test_another_number_of_scores_than_rows_fails():
    smoke = smoke_rows_of(document(), URI)
    with pytest.raises(SmokeTestFailed, match="it answered 1 scores for the 2 rows of the text/csv request"):
        compare(smoke.rows, [0.125], CSV, "fraud-dev")


def test_the_result_is_the_workflows_contract_and_json():
    smoke = smoke_rows_of(document(), URI)
    report = judge(smoke, [compare(smoke.rows, [0.125, 0.875], CSV, "e")], "e")
    assert json.loads(json.dumps(report.to_dict())) == {"passed": True, "rows": 2, "max_abs_diff": 0.0}
