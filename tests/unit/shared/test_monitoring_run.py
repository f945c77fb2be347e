"""One monitoring run's plain decisions: when it evaluates, which windows, which rows are the version's, the score
histogram, the breach and its episode across windows, the history, the metrics and the RetrainingRequested detail."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from cd4ml_shared.environment import SettingsError
from cd4ml_shared.monitoring import (
    HISTORY_KEPT,
    MonitoringInputError,
    MonitoringSettings,
    breach_of,
    evaluation_time,
    ground_truth_prefixes,
    metric_values,
    notification,
    previous_of,
    retraining_detail,
    updated_history,
    windows,
)
from cd4ml_shared.monitoring_drift import score_histogram
from cd4ml_shared.monitoring_join import CAPTURE_SCHEMA, Window, rows_of_version

# the repository root (not `tests.conftest`: a dependency ships a top-level `tests` package)
ROOT = Path(__file__).resolve().parents[3]
SCHEDULED = json.loads((ROOT / "events" / "scheduled_event.json").read_text())
ENV = {
    "ARTIFACTS_BUCKET": "artifacts",
    "ENDPOINT_NAME": "cd4ml-fraud",
    "MODEL_PACKAGE_GROUP": "cd4ml-fraud",
    "MONITOR_START_OFFSET_S": "7200",
    "MONITOR_END_OFFSET_S": "3600",
}
SETTINGS = MonitoringSettings.from_environment(ENV)
WALL = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def test_the_schedule_s_occurrence_is_the_evaluation_time_not_the_delivery_s():
    assert evaluation_time(SCHEDULED, WALL) == datetime.fromisoformat(SCHEDULED["time"].replace("Z", "+00:00"))
    assert evaluation_time({"at": "2026-12-01T05:00:00Z"}, WALL) == datetime(2026, 12, 1, 5, tzinfo=UTC)
    assert evaluation_time({"at": "2026-12-01T05:00:00"}, WALL).tzinfo is not None  # naive is UTC
    assert evaluation_time({}, WALL) == WALL
    with pytest.raises(MonitoringInputError, match="'yesterday' is not an ISO 8601 time"):
        evaluation_time({"at": "yesterday"}, WALL)


def test_offsets_in_the_wrong_order_are_a_settings_error_naming_both():
    with pytest.raises(
        SettingsError, match=r"MONITOR_START_OFFSET_S \(3600\) must be larger than MONITOR_END_OFFSET_S \(3600\)"
    ):
        MonitoringSettings.from_environment({**ENV, "MONITOR_START_OFFSET_S": "3600"})


def test_the_evaluated_window_waits_for_labels_and_the_recent_one_runs_up_to_now():
    evaluated, recent = windows(WALL, SETTINGS)
    assert (evaluated.start, evaluated.end) == (WALL - timedelta(hours=2), WALL - timedelta(hours=1))
    assert (recent.start, recent.end) == (evaluated.end, WALL)
    assert SETTINGS.report_prefix(evaluated) == "monitoring/cd4ml-fraud/20261202T073000Z--20261202T083000Z/"


def test_labels_are_read_from_every_hour_they_can_have_arrived_in():
    prefixes = ground_truth_prefixes(datetime(2026, 12, 1, 23, 10, tzinfo=UTC), datetime(2026, 12, 2, 1, 5, tzinfo=UTC))
    assert prefixes == [
        "ground-truth/dt=2026-12-01/hour=23/",
        "ground-truth/dt=2026-12-02/hour=00/",
        "ground-truth/dt=2026-12-02/hour=01/",
    ]


def _captures(versions, widths):
    rows = len(versions)
    return pa.table(
        {
            "inference_id": [f"i{k}" for k in range(rows)],
            "event_id": [f"e{k}" for k in range(rows)],
            "inference_time": [WALL] * rows,
            "score": [0.1 * (k % 10) for k in range(rows)],
            "model_version": versions,
            "features": [[float(k)] * w for k, w in enumerate(widths)],
        },
        schema=CAPTURE_SCHEMA,
    )


def test_only_the_judged_version_s_rows_of_its_width_are_kept_and_the_others_counted():
    table = _captures([3, 3, 4, None, 3, 4], [2, 2, 2, 2, 5, 2])
    rows = rows_of_version(table, 3, width=2)
    assert rows.table.column("inference_id").to_pylist() == ["i0", "i1", "i3"]  # no version said: the container's
    assert rows.other_versions == {"4": 2} and rows.wrong_width == 1
    assert rows.vectors(2).tolist() == [[0.0, 0.0], [1.0, 1.0], [3.0, 3.0]]
    assert rows_of_version(table.slice(0, 0), 3, 2).vectors(2).shape == (0, 2)


def test_the_score_histogram_uses_the_reference_s_right_closed_bins():
    histogram = score_histogram([0.2, 0.5], [0.3, 0.3, 0.4], [0.1, 0.2, 0.3, 0.9])
    assert histogram["current"] == [0.5, 0.25, 0.25]  # 0.2 falls in (-inf, 0.2]
    assert histogram["reference"] == [0.3, 0.3, 0.4]
    assert score_histogram([0.5], [0.5, 0.5], [])["current"] == [0.0, 0.0]


QUALITY = {"judged": True, "degraded": ["pr_auc"], "metrics": {"pr_auc": {"why": "PR AUC 0.1 is below ..."}}}
DRIFT = {"features": [{"name": "order_amount", "drifted": True, "why": "PSI 0.4"}, {"name": "x", "drifted": False}]}


def _window(hours_before: int) -> Window:
    end = WALL - timedelta(hours=hours_before)
    return Window(end - timedelta(hours=1), end)


def test_a_healthy_window_is_no_breach_and_an_unjudged_quality_raises_nothing():
    unjudged = {**QUALITY, "judged": False}
    breach = breach_of(unjudged, None, {"features": []}, _window(1), None, 3)
    assert (
        not breach.any and breach.episode is None and breach.to_dict() == {"any": False, "episode": None, "reasons": []}
    )


def test_consecutive_breaching_windows_share_the_first_one_s_episode_and_a_healthy_window_ends_it():
    first = breach_of(None, None, DRIFT, _window(3), None, 3)
    assert first.any and first.episode == _window(3).name() and first.retraining_reason == "drift"
    previous = {"model_version": 3, "breach": first.to_dict()}
    second = breach_of(QUALITY, None, DRIFT, _window(2), previous, 3)
    assert second.episode == first.episode and second.retraining_reason == "quality"
    assert [r["kind"] for r in second.reasons] == ["quality", "drift"]
    after_healthy = breach_of(None, None, DRIFT, _window(1), {"model_version": 3, "breach": {"any": False}}, 3)
    assert after_healthy.episode == _window(1).name()
    new_version = breach_of(None, None, DRIFT, _window(1), previous, 4)  # version 4's drift is its own episode
    assert new_version.episode == _window(1).name()


def test_the_history_keeps_the_latest_windows_once_each_in_time_order():
    history: list = []
    for hours in range(HISTORY_KEPT + 5, 0, -1):
        window = _window(hours)
        report = {"window": {"name": window.name(), "end": window.end.isoformat()}, "breach": {"any": False}}
        history = updated_history(history, report)
    assert len(history) == HISTORY_KEPT
    again = updated_history(history, {"window": history[-1]["window"], "breach": {"any": True}})
    assert len(again) == HISTORY_KEPT and again[-1]["breach"] == {"any": True}
    assert previous_of(again, _window(0))["window"] == again[-1]["window"]
    assert previous_of(again, _window(HISTORY_KEPT + 10)) is None


REPORT = {
    "endpoint": "cd4ml-fraud",
    "model_package_group": "cd4ml-fraud",
    "model_version": 3,
    "window": {"name": _window(1).name()},
    "traffic": {"requests": 300, "label_rate": 0.9},
    "quality": {"metrics": {"pr_auc": {"value": 0.1}, "auc": {"value": None}}},
    "estimate": {"metrics": {"recall": {"value": 0.4}}},
    "drift": {
        "features": [
            {"name": "order_amount", "tests": [{"statistic": "psi", "value": 0.4}, {"statistic": "ks", "value": 0.2}]}
        ]
    },
    "breach": {"any": True, "episode": "e1", "reasons": [{"kind": "drift", "name": "order_amount", "why": "PSI 0.4"}]},
}


def test_every_figure_is_a_metric_with_its_dimension_and_unknown_values_are_left_out():
    values = {(name, tuple(sorted(dims.items()))): value for name, value, dims in metric_values(REPORT)}
    assert values[("MonitoredRequests", ())] == 300 and values[("LabelRate", ())] == 0.9
    assert values[("Quality", (("Metric", "pr_auc"),))] == 0.1
    assert ("Quality", (("Metric", "auc"),)) not in values
    assert values[("EstimatedQuality", (("Metric", "recall"),))] == 0.4
    assert values[("DriftPsi", (("Feature", "order_amount"),))] == 0.4
    assert values[("DriftKs", (("Feature", "order_amount"),))] == 0.2
    assert values[("MonitoringBreach", ())] == 1.0


def test_the_notification_and_the_retraining_request_name_the_window_the_episode_and_why():
    subject, body = notification(REPORT, "s3://a/report.html")
    assert len(subject) <= 100 and "drift" in subject and "v3" in subject
    assert "PSI 0.4" in body and "s3://a/report.html" in body and "e1" in body
    breach = breach_of(
        None, None, {"features": [{"name": "order_amount", "drifted": True, "why": "PSI"}]}, _window(1), None, 3
    )
    detail = retraining_detail(REPORT, breach, "s3://a/report.json")
    assert detail["reason"] == "drift" and detail["episode"] == breach.episode
    assert detail["model_package_group"] == "cd4ml-fraud" and detail["windows"] == [_window(1).name()]
    assert np.isfinite(detail["model_version"])
