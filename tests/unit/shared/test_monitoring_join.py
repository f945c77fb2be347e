"""The closed loop's join: capture records (SageMaker's JSONL, as the local endpoint writes them) with the ground
truth that `record_feedback` stored, for a window that waited for its labels; duplicates of either counted once,
the latest label winning; unreadable capture lines counted by reason."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from cd4ml_shared.feedback import SCHEMA as GROUND_TRUTH_SCHEMA
from cd4ml_shared.monitoring_join import Window, capture_prefixes, join_window, latest_labels, read_captures

from cd4ml.localcloud.sagemaker.endpoints.capture import capture_record

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CONFIG = {
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
}


def capture(inference_id: str | None, at: datetime, score: float, version: int = 2, event: str = "") -> str:
    request = (b"0.5,,3.0\n", "text/csv")
    answer = json.dumps({"predictions": [{"score": score, "label": 0}], "model_version": version}).encode()
    record = capture_record(
        CONFIG, request, (answer, "application/json"), event or f"e-{inference_id}", at, inference_id
    )
    return json.dumps(record)


def labels(*rows: tuple[str, int, datetime, datetime]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "inference_id": inference_id,
                "label": label,
                "labeled_at": labeled_at,
                "source": "chargeback",
                "shard_id": "shardId-000000000000",
                "sequence_number": str(n),
                "approximate_arrival": arrived,
            }
            for n, (inference_id, label, labeled_at, arrived) in enumerate(rows)
        ],
        schema=GROUND_TRUTH_SCHEMA,
    )


def test_the_window_is_model_monitors_offsets_back_from_now():
    window = Window.at(NOW, start_offset=timedelta(days=2), end_offset=timedelta(days=1))
    assert (window.start, window.end) == (NOW - timedelta(days=2), NOW - timedelta(days=1))
    assert window.name() == "20261130T120000Z--20261201T120000Z"
    for start, end in ((timedelta(days=1), timedelta(days=1)), (timedelta(days=1), -timedelta(hours=1))):
        with pytest.raises(ValueError, match="start offset"):
            Window.at(NOW, start, end)


def test_captures_read_as_columns_and_unreadable_lines_are_counted_by_reason():
    at = NOW - timedelta(hours=30)
    good = capture("i-1", at, 0.25)
    base64_input = json.loads(capture("i-2", at, 0.5))
    data = base64_input["captureData"]["endpointInput"]
    data.update(encoding="BASE64", data=base64.b64encode(b"1.0,2.0,3.0\n").decode())
    bad_answer = json.loads(capture("i-3", at, 0.5))
    bad_answer["captureData"]["endpointOutput"]["data"] = '{"predictions": [{"score": 7}]}'

    captured = read_captures(
        [good, json.dumps(base64_input), capture(None, at, 0.1), "{not json", json.dumps(bad_answer), ""]
    )

    rows = captured.table.to_pylist()
    assert [r["inference_id"] for r in rows] == ["i-1", "i-2"]
    assert rows[0]["score"] == 0.25 and rows[0]["model_version"] == 2
    assert (
        rows[0]["features"][0] == 0.5 and math.isnan(rows[0]["features"][1]) and rows[1]["features"] == [1.0, 2.0, 3.0]
    )
    assert rows[0]["inference_time"] == at.replace(microsecond=0)
    assert captured.unreadable == {"no_inference_id": 1, "not_a_capture_record": 1, "output_not_a_score": 1}


def test_the_latest_label_wins_and_every_label_of_an_id_is_counted():
    early, late = NOW - timedelta(hours=20), NOW - timedelta(hours=2)
    table = labels(
        ("i-1", 0, early, early),  # a review said legitimate...
        ("i-1", 1, late, late),  # ...a chargeback later said fraud
        ("i-2", 1, early, early),
        ("i-2", 1, early, late),  # the same label delivered twice
        ("i-3", 0, late, early),  # arrival order does not matter, labeled_at does
        ("i-3", 1, early, late),
    )

    latest = {r["inference_id"]: (r["label"], r["labels"]) for r in latest_labels(table).to_pylist()}

    assert latest == {"i-1": (1, 2), "i-2": (1, 2), "i-3": (0, 2)}
    assert latest_labels(table.slice(0, 0)).num_rows == 0


def test_a_window_joins_its_requests_once_each_with_labels_where_they_arrived():
    window = Window.at(NOW, start_offset=timedelta(days=2), end_offset=timedelta(days=1))
    inside, before, after = NOW - timedelta(hours=36), NOW - timedelta(hours=50), NOW - timedelta(hours=20)
    lines = [
        capture("i-1", inside, 0.9),
        capture("i-1", inside, 0.9),  # the same capture record written twice (same event id)
        capture("i-2", inside, 0.1),
        capture("i-3", inside + timedelta(hours=1), 0.2),  # no label yet
        capture("i-old", before, 0.5),
        capture("i-new", after, 0.5),
    ]
    truth = labels(
        ("i-1", 1, inside + timedelta(hours=5), inside + timedelta(hours=5)),
        ("i-2", 0, inside + timedelta(hours=1), inside + timedelta(hours=1)),
        ("i-old", 1, inside, inside),
    )

    joined = join_window(read_captures(lines).table, truth, window)

    rows = joined.table.to_pylist()
    assert [(r["inference_id"], r["label"]) for r in rows] == [("i-1", 1), ("i-2", 0), ("i-3", None)]
    assert joined.duplicates_dropped == 1
    assert (joined.requests, joined.labelled) == (3, 2) and joined.label_rate == pytest.approx(2 / 3)


def test_the_capture_prefixes_cover_every_hour_a_windows_records_can_be_written_in():
    window = Window(NOW - timedelta(hours=2, minutes=30), NOW - timedelta(hours=1))
    assert capture_prefixes("cd4ml-dev-fraud", window) == [
        "capture/cd4ml-dev-fraud/AllTraffic/2026/12/02/09/",
        "capture/cd4ml-dev-fraud/AllTraffic/2026/12/02/10/",
        "capture/cd4ml-dev-fraud/AllTraffic/2026/12/02/11/",
        "capture/cd4ml-dev-fraud/AllTraffic/2026/12/02/12/",
    ]
