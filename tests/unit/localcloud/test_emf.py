"""The embedded metric format as CloudWatch reads it: one datum per metric per dimension set, values from the
document's root, and a document that breaks the specification refused by name."""

from datetime import UTC, datetime

import pytest

from cd4ml.localcloud.emf import EmfError, is_candidate, metric_data

TIMESTAMP_MS = 1_764_633_600_000


def document(**overrides):
    base = {
        "_aws": {
            "Timestamp": TIMESTAMP_MS,
            "CloudWatchMetrics": [
                {
                    "Namespace": "cd4ml",
                    "Dimensions": [["service"], ["service", "outcome"]],
                    "Metrics": [{"Name": "Runs", "Unit": "Count"}, {"Name": "StageSeconds"}],
                }
            ],
        },
        "service": "cd4ml-dev",
        "outcome": "succeeded",
        "Runs": 1,
        "StageSeconds": [3.5, 4],
    }
    return {**base, **overrides}


def test_each_metric_is_a_datum_per_dimension_set_with_the_document_s_time() -> None:
    [(namespace, items)] = metric_data(document()).items()
    assert namespace == "cd4ml"
    when = datetime.fromtimestamp(TIMESTAMP_MS / 1000, UTC)
    assert items == [
        {
            "MetricName": "Runs",
            "Timestamp": when,
            "Values": [1.0],
            "Dimensions": [{"Name": "service", "Value": "cd4ml-dev"}],
            "Unit": "Count",
        },
        {
            "MetricName": "Runs",
            "Timestamp": when,
            "Values": [1.0],
            "Dimensions": [{"Name": "service", "Value": "cd4ml-dev"}, {"Name": "outcome", "Value": "succeeded"}],
            "Unit": "Count",
        },
        {
            "MetricName": "StageSeconds",
            "Timestamp": when,
            "Values": [3.5, 4.0],
            "Dimensions": [{"Name": "service", "Value": "cd4ml-dev"}],
        },
        {
            "MetricName": "StageSeconds",
            "Timestamp": when,
            "Values": [3.5, 4.0],
            "Dimensions": [{"Name": "service", "Value": "cd4ml-dev"}, {"Name": "outcome", "Value": "succeeded"}],
        },
    ]


def test_no_dimension_set_is_a_metric_without_dimensions_and_a_declared_metric_without_value_records_nothing() -> None:
    doc = document()
    doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [[]]
    del doc["StageSeconds"]
    [item] = metric_data(doc)["cd4ml"]
    assert item["MetricName"] == "Runs" and "Dimensions" not in item


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"_aws": {"Timestamp": "now", "CloudWatchMetrics": []}}, "Timestamp is not a number"),
        ({"_aws": {"Timestamp": TIMESTAMP_MS}}, "CloudWatchMetrics is not a list"),
        ({"outcome": 3}, "dimension 'outcome' has no string value"),
        ({"Runs": "one"}, "metric Runs has a value that is not a number"),
        ({"StageSeconds": list(range(101))}, "at most 100"),
        ({"Runs": True}, "metric Runs has a value that is not a number"),
    ],
)
def test_a_document_that_breaks_the_specification_is_refused_by_name(change, message) -> None:
    with pytest.raises(EmfError, match=message):
        metric_data(document(**change))


def test_only_json_objects_that_mention_aws_are_parsed() -> None:
    assert is_candidate('{"_aws": {}}')
    assert not is_candidate("START RequestId: 1 Version: $LATEST")
    assert not is_candidate('{"level": "INFO", "message": "no metrics here"}')
