"""The monitoring report: one self-contained, escaped page per window with its verdict, numbers and charts."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from cd4ml_shared.monitoring_report import render_monitoring_report

EVALUATED_AT = datetime(2026, 12, 2, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)
HOSTILE = "<script>alert('x')</script>"
VOID = {"meta", "br", "hr", "img", "input", "link"}  # HTML void elements; SVG elements must all be closed
BASELINES = {"pr_auc": 0.82, "auc": 0.95, "precision": 0.78, "recall": 0.71, "brier_score": 0.03}
LOWER_IS_BETTER = {"brier_score", "calibration_error"}


def _name(start: datetime, end: datetime) -> str:
    return f"{start:%Y%m%dT%H%M%SZ}--{end:%Y%m%dT%H%M%SZ}"


def _window(end: datetime) -> dict[str, Any]:
    start = end - HOUR
    return {"name": _name(start, end), "start": start.isoformat(), "end": end.isoformat()}


def _metric(name: str, value: float, degraded: bool = False) -> dict[str, Any]:
    baseline = BASELINES.get(name, 0.05)
    return {
        "value": value,
        "lower": value - 0.04,
        "upper": value + 0.03,
        "baseline": baseline,
        "baseline_lower": baseline - 0.02,
        "baseline_upper": baseline + 0.02,
        "margin": 0.05,
        "direction": "lower" if name in LOWER_IS_BETTER else "higher",
        "degraded": degraded,
        "why": f"{name} {value:.3f} {'below' if degraded else 'within'} baseline {baseline:.3f} - margin 0.05",
    }


def quality(values: Mapping[str, float], degraded: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "labels": 4980,
        "positives": 61,
        "threshold": 0.42,
        "confidence": 0.95,
        "resamples": 1000,
        "judged": True,
        "why_not_judged": None,
        "metrics": {name: _metric(name, value, name in degraded) for name, value in values.items()},
        "calibration": {
            "bins": [
                {"mean_score": m, "observed_rate": min(1.0, m * 1.1), "rows": 4000 // (i + 1)}
                for i, m in enumerate((0.01, 0.05, 0.15, 0.3, 0.5, 0.7, 0.9))
            ],
            "expected_calibration_error": 0.0123,
        },
        "degraded": list(degraded),
    }


def estimate(end: datetime, precision: float, recall: float, degraded: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "window": _window(end),
        "rows": 5100,
        "threshold": 0.42,
        "estimated": True,
        "method": "CBPE: expected confusion matrix from the calibrated scores",
        "confidence": 0.95,
        "resamples": 1000,
        "judged": True,
        "why_not_judged": None,
        "metrics": {
            "precision": _metric("precision", precision, "precision" in degraded),
            "recall": _metric("recall", recall, "recall" in degraded),
            "positive_rate": _metric("positive_rate", 0.012),
        },
        "degraded": list(degraded),
    }


def _test(statistic: str, value: float, threshold: float) -> dict[str, Any]:
    return {
        "statistic": statistic,
        "value": value,
        "tail_probability": 1e-9 if value >= threshold else 0.4,
        "adjusted_probability": 1e-7 if value >= threshold else 1.0,
        "threshold": threshold,
        "critical": threshold * 0.8,
        "floor": 0.01,
        "null": "chi2(df=10)" if statistic == "psi" else "kolmogorov",
        "significant": value >= threshold,
        "drifted": value >= threshold,
    }


def drift(features: int = 20, drifted: Mapping[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """A DriftReport.to_dict() document: numeric features with PSI and KS, every fifth categorical (PSI only)."""
    rng = random.Random(11)
    drifted = drifted or {}
    rows: list[dict[str, Any]] = []
    for i in range(features):
        name = f"feature_{i:02d}"
        kind = "categorical" if i % 5 == 4 else "numeric"
        psi, ks = drifted.get(name, (rng.uniform(0.0005, 0.009), rng.uniform(0.002, 0.02)))
        tests = [_test("psi", psi, 0.0135)] + ([_test("ks", ks, 0.031)] if kind == "numeric" else [])
        is_drifted = any(t["drifted"] for t in tests)
        rows.append(
            {
                "name": name,
                "kind": kind,
                "rows": 5210,
                "missing_share": 0.01,
                "reference_missing_share": 0.01,
                "drifted": is_drifted,
                "why": f"PSI {psi:.4g} >= threshold 0.0135" if is_drifted else f"within noise: PSI {psi:.4g}",
                "worst_bin": "(120, 250]",
                "reference_share": 0.1,
                "share": 0.31 if is_drifted else 0.104,
                "tests": tests,
            }
        )
    names = [r["name"] for r in rows if r["drifted"]]
    return {
        "rows": 5210,
        "drifted": names,
        "any_drift": bool(names),
        "tests": sum(len(r["tests"]) for r in rows),
        "policy": {"alpha": 0.01, "correction": "holm", "psi_floor": 0.01, "ks_floor": 0.01},
        "features": rows,
        "skipped": [],
    }


def report_at(
    end: datetime,
    quality_section: dict[str, Any] | None,
    estimate_section: dict[str, Any] | None,
    drift_section: dict[str, Any] | None,
    reasons: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    window = _window(end)
    edges = [round(i / 10, 1) for i in range(11)]
    reference = [0.0, 0.62, 0.14, 0.08, 0.05, 0.04, 0.03, 0.02, 0.01, 0.005, 0.005, 0.0]
    current = [0.0, 0.48, 0.16, 0.1, 0.07, 0.06, 0.05, 0.04, 0.02, 0.01, 0.01, 0.0]
    return {
        "report_version": 1,
        "endpoint": "stack-fraud",
        "model_package_group": "stack-fraud",
        "model_version": 3,
        "model_package_arn": "arn:aws:sagemaker:eu-west-1:000000000000:model-package/stack-fraud/3",
        "evaluated_at": (end + HOUR).isoformat(),  # the window ends end_offset before
        "window": {**window, "start_offset_s": 7200, "end_offset_s": 3600},
        "traffic": {
            "requests": 5210,
            "labelled": 4980,
            "label_rate": 0.956,
            "unreadable": {"no_inference_id": 3},
            "duplicates_dropped": 0,
            "versions": {"3": 5210},
        },
        "quality": quality_section,
        "estimate": estimate_section,
        "drift": drift_section,
        "histograms": {"score": {"edges": edges, "reference": reference, "current": current}},
        "breach": {"any": bool(reasons), "episode": window["name"] if reasons else None, "reasons": reasons or []},
        "links": {
            "report_json": f"s3://artifacts/monitoring/stack-fraud/{window['name']}/report.json",
            "training_report": "s3://artifacts/runs/run-0042/report.html",
            "deployment": None,
        },
    }


HEALTHY_VALUES = {"pr_auc": 0.83, "auc": 0.951, "precision": 0.79, "recall": 0.72, "brier_score": 0.029}


def healthy() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    end = EVALUATED_AT - HOUR
    history = [
        report_at(end - k * HOUR, quality(HEALTHY_VALUES), estimate(end - (k - 1) * HOUR, 0.8, 0.7), drift())
        for k in (2, 1, 0)
    ]
    return history[-1], history


def breaching() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Twelve windows, quality sliding from the fifth on; each with the estimate of the hour after it, and one
    (the seventh) whose labels never arrived. The current window is degraded and two features drifted."""
    end = EVALUATED_AT - HOUR
    rng = random.Random(3)
    history = []
    for k in range(11, -1, -1):
        at = end - k * HOUR
        slide = max(0, 7 - k) * 0.02
        values = {
            "pr_auc": 0.83 - slide + rng.uniform(-0.01, 0.01),
            "auc": 0.95 - slide / 2,
            "precision": 0.79 - slide + rng.uniform(-0.01, 0.01),
            "recall": 0.72 - 1.4 * slide + rng.uniform(-0.01, 0.01),
            "brier_score": 0.03 + slide / 5,
        }
        degraded = tuple(n for n in ("pr_auc", "recall") if slide > 0.08)
        later = 0.02 * max(0, 8 - k)  # the recent window is an hour further down the slide
        est_degraded = ("recall",) if 1.4 * later > 0.12 else ()
        q = None if k == 5 else quality(values, degraded)
        e = estimate(at + HOUR, 0.79 - later, 0.72 - 1.4 * later, est_degraded)
        history.append(report_at(at, q, e, drift()))
    current = history[-1]
    current["drift"] = drift(20, {"feature_03": (0.21, 0.16), "feature_09": (0.034, 0.012)})
    current["breach"] = {
        "any": True,
        "episode": history[-4]["window"]["name"],
        "reasons": [
            {"kind": "quality", "name": "pr_auc", "why": "pr_auc 0.696 below baseline 0.82 - margin 0.05"},
            {"kind": "quality", "name": "recall", "why": "recall 0.565 below baseline 0.71 - margin 0.05"},
            {"kind": "drift", "name": "feature_03", "why": "PSI 0.21 >= threshold 0.0135"},
            {"kind": "drift", "name": "feature_09", "why": "PSI 0.034 >= threshold 0.0135"},
        ],
    }
    return current, history


# ---- helpers ----------------------------------------------------------------------------------------------------
class _TagBalance(HTMLParser):
    """Every opened element closed in order (void HTML elements excepted); self-closed SVG elements count closed."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svgs += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svgs += 1

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def _balance(page: str) -> _TagBalance:
    parser = _TagBalance()
    parser.feed(page)
    parser.close()
    return parser


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


# ---- tests ------------------------------------------------------------------------------------------------------
def test_healthy_window_has_every_section_and_a_healthy_verdict() -> None:
    page = render_monitoring_report(*healthy())
    for anchor in ("traffic", "quality-over-windows", "quality", "estimate", "drift", "scores", "links"):
        assert f'<section id="{anchor}">' in page
    assert 'id="verdict">healthy' in page
    assert "breach" not in page.split('id="verdict">')[1].split("</div>")[0]
    assert "5,210" in _section(page, "traffic")
    assert "95.6%" in _section(page, "traffic")
    assert "no_inference_id: 3" in _section(page, "traffic")


def test_breaching_window_names_its_reasons_in_the_banner() -> None:
    page = render_monitoring_report(*breaching())
    banner = page.split('id="verdict">')[1].split("</div>")[0]
    assert banner.startswith("breach: quality, drift")
    assert "feature_03" in banner and "feature_09" in banner and "recall 0.565 below" in banner
    assert "#cf222e" in page.split("<body")[1][:40]  # the header's colour is the breach's


def test_current_quality_table_shows_value_interval_baseline_and_verdict() -> None:
    report, history = breaching()
    page = render_monitoring_report(report, history)
    recall = report["quality"]["metrics"]["recall"]
    table = _section(page, "quality")
    row = re.search(r"<tr class=\"failing\"><td title=\"recall\">Recall</td>(.*?)</tr>", table, re.S)
    assert row, "the degraded recall row is highlighted"
    assert f"{recall['value']:.4g} [{recall['lower']:.4g}, {recall['upper']:.4g}]" in row.group(1)
    assert "0.71 [0.69, 0.73]" in row.group(1)
    assert ">degraded<" in row.group(1)
    assert "Calibration (reliability): expected calibration error 0.0123" in table
    assert table.count("<circle") == 7 + 1  # one per calibration bin, plus the legend's swatch


def test_estimate_is_marked_estimated_with_its_method() -> None:
    page = render_monitoring_report(*healthy())
    section = _section(page, "estimate")
    assert "ESTIMATED" in section and "CBPE: expected confusion matrix" in section
    assert "Positive rate" in section


def test_quality_over_windows_draws_every_window_measured_and_estimated() -> None:
    report, history = breaching()
    section = _section(render_monitoring_report(report, history), "quality-over-windows")
    charts = section.split("<h3>")[1:]
    assert [c.split("</h3>")[0] for c in charts] == ["PR AUC", "Recall", "Precision"]
    measured = sum(1 for h in history if h["quality"])
    estimated = sum(1 for h in history if h["estimate"])
    assert (measured, estimated) == (11, 12)
    pr_auc, recall = charts[0], charts[1]
    # points carry a tooltip each; PR AUC has no estimate, recall has both kinds
    assert len(re.findall(r"PR AUC measured", pr_auc)) == measured and "PR AUC estimated" not in pr_auc
    assert "no estimate: CBPE" in pr_auc and "estimated (no labels)" not in pr_auc
    assert len(re.findall(r"Recall measured", recall)) == measured
    assert len(re.findall(r"Recall estimated", recall)) == estimated
    assert len(re.findall(r'<circle[^>]*fill="none"', recall)) == estimated + 1  # hollow, plus the legend swatch
    assert ">estimated</text>" in recall and "stroke-dasharray" in recall and "<polygon" in recall
    assert "12-02 04:00" in recall  # time ticks in UTC, with the day: the windows span midnight


def test_drift_chart_sorts_drifted_features_first_and_highlights_them() -> None:
    section = _section(render_monitoring_report(*breaching()), "drift")
    names = re.findall(r'<td class="mono">(feature_\d\d)</td>', section)
    assert names[:2] == ["feature_03", "feature_09"] and len(names) == 20
    assert section.count('<tr class="drifted">') == 2
    assert "Drifted: feature_03, feature_09" in section
    labels = re.findall(r"<title>(feature_\d\d)</title>", section)
    assert labels[:2] == ["feature_03", "feature_09"]
    assert section.count('fill="#ffebe9"') == 2  # the chart's highlighted rows
    # categorical features have no KS: said so, not drawn as zero
    assert section.count("no KS (categorical)") == 4
    assert "PSI 0.21 &gt;= threshold 0.0135" in section


def test_drift_order_follows_how_far_over_the_threshold() -> None:
    planted = drift(6, {"feature_01": (0.02, 0.0), "feature_04": (0.5, 0.0)})
    report, history = healthy()
    report["drift"] = planted
    section = _section(render_monitoring_report(report, history), "drift")
    names = re.findall(r'<td class="mono">(feature_\d\d)</td>', section)
    assert names[:2] == ["feature_04", "feature_01"]


def test_score_histogram_has_a_pair_of_bars_per_bin_with_open_ended_labels() -> None:
    report, history = healthy()
    section = _section(render_monitoring_report(report, history), "scores")
    bins = len(report["histograms"]["score"]["reference"])
    assert bins == len(report["histograms"]["score"]["edges"]) + 1
    assert len(re.findall(r"<title>[^<]*: reference ", section)) == bins
    assert len(re.findall(r"<title>[^<]*: this window ", section)) == bins
    assert "≤ 0" in section and "&gt; 1" in section and "(0.1, 0.2]" in section
    assert "(0.1, 0.2]: this window 16.0%" in section


def test_hostile_strings_are_escaped_everywhere() -> None:
    report, history = breaching()
    report["endpoint"] = HOSTILE
    report["drift"]["features"][0]["name"] = HOSTILE
    report["drift"]["features"][0]["why"] = HOSTILE
    report["breach"]["reasons"].append({"kind": HOSTILE, "name": HOSTILE, "why": HOSTILE})
    report["quality"]["metrics"][HOSTILE] = _metric("auc", 0.9)
    report["links"]["deployment"] = 'javascript:alert("x")'
    report["traffic"]["unreadable"] = {HOSTILE: 1}
    page = render_monitoring_report(report, history)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "href=" not in page  # links are text, never followed
    assert not _balance(page).errors


def test_page_is_self_contained() -> None:
    for report, history in (healthy(), breaching()):
        page = render_monitoring_report(report, history)
        lowered = page.lower()
        for forbidden in ("http://", "https://", "<script", "<link", "src=", "url(", "@import", "<iframe"):
            assert forbidden not in lowered, forbidden
        assert "default-src 'none'" in page


@pytest.mark.parametrize(
    ("missing", "anchor", "why"),
    [
        ("quality", "quality", "Not available because no quality result was recorded"),
        ("estimate", "estimate", "Not available because no label-free estimate was recorded"),
        ("drift", "drift", "Not available because no drift result was recorded"),
        ("histograms", "scores", "Not available because no score histogram was recorded"),
    ],
)
def test_a_missing_part_says_why_instead_of_failing(missing: str, anchor: str, why: str) -> None:
    report, history = healthy()
    report[missing] = None
    assert why in _section(render_monitoring_report(report, history), anchor)


def test_a_window_without_labels_or_anything_judged_is_not_called_healthy() -> None:
    report, _ = healthy()
    report.update(quality=None, estimate=None, drift=None)
    report["traffic"] = {**report["traffic"], "labelled": 0, "requests": 0}
    page = render_monitoring_report(report, [])
    assert 'id="verdict">not judged' in page
    assert "no labels have arrived for this window yet" in page
    assert "the window had no requests" in page
    # the current window alone is on the trend charts, as estimated points would be absent too
    assert "Not available because no window has a value for PR AUC yet" in page


def test_quality_not_judged_shows_why_and_no_verdicts() -> None:
    report, history = healthy()
    report["quality"]["judged"] = False
    report["quality"]["why_not_judged"] = "12 labels, fewer than the 200 needed"
    section = _section(render_monitoring_report(report, history), "quality")
    assert "Not judged because 12 labels, fewer than the 200 needed" in section
    assert ">not judged<" in section and ">degraded<" not in section


def test_an_empty_report_renders_without_crashing() -> None:
    page = render_monitoring_report({}, [])
    assert "<!DOCTYPE html>" in page and 'id="verdict">not judged' in page
    assert not _balance(page).errors


def test_nan_and_infinity_never_reach_the_page() -> None:
    report, history = breaching()
    nan, inf = float("nan"), float("inf")
    report["quality"]["metrics"]["recall"].update(value=nan, lower=nan, upper=inf)
    report["quality"]["calibration"]["bins"][0]["mean_score"] = nan
    report["drift"]["features"][1]["tests"][0]["value"] = nan
    report["drift"]["features"][2]["tests"][0]["threshold"] = inf
    report["histograms"]["score"]["current"][3] = nan
    report["traffic"]["label_rate"] = nan
    history[0]["estimate"]["metrics"]["recall"]["value"] = nan
    page = render_monitoring_report(report, history)
    assert not re.search(r"\bnan\b|\binf(inity)?\b", page, re.I)
    numbers = re.findall(r'\s(?:x|y|x1|x2|y1|y2|cx|cy|r|width|height)="([^"]*)"', page)
    assert numbers and all(math.isfinite(float(n)) for n in numbers)


def test_svg_and_html_tags_are_balanced() -> None:
    for report, history in (healthy(), breaching()):
        parser = _balance(render_monitoring_report(report, history))
        assert not parser.errors, parser.errors[:5]
        assert parser.stack == []
        assert parser.svgs == 6  # three trends, reliability, drift, score histogram


def test_a_history_without_the_current_window_gets_it_appended() -> None:
    report, history = breaching()
    assert history[-1] is report
    with_current = _section(render_monitoring_report(report, history), "quality-over-windows")
    without = _section(render_monitoring_report(report, history[:-1]), "quality-over-windows")
    assert with_current == without and "The last 12 windows" in without
