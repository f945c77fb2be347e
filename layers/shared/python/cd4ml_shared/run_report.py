"""One self-contained HTML page per training-pipeline run: outcome, gate, data quality, evaluation, lineage, error."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from .gate import LOWER_IS_BETTER  # which way is better: one declaration, shared with the gate

__all__ = ["LOWER_IS_BETTER", "render_run_report"]

# The report Lambda renders this at the end of every run and writes it to runs/<run_id>/report.html. Standard library
# only (no template engine, no plotting library) keeps the Lambda small and its cold start short. The page loads
# nothing from elsewhere, so it reads the same from S3, a download or an email: CSS is inline, images are data URIs,
# curves without images are inline SVG, and there is no script. Every value from data, configuration or an error
# message goes through html.escape, and a Content-Security-Policy forbids scripts in case one ever does not.

STATUS_COLOURS: Mapping[str, str] = {
    "succeeded": "#1a7f37",
    "gated_out": "#9a6700",
    "quarantined": "#bc4c00",
    "failed": "#cf222e",
    "duplicate": "#0969da",
}
UNKNOWN_STATUS_COLOUR = "#57606a"
STATUS_LABELS: Mapping[str, str] = {
    "succeeded": "Succeeded",
    "gated_out": "Gated out",
    "quarantined": "Quarantined",
    "failed": "Failed",
    "duplicate": "Same as an earlier run",
}
# The evaluation metrics in the order a reader looks for them; others follow alphabetically.
METRIC_ORDER = (
    "auc",
    "pr_auc",
    "f1",
    "precision",
    "recall",
    "accuracy",
    "brier_score",
    "calibration_error",
    "threshold",
)
METRIC_LABELS: Mapping[str, str] = {
    "auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
    "accuracy": "Accuracy",
    "brier_score": "Brier score",
    "calibration_error": "Expected calibration error",
    "threshold": "Decision threshold",
}
# Curves from a large evaluation set can have one point per distinct score; a few hundred draw the same picture
# at a fraction of the page size.
MAX_CURVE_POINTS = 400
MAX_DETAIL_CHARS = 200  # a finding's numbers can hold PSI bins and examples: quote them, never dump them
MAX_LEVELS_SHOWN = 3  # most common values quoted per categorical column in the profile table

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
header{background:#fff;border:1px solid #d0d7de;border-left:8px solid var(--status);border-radius:6px;padding:16px 20px}
h1{font-size:22px;margin:0 0 8px}
h2{font-size:18px;margin:0 0 12px;border-bottom:1px solid #d0d7de;padding-bottom:6px}
h3{font-size:15px;margin:16px 0 8px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px 20px;margin-top:16px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
.status{background:var(--status)}
.pass{background:#1a7f37}.fail{background:#cf222e}.warn{background:#9a6700}.none{background:#57606a}
table{border-collapse:collapse;margin:4px 0 8px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failing td{background:#ffebe9}
tr.warning td{background:#fff8c5}
td.hit{background:#dafbe1}td.miss{background:#ffebe9}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:8px 0 0;font-size:14px}
dt{color:#57606a}dd{margin:0;word-break:break-all}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px;white-space:pre-wrap;word-break:break-all}
.muted{color:#57606a}
.figures{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0}figcaption{font-size:13px;color:#57606a;text-align:center}
figure img{max-width:480px;border:1px solid #d0d7de}
"""


def render_run_report(
    run: Mapping[str, Any],
    quality: Mapping[str, Any] | None,
    evaluation: Mapping[str, Any] | None,
    images: Mapping[str, bytes] | None = None,
) -> str:
    """The run's report as one HTML document (UTF-8 text, no external resources)."""
    status = str(run.get("status", "unknown"))
    colour = STATUS_COLOURS.get(status, UNKNOWN_STATUS_COLOUR)
    run_id = str(run.get("run_id", "unknown"))
    parts = [
        page_start(f"{run_id}: {STATUS_LABELS.get(status, status)}", colour),
        _header(run, status, run_id),
        _outcome(run, status),
        _gate(run, status),
        _quality(quality, status),
        _evaluation(evaluation, images or {}, status),
        _lineage(run),
        _error(run, status),
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part)


# ---- sections -------------------------------------------------------------------------------------------------
def page_start(title: str, colour: str, extra_css: str = "") -> str:
    """The head of a self-contained report page and the opening of its body, the status colour set."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            # Defence in depth: even a value that escaped escaping could not run a script or fetch anything.
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}{extra_css}</style></head>",
            f'<body style="--status:{colour}"><main>',
        ]
    )


def _header(run: Mapping[str, Any], status: str, run_id: str) -> str:
    dataset = _mapping(run.get("dataset"))
    started, finished = run.get("started_at"), run.get("finished_at")
    rows: list[tuple[str, Any]] = [
        ("Dataset", dataset.get("uri")),
        ("Version", dataset.get("version_id")),
        ("SHA-256", dataset.get("sha256")),
        ("Rows", dataset.get("rows")),
        ("Started", started),
        ("Finished", finished),
        ("Duration", _duration(started, finished)),
    ]
    return (
        f'<header><h1>Training run <span class="mono">{_e(run_id)}</span></h1>'
        f'<span class="badge status">{_e(STATUS_LABELS.get(status, status))}</span>'
        f"{_definitions(rows)}</header>"
    )


def _outcome(run: Mapping[str, Any], status: str) -> str:
    summaries = {
        "succeeded": "The model was trained, passed the gate and was registered.",
        "gated_out": "The model was trained and evaluated but did not pass the gate; it was not registered.",
        "quarantined": "The dataset failed data-quality validation and was quarantined; nothing was trained.",
        "failed": "The run failed before it finished.",
        "duplicate": "An earlier run already trained this content (same bytes, code and hyperparameters); nothing "
        "was trained and its model stays the one registered.",
    }
    body = [f"<p>{_e(summaries.get(status, f'Status: {status}.'))}</p>"]
    reasons = _strings(run.get("reasons"))
    if reasons:
        body.append("<h3>Reasons</h3>" + _bullets(reasons))
    if run.get("model_package_arn"):
        approval = run.get("approval_status")
        suffix = f" ({_e(approval)})" if approval else ""
        body.append(f'<p>Model package: <span class="mono">{_e(run["model_package_arn"])}</span>{suffix}</p>')
    return _section("outcome", "Outcome", "".join(body))


def _gate(run: Mapping[str, Any], status: str) -> str:
    gate = run.get("gate")
    if not isinstance(gate, Mapping):
        return _section("gate", "Gate", _not_reached(status, "gate"))
    metrics = _mapping(gate.get("metrics"))
    champion = gate.get("champion")
    champion_metrics = _mapping(champion.get("metrics")) if isinstance(champion, Mapping) else {}
    tolerance = _number(gate.get("tolerance"))
    passed = gate.get("passed")
    body = [_verdict(passed if isinstance(passed, bool) else None, "passed", "failed")]
    reasons = _strings(gate.get("reasons"))
    if reasons:
        body.append(_bullets(reasons))
    if isinstance(champion, Mapping):
        arn = champion.get("model_package_arn")
        tolerance_note = "" if tolerance is None else f" (the challenger may trail it by {_fmt(tolerance)})"
        body.append(f'<p>Champion: <span class="mono">{_e(arn or "unknown")}</span>{_e(tolerance_note)}</p>')
    else:
        body.append('<p class="muted">No champion: the challenger is compared with the thresholds only.</p>')
    body.extend(f'<p class="muted">{_e(note)}</p>' for note in _strings(gate.get("notes")))
    comparison = gate.get("comparison")
    if isinstance(comparison, Mapping) and _finite(comparison.get("difference")) is not None:
        # the paired comparison the champion check decided on: both models on the challenger's test rows
        body.append(
            f"<p>On the same {_e(comparison.get('rows'))} test rows: {_e(comparison.get('metric'))} challenger "
            f"{_fmt(comparison.get('challenger'))}, champion {_fmt(comparison.get('champion'))}, difference "
            f"{_fmt(comparison.get('difference'))} (paired bootstrap interval {_fmt(comparison.get('lower'))} to "
            f"{_fmt(comparison.get('upper'))}); the challenger fails only when the whole interval is worse than the "
            "tolerance.</p>"
        )
    checks = _gate_checks(gate, metrics, champion_metrics, tolerance or 0.0)
    by_metric: dict[str, list[_Check]] = {}
    for check in checks:
        by_metric.setdefault(check.metric, []).append(check)
    names = _unique([*by_metric, *metrics])
    if names:
        rows = ["<table><tr><th>Metric</th><th>Challenger</th><th>Threshold</th><th>Champion</th><th>Result</th></tr>"]
        rows += [_gate_row(name, metrics, champion_metrics, by_metric.get(name, [])) for name in names]
        rows.append("</table>")
        body.append("".join(rows))
    return _section("gate", "Gate", "".join(body))


class _Check(NamedTuple):
    """One comparison the gate made: the challenger's metric against a minimum, a maximum or the champion."""

    metric: str
    kind: str  # "minimum", "maximum" or "champion"
    bound: float | None  # None: no bound could be formed (the champion's value was unreadable)
    passed: bool | None  # None: not known


def _gate_checks(
    gate: Mapping[str, Any], metrics: Mapping[str, Any], champion: Mapping[str, Any], tolerance: float
) -> list[_Check]:
    """The gate's recorded checks when it lists them; otherwise re-derived from its thresholds and champion."""
    recorded = gate.get("checks")
    if isinstance(recorded, list | tuple) and recorded:
        # The gate's own verdicts: the page must never disagree with the decision that was actually made.
        return [
            _Check(
                str(check["metric"]),
                str(check.get("kind") or "minimum"),
                _finite(check.get("bound")),
                check["passed"] if isinstance(check.get("passed"), bool) else None,
            )
            for check in recorded
            if isinstance(check, Mapping) and "metric" in check
        ]
    checks: list[_Check] = []
    for key, raw in _mapping(gate.get("thresholds")).items():
        # Thresholds are keyed "metric" (direction from the metric) or "minimum:metric" / "maximum:metric".
        kind, _, metric = str(key).rpartition(":")
        if kind not in ("minimum", "maximum"):
            kind = "maximum" if _lower_is_better(metric) else "minimum"
        checks.append(_derived_check(metric, kind, _finite(raw), metrics))
    named = gate.get("champion_metric")
    compared = [str(named)] if named else [name for name in champion if name in metrics]
    for metric in compared:
        reference = _finite(champion.get(metric))
        if reference is None:
            bound = None
        else:
            # The challenger may trail the champion by the tolerance: retraining on fresh data should not be blocked
            # by noise, but a clearly worse model must not replace a better one.
            bound = reference + tolerance if _lower_is_better(metric) else reference - tolerance
        checks.append(_derived_check(metric, "champion", bound, metrics))
    return checks


def _derived_check(metric: str, kind: str, bound: float | None, metrics: Mapping[str, Any]) -> _Check:
    value = _finite(metrics.get(metric))
    if bound is None:
        return _Check(metric, kind, None, None if kind != "champion" else False)
    if value is None:
        return _Check(metric, kind, bound, False)  # a metric the gate needs and the evaluation lacks fails it
    lower = kind == "maximum" or (kind == "champion" and _lower_is_better(metric))
    return _Check(metric, kind, bound, value <= bound if lower else value >= bound)


def _lower_is_better(metric: str) -> bool:
    return metric.lower() in LOWER_IS_BETTER


def _gate_row(name: str, metrics: Mapping[str, Any], champion: Mapping[str, Any], checks: Sequence[_Check]) -> str:
    """One metric: its value, its bounds, the champion's value and what the comparisons concluded."""
    thresholds: list[str] = []
    champion_cell = _fmt(champion.get(name)) if name in champion else "—"
    problems: list[str] = []
    for check in checks:
        bound = "?" if check.bound is None else _fmt(check.bound)
        if check.kind == "champion":
            sign = "≤" if _lower_is_better(name) else "≥"
            needs = "unreadable" if check.bound is None else f"needs {sign} {bound}"
            champion_cell = f"{_fmt(champion.get(name))} ({needs})"
        else:
            thresholds.append(f"{'≤' if check.kind == 'maximum' else '≥'} {bound}")
        if check.passed is False:
            if _finite(metrics.get(name)) is None and check.bound is not None:
                problems.append("missing from the evaluation")
            elif check.kind == "champion":
                problems.append("champion's value unreadable" if check.bound is None else "worse than the champion")
            else:
                problems.append(f"{'above maximum' if check.kind == 'maximum' else 'below minimum'} {bound}")
    if not checks:
        result, row_class = '<span class="muted">not gated</span>', ""
    elif problems:
        result = '<span class="badge fail">fail</span> ' + _e("; ".join(_unique(problems)))
        row_class = ' class="failing"'
    elif all(check.passed for check in checks):
        result, row_class = '<span class="badge pass">pass</span>', ""
    else:
        result, row_class = '<span class="badge none">unknown</span>', ""
    return (
        f'<tr{row_class}><td>{_e(name)}</td><td class="num">{_e(_fmt(metrics.get(name)))}</td>'
        f'<td class="num">{_e(", ".join(thresholds) or "—")}</td><td class="num">{_e(champion_cell)}</td>'
        f"<td>{result}</td></tr>"
    )


def _quality(quality: Mapping[str, Any] | None, status: str) -> str:
    if quality is None:
        return _section("quality", "Data quality", _not_reached(status, "data-quality"))
    stats = _mapping(quality.get("stats"))
    passed = quality.get("passed")
    failures = _findings(quality.get("failures"))
    warnings = _findings(quality.get("warnings"))
    seconds = _number(stats.get("seconds"))
    body = [
        _verdict(passed if isinstance(passed, bool) else None, "passed", "failed"),
        _definitions(
            [
                ("Dataset", quality.get("dataset")),
                ("Rows", stats.get("rows")),
                ("Columns", stats.get("columns")),
                ("Validated at", quality.get("validated_at")),
                ("Checks took", None if seconds is None else f"{seconds:.2f} s"),
                ("Quarantine reason", quality.get("quarantine_reason") or None),
                ("Failures", len(failures)),
                ("Warnings", len(warnings)),
            ]
        ),
    ]
    if failures or warnings:
        rows = ["<h3>Findings</h3><table><tr><th>Severity</th><th>Code</th><th>Column</th><th>Message</th>"]
        rows.append("<th>Numbers</th></tr>")
        for finding in (*failures, *warnings):
            severity = str(finding.get("severity", ""))
            row_class = {"fail": ' class="failing"', "warn": ' class="warning"'}.get(severity, "")
            badge = {"fail": "fail", "warn": "warn"}.get(severity, "none")
            rows.append(
                f'<tr{row_class}><td><span class="badge {badge}">{_e(severity)}</span></td>'
                f'<td class="mono">{_e(finding.get("code", ""))}</td><td>{_e(_fmt(finding.get("column")))}</td>'
                f"<td>{_e(finding.get('message', ''))}</td>"
                f'<td class="mono">{_e(_numbers(finding.get("numbers")))}</td></tr>'
            )
        rows.append("</table>")
        body.append("".join(rows))
    else:
        body.append("<p>No findings.</p>")
    skipped = _strings(quality.get("skipped"))
    if skipped:
        body.append("<h3>Checks skipped</h3>" + _bullets(skipped))
    reference = quality.get("reference")
    if isinstance(reference, Mapping):
        body.append(
            "<h3>Compared with</h3>"
            + _definitions(
                [
                    ("Reference rows", reference.get("rows")),
                    ("Reference from", reference.get("time_min")),
                    ("Reference to", reference.get("time_max")),
                ]
            )
        )
    else:
        body.append('<p class="muted">No reference dataset: drift was not measured.</p>')
    profile = quality.get("profile")
    if isinstance(profile, Mapping):
        body.append(_profile(profile))
    return _section("quality", "Data quality", "".join(body))


def _profile(profile: Mapping[str, Any]) -> str:
    """The dataset's profile in a line per column: enough to spot an odd column, not the bins themselves."""
    label_rate = _number(profile.get("label_rate"))
    parts = [
        "<h3>Profile</h3>",
        _definitions(
            [
                ("From", profile.get("time_min")),
                ("To", profile.get("time_max")),
                ("Label rate", None if label_rate is None else f"{label_rate:.3%}"),
            ]
        ),
    ]
    columns = _mapping(profile.get("columns"))
    if columns:
        parts.append(
            "<table><tr><th>Column</th><th>Kind</th><th>Missing</th><th>Min</th><th>Mean</th><th>Max</th>"
            "<th>Most common</th><th>Values</th></tr>"
        )
        for name, column in columns.items():
            column = _mapping(column)
            kind = str(column.get("kind", ""))
            dominant_share = _number(column.get("dominant_share"))
            most_common = (
                "—"
                if column.get("dominant") is None
                else f"{_fmt(column.get('dominant'))} ({_percent(dominant_share)})"
            )
            if kind == "categorical":
                shares = _mapping(column.get("shares"))
                top = sorted(shares.items(), key=lambda item: -(_number(item[1]) or 0.0))[:MAX_LEVELS_SHOWN]
                levels = f"{len(shares):,} distinct: " + ", ".join(f"{k} {_percent(_number(v))}" for k, v in top)
                low = mean = high = "—"
            else:
                levels = ""
                low, mean, high = (_fmt(column.get(key)) for key in ("minimum", "mean", "maximum"))
            parts.append(
                f"<tr><td>{_e(name)}</td><td>{_e(kind)}</td>"
                f'<td class="num">{_e(_percent(_number(column.get("null_share"))))}</td>'
                f'<td class="num">{_e(low)}</td><td class="num">{_e(mean)}</td><td class="num">{_e(high)}</td>'
                f"<td>{_e(most_common)}</td><td>{_e(levels)}</td></tr>"
            )
        parts.append("</table>")
    return "".join(parts)


def _evaluation(evaluation: Mapping[str, Any] | None, images: Mapping[str, bytes], status: str) -> str:
    if evaluation is None and not images:
        return _section("evaluation", "Evaluation", _not_reached(status, "evaluation"))
    evaluation = evaluation or {}
    metrics = _mapping(evaluation.get("binary_classification_metrics"))
    dataset = _mapping(evaluation.get("dataset"))
    body: list[str] = []
    rows, positives = _number(dataset.get("rows")), _number(dataset.get("positives"))
    rate = positives / rows if rows and positives is not None else None
    if dataset:
        body.append(
            _definitions(
                [
                    ("Test rows", dataset.get("rows")),
                    ("Positives", dataset.get("positives")),
                    ("Positive rate", _percent(rate)),
                ]
            )
        )
    body.append(_metric_table(metrics))
    body.append(_confusion_matrix(_mapping(metrics.get("confusion_matrix"))))
    body.append(_curves(metrics, images, rate))
    return _section("evaluation", "Evaluation", "".join(body))


def _metric_table(metrics: Mapping[str, Any]) -> str:
    scalars = {name: value for name, value in metrics.items() if isinstance(value, Mapping) and "value" in value}
    if not scalars:
        return '<p class="muted">No metrics in the evaluation.</p>'
    names = [n for n in METRIC_ORDER if n in scalars] + sorted(n for n in scalars if n not in METRIC_ORDER)
    deviations = {n: _number(scalars[n].get("standard_deviation")) for n in names}
    with_deviation = any(d is not None and math.isfinite(d) for d in deviations.values())
    head = "<th>Standard deviation</th>" if with_deviation else ""
    rows = [f"<h3>Metrics</h3><table><tr><th>Metric</th><th>Value</th>{head}</tr>"]
    for name in names:
        deviation = deviations[name]
        cell = ""
        if with_deviation:
            shown = _fmt(deviation) if deviation is not None and math.isfinite(deviation) else "—"
            cell = f'<td class="num">{_e(shown)}</td>'
        label = METRIC_LABELS.get(name, name)
        rows.append(
            f'<tr><td title="{_e(name)}">{_e(label)}</td>'
            f'<td class="num">{_e(_fmt(scalars[name].get("value")))}</td>{cell}</tr>'
        )
    rows.append("</table>")
    return "".join(rows)


def _confusion_matrix(matrix: Mapping[str, Any]) -> str:
    """Rows are the actual class, columns the predicted one (the model-quality format's nesting)."""
    if not matrix:
        return ""
    actual = sorted(matrix, key=str)
    predicted = sorted(_unique(str(p) for a in actual for p in _mapping(matrix[a])), key=str)
    names = {("0", "0"): "TN", ("0", "1"): "FP", ("1", "0"): "FN", ("1", "1"): "TP"}
    rows = ["<h3>Confusion matrix</h3><table><tr><th>actual \\ predicted</th>"]
    rows += [f"<th>{_e(p)}</th>" for p in predicted]
    rows.append("</tr>")
    for a in actual:
        cells = {str(p): count for p, count in _mapping(matrix[a]).items()}  # JSON keys are text; a dict's may not be
        rows.append(f"<tr><th>{_e(a)}</th>")
        for p in predicted:
            name = names.get((str(a), p))
            prefix = f"{name} " if name else ""
            hit = "hit" if str(a) == p else "miss"
            rows.append(f'<td class="num {hit}">{_e(prefix)}{_e(_fmt(cells.get(p)))}</td>')
        rows.append("</tr>")
    rows.append("</table>")
    return "".join(rows)


def _curves(metrics: Mapping[str, Any], images: Mapping[str, bytes], positive_rate: float | None) -> str:
    """Images where the evaluation job drew them; otherwise the curves drawn here from the metric arrays."""
    figures = [_image(name, data) for name, data in sorted(images.items(), key=lambda item: _image_order(item[0]))]
    kinds = {_image_kind(name) for name in images}
    if "roc" not in kinds:
        roc = _mapping(metrics.get("receiver_operating_characteristic_curve"))
        auc = _number(_mapping(metrics.get("auc")).get("value"))
        figures.append(
            _svg_curve(
                "ROC curve" + ("" if auc is None else f" (AUC {_fmt(auc)})"),
                _floats(roc.get("false_positive_rates")),
                _floats(roc.get("true_positive_rates")),
                "False positive rate",
                "True positive rate",
                baseline=((0.0, 0.0), (1.0, 1.0)),
            )
        )
    if "pr" not in kinds:
        pr = _mapping(metrics.get("precision_recall_curve"))
        auc = _number(_mapping(metrics.get("pr_auc")).get("value"))
        figures.append(
            _svg_curve(
                "Precision-recall curve" + ("" if auc is None else f" (AUC {_fmt(auc)})"),
                _floats(pr.get("recalls")),
                _floats(pr.get("precisions")),
                "Recall",
                "Precision",
                baseline=None if positive_rate is None else ((0.0, positive_rate), (1.0, positive_rate)),
            )
        )
    return '<h3>Curves</h3><div class="figures">' + "".join(figures) + "</div>"


def _lineage(run: Mapping[str, Any]) -> str:
    dataset = _mapping(run.get("dataset"))
    body = [
        _definitions(
            [
                ("Run", run.get("run_id")),
                ("Execution", run.get("execution_arn")),
                ("Dataset", dataset.get("uri")),
                ("Dataset version", dataset.get("version_id")),
                ("Dataset SHA-256", dataset.get("sha256")),
                ("Training job", run.get("training_job_arn")),
                ("Model package", run.get("model_package_arn")),
                ("Approval status", run.get("approval_status")),
            ]
        )
    ]
    hyperparameters = _mapping(run.get("hyperparameters"))
    if hyperparameters:
        rows = ["<h3>Hyperparameters</h3><table><tr><th>Name</th><th>Value</th></tr>"]
        rows += [
            f'<tr><td class="mono">{_e(name)}</td><td class="mono">{_e(_compact(value))}</td></tr>'
            for name, value in sorted(hyperparameters.items(), key=lambda item: str(item[0]))
        ]
        rows.append("</table>")
        body.append("".join(rows))
    return _section("lineage", "Lineage", "".join(body))


def _error(run: Mapping[str, Any], status: str) -> str:
    error = run.get("error")
    if status != "failed" and not error:
        return ""
    if not isinstance(error, Mapping) or not error:
        return _section("error", "Error", '<p class="muted">No error details were recorded.</p>')
    cause = error.get("Cause")
    return _section(
        "error",
        "Error",
        f'<p><strong class="mono">{_e(error.get("Error") or "Error")}</strong></p>'
        + ("" if cause is None else f"<pre>{_e(_pretty_cause(cause))}</pre>"),
    )


# ---- pieces ---------------------------------------------------------------------------------------------------
def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


def _not_reached(status: str, step: str) -> str:
    if status == "quarantined":
        return '<p class="muted">Not reached: the dataset was quarantined.</p>'
    if status == "failed":
        return f'<p class="muted">Not reached: the run failed before the {_e(step)} step.</p>'
    return f'<p class="muted">No {_e(step)} results were recorded for this run.</p>'


def _verdict(passed: bool | None, yes: str, no: str) -> str:
    if passed is None:
        return '<p><span class="badge none">unknown</span></p>'
    return f'<p><span class="badge {"pass" if passed else "fail"}">{_e(yes if passed else no)}</span></p>'


def _definitions(rows: Iterable[tuple[str, Any]]) -> str:
    items = [f"<dt>{_e(name)}</dt><dd>{_e(_fmt(value))}</dd>" for name, value in rows if value not in (None, "")]
    return f"<dl>{''.join(items)}</dl>" if items else ""


def _bullets(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _image(name: str, data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img alt="{_e(name)}" src="data:{_mime(data)};base64,{encoded}">'
        f"<figcaption>{_e(name)}</figcaption></figure>"
    )


def _mime(data: bytes) -> str:
    """The image type from its first bytes: the names are only labels, and a wrong type would not display."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.lstrip()[:5] in (b"<svg ", b"<?xml"):
        return "image/svg+xml"
    return "image/png"


def _image_kind(name: str) -> str | None:
    words = set(re.split(r"[^a-z0-9]+", name.lower().rsplit(".", 1)[0]))
    if "roc" in words:
        return "roc"
    if words & {"pr", "precision"}:
        return "pr"
    return None


def _image_order(name: str) -> tuple[int, str]:
    return ({"roc": 0, "pr": 1}.get(_image_kind(name) or "", 2), name)


def _svg_curve(
    title: str,
    xs: Sequence[float | None],
    ys: Sequence[float | None],
    x_label: str,
    y_label: str,
    baseline: tuple[tuple[float, float], tuple[float, float]] | None,
) -> str:
    """A unit-square line chart: axes from 0 to 1, a quarter grid, the curve and an optional dashed baseline."""
    size, left, top = 240, 48, 12
    width, height = left + size + 12, top + size + 40

    def x_of(value: float) -> float:
        return left + min(max(value, 0.0), 1.0) * size

    def y_of(value: float) -> float:
        return top + (1.0 - min(max(value, 0.0), 1.0)) * size

    parts = [
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" font-size="10" '
        'font-family="sans-serif">'
    ]
    for step in range(5):
        tick = step / 4
        parts.append(
            f'<line x1="{x_of(tick):.1f}" y1="{top}" x2="{x_of(tick):.1f}" y2="{top + size}" stroke="#eaeef2"/>'
            f'<line x1="{left}" y1="{y_of(tick):.1f}" x2="{left + size}" y2="{y_of(tick):.1f}" stroke="#eaeef2"/>'
            f'<text x="{x_of(tick):.1f}" y="{top + size + 14}" text-anchor="middle">{tick:g}</text>'
            f'<text x="{left - 6}" y="{y_of(tick) + 3:.1f}" text-anchor="end">{tick:g}</text>'
        )
    parts.append(f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#8c959f"/>')
    parts.append(
        f'<text x="{left + size / 2:.1f}" y="{top + size + 32}" text-anchor="middle">{_e(x_label)}</text>'
        f'<text x="12" y="{top + size / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + size / 2:.1f})">{_e(y_label)}</text>'
    )
    if baseline is not None:
        (x0, y0), (x1, y1) = baseline
        parts.append(
            f'<line x1="{x_of(x0):.1f}" y1="{y_of(y0):.1f}" x2="{x_of(x1):.1f}" y2="{y_of(y1):.1f}" '
            'stroke="#8c959f" stroke-dasharray="4 3"/>'
        )
    points = _thin([(x, y) for x, y in zip(xs, ys, strict=False) if x is not None and y is not None], MAX_CURVE_POINTS)
    if len(points) >= 2:
        path = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="2" points="{path}"/>')
    else:
        parts.append(
            f'<text x="{left + size / 2:.1f}" y="{top + size / 2:.1f}" text-anchor="middle" fill="#57606a">'
            "no curve data</text>"
        )
    parts.append(f"</svg><figcaption>{_e(title)}</figcaption></figure>")
    return "".join(parts)


def _thin(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """Every k-th point, always keeping both ends, so a long curve keeps its shape and a bounded size."""
    if len(points) <= limit:
        return points
    step = math.ceil(len(points) / (limit - 1))
    return [*points[::step], points[-1]] if (len(points) - 1) % step else points[::step]


# ---- values ---------------------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]  # one reason given as text rather than a list
    if isinstance(value, Iterable):
        return [str(item) for item in value]
    return [str(value)]


def _findings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list | tuple) else []


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _number(value: Any) -> float | None:
    """A finite or infinite float from a number or numeric text ('NaN' counts as none); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) else number


def _finite(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and math.isfinite(number) else None


def _floats(value: Any) -> list[float | None]:
    """A curve array; None keeps the position of a value that cannot be drawn (NaN, text)."""
    if not isinstance(value, list | tuple):
        return []
    numbers = [_number(item) for item in value]
    return [n if n is not None and math.isfinite(n) else None for n in numbers]


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if 1e3 <= abs(value) < 1e15:  # amounts and counts: thousands separators, not exponents
            return f"{value:,.1f}".removesuffix(".0")
        return f"{value:.4g}"
    return str(value)


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.2%}"


def _numbers(value: Any) -> str:
    """A finding's numbers as `name=value` pairs at four significant digits, cut short like `_compact`."""
    if not isinstance(value, Mapping):
        return _compact(value)
    text = ", ".join(f"{name}={_short(item)}" for name, item in value.items())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


def _short(value: Any) -> str:
    if isinstance(value, list | tuple):
        shown = ", ".join(_short(item) for item in value[:MAX_LEVELS_SHOWN])
        more = f", … ({len(value):,})" if len(value) > MAX_LEVELS_SHOWN else ""
        return f"[{shown}{more}]"
    if isinstance(value, Mapping):
        return "{" + _numbers(value) + "}"
    return _fmt(value)


def _compact(value: Any) -> str:
    """JSON on one line, cut short: enough to read a finding's numbers without the page growing with the data."""
    if value is None or value == {}:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


def _pretty_cause(cause: Any) -> str:
    """Step Functions passes a Lambda's error as JSON text in Cause: indent it so the stack trace reads as lines."""
    if isinstance(cause, str):
        try:
            cause = json.loads(cause)
        except ValueError:
            return cause
        if not isinstance(cause, dict | list):
            return str(cause)
    if isinstance(cause, dict) and isinstance(cause.get("stackTrace"), list):
        trace = "\n".join(str(line).rstrip("\n") for line in cause["stackTrace"])
        rest = {k: v for k, v in cause.items() if k != "stackTrace"}
        return json.dumps(rest, indent=2, default=str, ensure_ascii=False) + "\n\n" + trace
    return json.dumps(cause, indent=2, default=str, ensure_ascii=False)


def _duration(started: Any, finished: Any) -> str | None:
    try:
        seconds = (datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))).total_seconds()
    except (TypeError, ValueError):
        return None  # missing or unparseable times, or one naive and one aware: no duration rather than a wrong one
    if seconds < 0:
        return None
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"
