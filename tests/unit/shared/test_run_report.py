"""The run report: every outcome renders one self-contained, escaped HTML page with the sections a reader needs."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.data_quality import validate
from cd4ml_shared.run_report import MAX_CURVE_POINTS, render_run_report

from cd4ml.data import Fault, generate_orders

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 14
NOW = START + timedelta(days=DAYS, hours=1)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(32))
HOSTILE = "<script>alert('x')</script>"
VOID = {"meta", "img", "br", "hr", "input", "link", "line", "rect", "polyline", "path"}


def quality_report(*faults: Fault) -> dict[str, Any]:
    """A real QualityReport document, as the validation step writes it."""
    table = generate_orders(4_000, seed=7, start=START, days=DAYS, faults=faults)
    return validate(table, ORDERS, now=NOW).to_dict()


@pytest.fixture(scope="module")
def clean_quality() -> dict[str, Any]:
    return quality_report()


@pytest.fixture(scope="module")
def faulty_quality() -> dict[str, Any]:
    return quality_report(Fault.MISSING_VALUES)


def evaluation(points: int = 5) -> dict[str, Any]:
    fpr = [i / (points - 1) for i in range(points)]
    return {
        "binary_classification_metrics": {
            "confusion_matrix": {"0": {"0": 9_500, "1": 400}, "1": {"0": 30, "1": 70}},
            "recall": {"value": 0.7, "standard_deviation": "NaN"},
            "precision": {"value": 0.149, "standard_deviation": "NaN"},
            "accuracy": {"value": 0.957, "standard_deviation": "NaN"},
            "f1": {"value": 0.2456, "standard_deviation": "NaN"},
            "auc": {"value": 0.9123, "standard_deviation": "NaN"},
            "pr_auc": {"value": 0.4321, "standard_deviation": "NaN"},
            "brier_score": {"value": 0.0123, "standard_deviation": "NaN"},
            "threshold": {"value": 0.5, "standard_deviation": "NaN"},
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": fpr,
                "true_positive_rates": [min(1.0, x**0.3) for x in fpr],
            },
            "precision_recall_curve": {
                "precisions": [1.0 - 0.9 * x for x in fpr],
                "recalls": fpr,
            },
        },
        "dataset": {"rows": 10_000, "positives": 100},
    }


def gate(passed: bool = True, auc: float = 0.91, champion: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "passed": passed,
        "reasons": [] if passed else ["auc 0.61 is below the threshold 0.8"],
        "metrics": {"auc": auc, "pr_auc": 0.43, "brier_score": 0.012},
        "thresholds": {"auc": 0.8, "pr_auc": 0.3, "brier_score": 0.05},
        "champion": champion,
        "tolerance": 0.01,
    }


def run(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": "run-2026-01-15-abc",
        "status": status,
        "execution_arn": "arn:aws:states:eu-west-1:123456789012:execution:training:run-2026-01-15-abc",
        "dataset": {
            "uri": "s3://raw-data/datasets/orders/2026-01-15/orders.parquet",
            "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            "sha256": "9f" * 32,
            "rows": 4_000,
        },
        "started_at": "2026-01-15T01:00:00+00:00",
        "finished_at": "2026-01-15T01:42:05+00:00",
        **extra,
    }


def section(page: str, anchor: str) -> str | None:
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    return None if found is None else found.group(1)


def gate_row(page: str, metric: str) -> str:
    gate_html = section(page, "gate")
    assert gate_html is not None
    rows = [row for row in re.findall(r"<tr[^>]*>.*?</tr>", gate_html, re.S) if f"<td>{metric}</td>" in row]
    assert len(rows) == 1, gate_html
    return rows[0]


class Structure(HTMLParser):
    """Open elements must close in order; records tags and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def structure(page: str) -> Structure:
    parser = Structure()
    parser.feed(page)
    parser.close()
    assert not parser.errors and not parser.stack, (parser.errors, parser.stack)
    return parser


# ---- each outcome -----------------------------------------------------------------------------------------------
def test_succeeded_run_shows_every_section_and_the_registered_model(clean_quality: dict[str, Any]) -> None:
    page = render_run_report(
        run(
            "succeeded",
            gate=gate(champion={"model_package_arn": "arn:aws:sagemaker:pkg/orders/3", "metrics": {"auc": 0.9}}),
            model_package_arn="arn:aws:sagemaker:eu-west-1:123456789012:model-package/orders/4",
            approval_status="PendingManualApproval",
            training_job_arn="arn:aws:sagemaker:eu-west-1:123456789012:training-job/train-abc",
            hyperparameters={"max_depth": 6, "eta": 0.1, "num_round": 300},
        ),
        clean_quality,
        evaluation(),
    )
    assert page.startswith("<!DOCTYPE html>")
    for anchor in ("outcome", "gate", "quality", "evaluation", "lineage"):
        assert section(page, anchor) is not None, anchor
    assert section(page, "error") is None  # nothing failed: no empty error box
    assert "Succeeded" in page and "#1a7f37" in page
    assert "run-2026-01-15-abc" in page and "s3://raw-data/datasets/orders/2026-01-15/orders.parquet" in page
    assert "42 min 5 s" in page  # the duration from started_at and finished_at
    assert "model-package/orders/4" in section(page, "outcome") and "PendingManualApproval" in page  # type: ignore[operator]
    lineage = section(page, "lineage")
    assert lineage is not None
    assert "training-job/train-abc" in lineage and "max_depth" in lineage and "execution:training" in lineage
    assert "not reached" not in page.lower()
    structure(page)


def test_gated_out_run_marks_the_failing_metric_in_the_gate_table() -> None:
    page = render_run_report(
        run("gated_out", gate=gate(passed=False, auc=0.61), reasons=["auc 0.61 is below the threshold 0.8"]),
        None,
        evaluation(),
    )
    assert "Gated out" in page and "#9a6700" in page
    failing = gate_row(page, "auc")
    assert 'class="failing"' in failing and "fail" in failing and "below minimum 0.8" in failing
    passing = gate_row(page, "pr_auc")
    assert 'class="failing"' not in passing and "pass" in passing
    assert "auc 0.61 is below the threshold 0.8" in section(page, "outcome")  # type: ignore[operator]
    structure(page)


def test_gate_compares_a_lower_is_better_metric_downwards() -> None:
    document = gate()
    document["metrics"]["brier_score"] = 0.08  # above its ceiling of 0.05: worse
    page = render_run_report(run("gated_out", gate=document), None, None)
    brier = gate_row(page, "brier_score")
    assert 'class="failing"' in brier and "≤ 0.05" in brier and "above maximum 0.05" in brier
    assert 'class="failing"' not in gate_row(page, "auc")


def test_gate_lets_the_challenger_trail_the_champion_by_the_tolerance_but_no_more() -> None:
    champion = {"model_package_arn": "arn:aws:sagemaker:pkg/orders/3", "metrics": {"auc": 0.915, "pr_auc": 0.5}}
    page = render_run_report(run("gated_out", gate=gate(passed=False, auc=0.91, champion=champion)), None, None)
    within = gate_row(page, "auc")  # 0.91 against 0.915 - 0.01
    assert 'class="failing"' not in within and "needs ≥ 0.905" in within
    beyond = gate_row(page, "pr_auc")  # 0.43 against 0.5 - 0.01
    assert 'class="failing"' in beyond and "worse than the champion" in beyond and "0.5 (needs ≥ 0.49)" in beyond
    assert "arn:aws:sagemaker:pkg/orders/3" in section(page, "gate")  # type: ignore[operator]


def test_gate_without_a_champion_says_so_and_compares_with_thresholds_only() -> None:
    page = render_run_report(run("succeeded", gate=gate()), None, None)
    gate_html = section(page, "gate")
    assert gate_html is not None and "No champion" in gate_html
    assert "pass" in gate_row(page, "auc")


def test_quarantined_run_shows_the_findings_and_no_evaluation(faulty_quality: dict[str, Any]) -> None:
    assert not faulty_quality["passed"] and faulty_quality["failures"]
    page = render_run_report(
        run("quarantined", reasons=[faulty_quality["quarantine_reason"]]), faulty_quality, None, None
    )
    assert "Quarantined" in page and "#bc4c00" in page
    quality = section(page, "quality")
    assert quality is not None
    assert "failed" in quality and "4,000" in quality  # verdict and rows
    for finding in faulty_quality["failures"]:
        assert finding["code"] in quality and finding["column"] in quality
        assert finding["message"].replace("'", "&#x27;") in quality
    assert quality.count('class="failing"') == len(faulty_quality["failures"])
    assert "Profile" in quality and "label rate" in quality.lower()
    evaluation_html = section(page, "evaluation")
    gate_html = section(page, "gate")
    assert evaluation_html is not None and "Not reached" in evaluation_html and "<svg" not in evaluation_html
    assert gate_html is not None and "Not reached" in gate_html
    assert section(page, "error") is None
    structure(page)


def test_passed_quality_report_is_summarised_without_dumping_the_profile(clean_quality: dict[str, Any]) -> None:
    page = render_run_report(run("succeeded"), clean_quality, None)
    quality = section(page, "quality")
    assert quality is not None
    assert "passed" in quality and "No findings." in quality
    for column in ("order_amount", "country", "account_tenure_days"):
        assert f"<td>{column}</td>" in quality
    edges = clean_quality["profile"]["columns"]["order_amount"]["edges"]
    assert repr(edges[3]) not in quality  # the bins stay in the JSON report, not on the page
    assert len(quality) < 20_000


def test_failed_run_shows_the_error_and_escapes_a_hostile_cause() -> None:
    page = render_run_report(
        run("failed", reasons=["training job failed"], error={"Error": "States.TaskFailed", "Cause": HOSTILE}),
        None,
        None,
    )
    assert "Failed" in page and "#cf222e" in page
    error = section(page, "error")
    assert error is not None and "States.TaskFailed" in error
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in error
    assert "<script" not in page
    for anchor in ("gate", "quality", "evaluation"):
        assert "Not reached: the run failed" in section(page, anchor)  # type: ignore[operator]
    assert "script" not in structure(page).tags


def test_a_lambda_cause_in_json_is_shown_with_its_stack_trace_on_lines() -> None:
    cause = json.dumps(
        {
            "errorMessage": "boom",
            "errorType": "KeyError",
            "stackTrace": ['  File "/var/task/app.py", line 3, in handler\n', "    raise KeyError()\n"],
        }
    )
    page = render_run_report(run("failed", error={"Error": "KeyError", "Cause": cause}), None, None)
    error = section(page, "error")
    assert error is not None
    assert "&quot;errorMessage&quot;: &quot;boom&quot;" in error
    assert "line 3, in handler\n    raise KeyError()" in error


def test_a_failed_run_without_error_details_says_so() -> None:
    page = render_run_report({"run_id": "r1", "status": "failed"}, None, None)
    assert "No error details were recorded" in section(page, "error")  # type: ignore[operator]


def test_every_value_from_data_is_escaped(faulty_quality: dict[str, Any]) -> None:
    quality = json.loads(json.dumps(faulty_quality))
    quality["failures"][0]["message"] = HOSTILE
    quality["failures"][0]["column"] = HOSTILE
    quality["profile"]["columns"][HOSTILE] = {"kind": "categorical", "shares": {HOSTILE: 1.0}, "null_share": 0.0,
                                              "dominant": HOSTILE, "dominant_share": 1.0}  # fmt: skip
    hostile_gate = gate(passed=False)
    hostile_gate["metrics"][HOSTILE] = 1.0
    hostile_gate["reasons"] = [HOSTILE]
    metrics = evaluation()
    metrics["binary_classification_metrics"][HOSTILE] = {"value": HOSTILE}
    page = render_run_report(
        {
            "run_id": HOSTILE,
            "status": HOSTILE,
            "execution_arn": HOSTILE,
            "dataset": {"uri": HOSTILE, "version_id": HOSTILE, "sha256": HOSTILE, "rows": HOSTILE},
            "started_at": HOSTILE,
            "reasons": [HOSTILE],
            "gate": hostile_gate,
            "hyperparameters": {HOSTILE: HOSTILE},
            "approval_status": HOSTILE,
            "model_package_arn": HOSTILE,
            "error": {"Error": HOSTILE, "Cause": HOSTILE},
        },
        quality,
        metrics,
        {f"{HOSTILE}.png": PNG},
    )
    assert "<script" not in page and "alert('x')" not in page
    assert page.count("&lt;script&gt;") >= 15
    parsed = structure(page)
    assert "script" not in parsed.tags


def test_the_page_loads_nothing_from_elsewhere(clean_quality: dict[str, Any]) -> None:
    page = render_run_report(run("succeeded", gate=gate()), clean_quality, evaluation(), {"roc.png": PNG})
    parsed = structure(page)
    assert parsed.urls and all(url.startswith("data:image/") for url in parsed.urls)
    assert not {"script", "link", "iframe", "object"} & parsed.tags
    assert "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"" in page
    assert re.search(r"https?://(?!www\.w3\.org/2000/svg)", page) is None  # only the SVG namespace name


# ---- evaluation -------------------------------------------------------------------------------------------------
def test_evaluation_shows_the_metrics_and_the_confusion_matrix() -> None:
    page = render_run_report(run("succeeded"), None, evaluation())
    evaluation_html = section(page, "evaluation")
    assert evaluation_html is not None
    for label, value in (("ROC AUC", "0.9123"), ("PR AUC", "0.4321"), ("Brier score", "0.0123"), ("Recall", "0.7")):
        assert re.search(rf">{label}</td><td class=\"num\">{value}</td>", evaluation_html), label
    assert "Standard deviation" not in evaluation_html  # every one is NaN: no empty column
    for cell in ("TN 9,500", "FP 400", "FN 30", "TP 70"):
        assert cell in evaluation_html
    assert "10,000" in evaluation_html and "1.00%" in evaluation_html  # test rows and positive rate


def test_images_are_embedded_as_data_uris_instead_of_drawn_curves() -> None:
    images = {"roc.png": PNG, "pr.png": PNG + b"pr", "calibration.png": PNG + b"cal"}
    page = render_run_report(run("succeeded"), None, evaluation(), images)
    evaluation_html = section(page, "evaluation")
    assert evaluation_html is not None
    for name, data in images.items():
        assert f'src="data:image/png;base64,{base64.b64encode(data).decode()}"' in evaluation_html, name
    assert "<svg" not in evaluation_html  # both curves came as images
    assert evaluation_html.index("roc.png") < evaluation_html.index("pr.png") < evaluation_html.index("calibration")


def test_without_images_the_curves_are_drawn_as_inline_svg() -> None:
    page = render_run_report(run("succeeded"), None, evaluation())
    evaluation_html = section(page, "evaluation")
    assert evaluation_html is not None
    assert evaluation_html.count("<svg") == 2 and evaluation_html.count("<polyline") == 2
    assert "ROC curve (AUC 0.9123)" in evaluation_html and "Precision-recall curve (AUC 0.4321)" in evaluation_html
    assert "<img" not in evaluation_html
    roc_points = re.findall(r'points="([^"]+)"', evaluation_html)[0].split()
    assert len(roc_points) == 5
    structure(page)


def test_an_image_for_one_curve_leaves_the_other_drawn() -> None:
    page = render_run_report(run("succeeded"), None, evaluation(), {"roc_curve.png": PNG})
    evaluation_html = section(page, "evaluation")
    assert evaluation_html is not None
    assert "data:image/png;base64," in evaluation_html
    assert evaluation_html.count("<svg") == 1 and "Precision-recall curve" in evaluation_html


def test_a_long_curve_is_thinned_and_renders_fast() -> None:
    big = evaluation(points=200_001)
    started = time.perf_counter()
    page = render_run_report(run("succeeded"), None, big)
    elapsed = time.perf_counter() - started
    for points in re.findall(r'points="([^"]+)"', page):
        assert 2 <= len(points.split()) <= MAX_CURVE_POINTS + 1
    assert len(page) < 100_000
    assert elapsed < 2.0


def test_curve_values_that_cannot_be_drawn_are_skipped() -> None:
    metrics = evaluation()
    roc = metrics["binary_classification_metrics"]["receiver_operating_characteristic_curve"]
    roc["true_positive_rates"][2] = "NaN"
    metrics["binary_classification_metrics"]["precision_recall_curve"] = {}
    page = render_run_report(run("succeeded"), None, metrics)
    evaluation_html = section(page, "evaluation")
    assert evaluation_html is not None
    assert len(re.findall(r'points="([^"]+)"', evaluation_html)[0].split()) == 4
    assert "no curve data" in evaluation_html  # the PR chart is still there, saying why it is empty


# ---- the header and the minimum -----------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["succeeded", "gated_out", "quarantined", "failed"])
def test_a_run_with_only_its_id_and_status_renders(status: str) -> None:
    page = render_run_report({"run_id": "r-1", "status": status}, None, None)
    assert "r-1" in page
    assert section(page, "outcome") is not None and section(page, "lineage") is not None
    assert (section(page, "error") is not None) == (status == "failed")
    structure(page)


def test_each_status_has_its_own_colour() -> None:
    colours = {
        re.search(
            r'<body style="--status:(#[0-9a-f]{6})">', render_run_report({"run_id": "r", "status": s}, None, None)
        ).group(1)  # type: ignore[union-attr]
        for s in ("succeeded", "gated_out", "quarantined", "failed", "something_else")
    }
    assert len(colours) == 5


def test_gate_table_follows_the_checks_the_gate_recorded() -> None:
    # The shape of the gate's own decision document: checks with their verdicts, thresholds keyed by kind.
    decision = {
        "passed": False,
        "reasons": ["pr_auc 0.4300 is worse than the champion's 0.5000 beyond the tolerance 0.01"],
        "checks": [
            {"metric": "auc", "value": 0.91, "bound": 0.8, "kind": "minimum", "passed": True},
            {"metric": "brier_score", "value": 0.012, "bound": 0.05, "kind": "maximum", "passed": True},
            {"metric": "pr_auc", "value": 0.43, "bound": 0.49, "kind": "champion", "passed": False},
        ],
        "metrics": {"auc": 0.91, "pr_auc": 0.43, "brier_score": 0.012, "recall": 0.2},
        "thresholds": {"minimum:auc": 0.8, "maximum:brier_score": 0.05},
        "champion": {"model_package_arn": "arn:aws:sagemaker:pkg/orders/3", "metrics": {"pr_auc": 0.5, "recall": 0.9}},
        "tolerance": 0.01,
    }
    page = render_run_report(run("gated_out", gate=decision), None, None)
    assert "pass" in gate_row(page, "auc") and "≥ 0.8" in gate_row(page, "auc")
    assert "≤ 0.05" in gate_row(page, "brier_score") and 'class="failing"' not in gate_row(page, "brier_score")
    pr_auc = gate_row(page, "pr_auc")
    assert 'class="failing"' in pr_auc and "0.5 (needs ≥ 0.49)" in pr_auc
    recall = gate_row(page, "recall")  # the champion is better, but the gate did not compare it: no false alarm
    assert 'class="failing"' not in recall and "not gated" in recall


def test_gate_fails_a_metric_the_evaluation_lacks() -> None:
    document = gate(passed=False)
    del document["metrics"]["pr_auc"]
    page = render_run_report(run("gated_out", gate=document), None, None)
    assert "missing from the evaluation" in gate_row(page, "pr_auc")
