"""One self-contained HTML page per monitoring window: verdict, traffic, quality over windows, drift, scores."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from .run_report import METRIC_LABELS, _definitions, _e, _finite, _fmt, _mapping, _section, _strings, page_start

__all__ = ["render_monitoring_report"]

# The monitor renders this beside report.json (monitoring/<endpoint>/<window>/report.html). As with the run report:
# standard library only, inline CSS, inline SVG drawn here, no script and nothing fetched, so the page reads the same
# from S3, a download or an email; every value from data goes through html.escape, and a Content-Security-Policy
# forbids scripts and fetches in case one ever does not. Links are shown as text: s3:// URIs are not clickable, and
# a link from data must never become something the browser follows.

HEALTHY_COLOUR = "#1a7f37"
BREACH_COLOUR = "#cf222e"
NOT_JUDGED_COLOUR = "#57606a"
MEASURED_COLOUR = "#0969da"
ESTIMATED_COLOUR = "#8250df"
REFERENCE_COLOUR = "#8c959f"
DRIFTED_COLOUR = "#cf222e"
GRID_COLOUR = "#eaeef2"
# The metrics plotted over windows: the gate's ranking metric and the two a fraud team acts on. CBPE estimates only
# precision and recall, so pr_auc has measured points alone.
TREND_METRICS = ("pr_auc", "recall", "precision")
QUALITY_ORDER = ("pr_auc", "auc", "precision", "recall", "brier_score", "calibration_error")
ESTIMATE_ORDER = ("precision", "recall", "positive_rate")
LABELS: Mapping[str, str] = {
    **METRIC_LABELS,
    "calibration_error": "Calibration error",
    "positive_rate": "Positive rate",
}
BREACH_KINDS: Mapping[str, str] = {
    "drift": "drift",
    "quality": "quality",
    "estimated_quality": "estimated quality",
}
MAX_NAME_CHARS = 26  # a feature name on the drift chart; the full name is in its tooltip and the table
CHART_WIDTH = 1040  # the page's content width at 1280 px (main is 1100 px with 24 px padding each side)

_MONITORING_CSS = """
.banner{margin:10px 0 4px;padding:8px 12px;border-radius:6px;color:#fff;font-weight:600;font-size:15px;
background:var(--status)}
.banner ul{margin:4px 0 0;padding-left:20px;font-weight:400;font-size:13px}
.estimated{display:inline-block;padding:2px 8px;border-radius:4px;background:#fbefff;color:#8250df;font-weight:700;
border:1px solid #8250df;font-size:12px;letter-spacing:.05em}
.notice{background:#f6f8fa;border:1px dashed #8c959f;border-radius:6px;padding:8px 12px;color:#57606a}
svg{display:block;max-width:100%;height:auto}
td.why{max-width:460px;font-size:12px}
tr.drifted td{background:#ffebe9}
"""


def render_monitoring_report(report: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> str:
    """The window's report as one HTML document (UTF-8 text, no external resources); `history` is oldest first."""
    verdict, colour = _verdict_of(report)
    endpoint = str(report.get("endpoint") or "unknown endpoint")
    window = _mapping(report.get("window"))
    parts = [
        page_start(f"{endpoint} {window.get('name') or ''}: {verdict}", colour, _MONITORING_CSS),
        _header(report, verdict),
        _traffic(_mapping(report.get("traffic"))),
        _quality_over_windows(_with_current(history, report)),
        _quality(report),
        _estimate(report.get("estimate")),
        _drift(report.get("drift"), _mapping(report.get("traffic"))),
        _score_histogram(_mapping(_mapping(report.get("histograms")).get("score"))),
        _links(_mapping(report.get("links"))),
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part)


# ---- header and traffic ---------------------------------------------------------------------------------------
def _verdict_of(report: Mapping[str, Any]) -> tuple[str, str]:
    """ "breach", "healthy" only when something was judged, else "not judged": silence is not health."""
    breach = _mapping(report.get("breach"))
    if breach.get("any") or _records(breach.get("reasons")):
        return "breach", BREACH_COLOUR
    judged = any(_mapping(report.get(key)).get("judged") for key in ("quality", "estimate"))
    if judged or isinstance(report.get("drift"), Mapping):
        return "healthy", HEALTHY_COLOUR
    return "not judged", NOT_JUDGED_COLOUR


def _header(report: Mapping[str, Any], verdict: str) -> str:
    window = _mapping(report.get("window"))
    breach = _mapping(report.get("breach"))
    reasons = _records(breach.get("reasons"))
    rows: list[tuple[str, Any]] = [
        ("Model package group", report.get("model_package_group")),
        ("Model version", report.get("model_version")),
        ("Model package", report.get("model_package_arn")),
        ("Window", window.get("name")),
        ("From", window.get("start")),
        ("To", window.get("end")),
        ("Evaluated at", report.get("evaluated_at")),
    ]
    if verdict == "breach":
        kinds = _unique_strings(BREACH_KINDS.get(str(r.get("kind")), str(r.get("kind"))) for r in reasons)
        items = "".join(
            f"<li><strong>{_e(BREACH_KINDS.get(str(r.get('kind')), r.get('kind')))}</strong> "
            f'<span class="mono">{_e(r.get("name"))}</span>: {_e(r.get("why") or "")}</li>'
            for r in reasons
        )
        episode = breach.get("episode")
        episode_note = f" (episode {_e(episode)})" if episode else ""
        banner = f"breach: {_e(', '.join(kinds) or 'reason not recorded')}{episode_note}<ul>{items}</ul>"
    elif verdict == "healthy":
        banner = "healthy: no quality drop and no drift in this window"
    else:
        banner = "not judged: neither quality, an estimate nor drift could be judged for this window"
    return (
        f'<header><h1>Monitoring <span class="mono">{_e(report.get("endpoint") or "unknown endpoint")}</span></h1>'
        f'<div class="banner" id="verdict">{banner}</div>{_definitions(rows)}</header>'
    )


def _traffic(traffic: Mapping[str, Any]) -> str:
    if not traffic:
        return _section("traffic", "Traffic", _not_available("no traffic summary was recorded for this window"))
    unreadable = _mapping(traffic.get("unreadable"))
    versions = _mapping(traffic.get("versions"))
    rows: list[tuple[str, Any]] = [
        ("Requests", _count(traffic.get("requests"))),
        ("Labelled", _count(traffic.get("labelled"))),
        ("Label rate", _percent(_finite(traffic.get("label_rate")))),
        ("Unreadable records", _pairs(unreadable) or "none"),
        ("Duplicates dropped", _count(traffic.get("duplicates_dropped"))),
        ("Requests by model version", _pairs(versions)),
        ("Rows of the wrong width", _count(traffic.get("wrong_width"))),
    ]
    return _section("traffic", "Traffic", _definitions(rows))


# ---- quality over windows -------------------------------------------------------------------------------------
class _Point(NamedTuple):
    """One window's value of a metric on the trend chart."""

    at: float  # the window's end, in seconds since the epoch (or its position when times are unreadable)
    value: float
    lower: float | None
    upper: float | None
    baseline: float | None
    estimated: bool
    degraded: bool
    window: str
    position: int  # the window's place in the history: a gap in positions is a window without this value


def _with_current(history: Sequence[Mapping[str, Any]], report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The history ends with the current window; add it when a caller passed the earlier windows only."""
    entries = [entry for entry in history if isinstance(entry, Mapping)]
    name = _mapping(report.get("window")).get("name")
    if not entries or _mapping(entries[-1].get("window")).get("name") != name:
        entries.append(report)
    return entries


def _trend_points(history: Sequence[Mapping[str, Any]], metric: str) -> list[_Point]:
    points: list[_Point] = []
    for position, entry in enumerate(history):
        for key, estimated in (("quality", False), ("estimate", True)):
            section = _mapping(entry.get(key))
            values = _mapping(_mapping(section.get("metrics")).get(metric))
            value = _finite(values.get("value"))
            if value is None:
                continue
            # an estimate describes the recent window, which ends later than the evaluated one
            window = _mapping(section.get("window")) if estimated else {}
            window = window or _mapping(entry.get("window"))
            at = _epoch(window.get("end"))
            points.append(
                _Point(
                    at=float(position) if at is None else at,
                    value=value,
                    lower=_finite(values.get("lower")),
                    upper=_finite(values.get("upper")),
                    baseline=_finite(values.get("baseline")),
                    estimated=estimated,
                    degraded=bool(values.get("degraded")),
                    window=str(window.get("name") or ""),
                    position=position,
                )
            )
    times_known = all(_epoch(_mapping(e.get("window")).get("end")) is not None for e in history)
    if not times_known:  # a mixture of times and positions would not order: fall back to positions for all
        points = [p._replace(at=float(i)) for i, p in enumerate(points)]
    return sorted(points, key=lambda p: (p.at, p.estimated))


def _quality_over_windows(history: Sequence[Mapping[str, Any]]) -> str:
    points = {metric: _trend_points(history, metric) for metric in TREND_METRICS}
    # one time axis for all three charts, so a window sits at the same place on each
    times = [p.at for series in points.values() for p in series]
    span = (min(times), max(times)) if times else (0.0, 1.0)
    charts = [_trend_chart(metric, points[metric], span) for metric in TREND_METRICS]
    span_text = "This window" if len(history) == 1 else f"The last {len(history)} windows, oldest left"
    note = (
        f'<p class="muted">{_e(span_text)}. Filled points are measured on labelled '
        "traffic, with their bootstrap interval as the band; hollow points are <strong>estimated</strong> from the "
        "scores of the recent window (CBPE) before its labels arrive. The dashed line is the version's baseline "
        "from its evaluation; a red point is a window judged degraded.</p>"
    )
    return _section("quality-over-windows", "Quality over windows", note + "".join(charts))


def _trend_chart(metric: str, points: Sequence[_Point], span: tuple[float, float]) -> str:
    label = LABELS.get(metric, metric)
    if not points:
        return f"<h3>{_e(label)}</h3>" + _not_available(f"no window has a value for {label} yet")
    width, height = CHART_WIDTH, 230
    left, right, top, bottom = 56, 200, 14, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    ys = [v for p in points for v in (p.value, p.lower, p.upper, p.baseline) if v is not None]
    y_ticks = _nice_ticks(min(ys), max(ys))
    y_of = _scale(y_ticks[0], y_ticks[-1], top + plot_h, top)
    times = [p.at for p in points]
    t_low, t_high = span
    if t_high == t_low:  # one window: centre it
        t_low, t_high = t_low - 1.0, t_high + 1.0
    x_of = _scale(t_low, t_high, left + 12, left + plot_w - 12)
    by_time = any(t > 1e6 for t in times)  # epoch seconds, not positions
    parts = [_svg_open(width, height, f"{label} over windows")]
    parts.append(_y_grid(y_ticks, y_of, left, plot_w))
    parts.append(_time_axis(t_low, t_high, x_of, top + plot_h) if by_time else "")
    parts.append(_frame(left, top, plot_w, plot_h))
    parts.append(
        _axis_labels(left, top, plot_w, plot_h, "window end (UTC)" if by_time else "window (oldest left)", label)
    )
    measured = [p for p in points if not p.estimated]
    estimated = [p for p in points if p.estimated]
    for run in _runs([p for p in measured if p.lower is not None and p.upper is not None]):
        upper = [f"{x_of(p.at):.1f},{y_of(p.upper or p.value):.1f}" for p in run]
        lower = [f"{x_of(p.at):.1f},{y_of(p.lower or p.value):.1f}" for p in reversed(run)]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="{MEASURED_COLOUR}" fill-opacity="0.15"/>')
    baseline = [p for p in points if p.baseline is not None]
    if baseline:
        path = _step_path([(x_of(p.at), y_of(p.baseline or 0.0)) for p in baseline], left + plot_w)
        parts.append(f'<path d="{path}" fill="none" stroke="#1f2328" stroke-width="1.5" stroke-dasharray="6 4"/>')
    for run in _runs(measured):
        line = " ".join(f"{x_of(p.at):.1f},{y_of(p.value):.1f}" for p in run)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{MEASURED_COLOUR}" stroke-width="2"/>')
    for p in estimated:
        if p.lower is not None and p.upper is not None:  # the estimate's interval as a whisker
            x = x_of(p.at)
            parts.append(
                f'<line x1="{x:.1f}" y1="{y_of(p.lower):.1f}" x2="{x:.1f}" y2="{y_of(p.upper):.1f}" '
                f'stroke="{ESTIMATED_COLOUR}" stroke-width="1.5"/>'
            )
    # measured dots over the estimates' rings: where an estimate and the later measurement agree, a ringed dot
    for p in [*estimated, *measured]:
        parts.append(_marker(x_of(p.at), y_of(p.value), p, label))
    if estimated:
        last = estimated[-1]
        # left of the point: the latest estimate sits at the right edge, beside the legend
        parts.append(
            f'<text x="{x_of(last.at) - 10:.1f}" y="{y_of(last.value) - 10:.1f}" text-anchor="end" '
            f'fill="{ESTIMATED_COLOUR}" font-weight="600">estimated</text>'
        )
    if not estimated:
        lines = (
            ("no estimate: CBPE", "estimates precision and", "recall only")
            if metric not in ESTIMATE_ORDER
            else ("no window has an estimate",)
        )
        parts.extend(
            f'<text x="{left + plot_w + 16}" y="{top + plot_h - 36 + 13 * i}" fill="#57606a" font-size="10">'
            f"{_e(line)}</text>"
            for i, line in enumerate(lines)
        )
    parts.append(
        _legend(
            left + plot_w + 16,
            top + 4,
            [
                (_swatch_circle(MEASURED_COLOUR, hollow=False), "measured"),
                (_swatch_band(MEASURED_COLOUR), "interval (measured)"),
                (_swatch_circle(ESTIMATED_COLOUR, hollow=True), "estimated (no labels)" if estimated else ""),
                (_swatch_line("#1f2328", dashed=True), "baseline"),
                (_swatch_circle(DRIFTED_COLOUR, hollow=False), "degraded"),
            ],
        )
    )
    parts.append("</svg>")
    return f"<h3>{_e(label)}</h3>" + "".join(parts)


def _marker(x: float, y: float, point: _Point, label: str) -> str:
    colour = DRIFTED_COLOUR if point.degraded else (ESTIMATED_COLOUR if point.estimated else MEASURED_COLOUR)
    fill = "none" if point.estimated else colour
    radius = 6.5 if point.estimated else 4.0
    kind = "estimated" if point.estimated else "measured"
    interval = (
        f" [{_fmt(point.lower)}, {_fmt(point.upper)}]" if point.lower is not None and point.upper is not None else ""
    )
    verdict = ", degraded" if point.degraded else ""
    tip = f"{point.window}: {label} {kind} {_fmt(point.value)}{interval}{verdict}"
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{fill}" stroke="{colour}" stroke-width="2">'
        f"<title>{_e(tip)}</title></circle>"
    )


def _runs(points: Sequence[_Point]) -> list[list[_Point]]:
    """Points of consecutive windows, in runs of at least two: a window without a value breaks the line and the
    band rather than being bridged as if it had been measured (a single point stays a dot)."""
    runs: list[list[_Point]] = []
    for point in points:
        if runs and point.position == runs[-1][-1].position + 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return [run for run in runs if len(run) >= 2]


def _step_path(points: Sequence[tuple[float, float]], x_end: float) -> str:
    """A baseline holds until the next window's (a new version brings a new one): a step line to the right edge."""
    first_x, first_y = points[0]
    commands = [f"M{first_x:.1f},{first_y:.1f}"]
    for x, y in points[1:]:
        commands.append(f"H{x:.1f}V{y:.1f}")
    commands.append(f"H{x_end:.1f}")
    return "".join(commands)


# ---- the current window's quality and the estimate ------------------------------------------------------------
def _quality(report: Mapping[str, Any]) -> str:
    quality = report.get("quality")
    title = "Quality of this window (measured on labels)"
    if not isinstance(quality, Mapping):
        labelled = _finite(_mapping(report.get("traffic")).get("labelled"))
        why = (
            "no labels have arrived for this window yet"
            if labelled == 0
            else "no quality result was recorded for this window"
        )
        return _section("quality", title, _not_available(why))
    facts = _definitions(
        [
            ("Labels", _count(quality.get("labels"))),
            ("Positives", _count(quality.get("positives"))),
            ("Decision threshold", _number_text(quality.get("threshold"))),
            ("Interval", _interval_note(quality)),
        ]
    )
    body = [_judged_note(quality), facts]
    body.append(_metric_table(_mapping(quality.get("metrics")), QUALITY_ORDER, bool(quality.get("judged"))))
    body.append(_reliability(_mapping(quality.get("calibration"))))
    return _section("quality", title, "".join(body))


def _estimate(estimate: Any) -> str:
    title = "Estimated quality of the recent window (no labels yet)"
    if not isinstance(estimate, Mapping):
        return _section("estimate", title, _not_available("no label-free estimate was recorded for the recent window"))
    window = _mapping(estimate.get("window"))
    facts = _definitions(
        [
            ("Window", window.get("name")),
            ("From", window.get("start")),
            ("To", window.get("end")),
            ("Rows", _count(estimate.get("rows"))),
            ("Decision threshold", _number_text(estimate.get("threshold"))),
            ("Method", estimate.get("method")),
            ("Interval", _interval_note(estimate)),
        ]
    )
    body = [
        '<p><span class="estimated">ESTIMATED</span> <span class="muted">from the calibrated scores, not measured: '
        "the labels of this window have not arrived.</span></p>",
        _judged_note(estimate),
        facts,
        _metric_table(_mapping(estimate.get("metrics")), ESTIMATE_ORDER, bool(estimate.get("judged"))),
    ]
    return _section("estimate", title, "".join(body))


def _judged_note(section: Mapping[str, Any]) -> str:
    if section.get("judged"):
        degraded = _strings(section.get("degraded"))
        if degraded:
            names = ", ".join(LABELS.get(name, name) for name in degraded)
            return f'<p><span class="badge fail">degraded</span> {_e(names)}</p>'
        return '<p><span class="badge pass">no drop</span></p>'
    why = section.get("why_not_judged") or "the reason was not recorded"
    return f'<p class="notice">Not judged because {_e(why)}; the values below are shown for reading only.</p>'


def _interval_note(section: Mapping[str, Any]) -> str | None:
    confidence = _finite(section.get("confidence"))
    resamples = _finite(section.get("resamples"))
    if confidence is None:
        return None
    suffix = "" if resamples is None else f", {int(resamples):,} bootstrap resamples"
    return f"{confidence:.0%}{suffix}"


def _metric_table(metrics: Mapping[str, Any], order: Sequence[str], judged: bool) -> str:
    if not metrics:
        return _not_available("no metric was recorded")
    names = [n for n in order if n in metrics] + sorted(n for n in metrics if n not in order)
    rows = [
        "<table><tr><th>Metric</th><th>Value [interval]</th><th>Baseline [interval]</th><th>Margin</th>"
        "<th>Better</th><th>Verdict</th><th>Why</th></tr>"
    ]
    for name in names:
        m = _mapping(metrics[name])
        degraded = bool(m.get("degraded"))
        if not judged:
            badge = '<span class="badge none">not judged</span>'
        else:
            badge = f'<span class="badge {"fail" if degraded else "pass"}">{"degraded" if degraded else "ok"}</span>'
        rows.append(
            f'<tr class="{"failing" if degraded and judged else ""}"><td title="{_e(name)}">'
            f"{_e(LABELS.get(name, name))}</td>"
            f'<td class="num">{_e(_with_interval(m.get("value"), m.get("lower"), m.get("upper")))}</td>'
            f'<td class="num">'
            f"{_e(_with_interval(m.get('baseline'), m.get('baseline_lower'), m.get('baseline_upper')))}</td>"
            f'<td class="num">{_e(_number_text(m.get("margin")))}</td>'
            f"<td>{_e(m.get('direction') or '—')}</td><td>{badge}</td>"
            f'<td class="why">{_e(m.get("why") or "")}</td></tr>'
        )
    rows.append("</table>")
    return "".join(rows)


def _reliability(calibration: Mapping[str, Any]) -> str:
    """Mean score against observed fraud rate per bin: on the diagonal the scores are probabilities one can trust."""
    bins = [
        (x, y, _finite(b.get("rows")) or 0.0)
        for b in _records(calibration.get("bins"))
        if (x := _finite(b.get("mean_score"))) is not None and (y := _finite(b.get("observed_rate"))) is not None
    ]
    ece = _finite(calibration.get("expected_calibration_error"))
    title = "Calibration (reliability)" + ("" if ece is None else f": expected calibration error {_fmt(ece)}")
    if not bins:
        return f"<h3>{_e(title)}</h3>" + _not_available("no calibration bins were recorded")
    size, left, top = 300, 56, 14
    width, height = left + size + 190, top + size + 46
    x_of = _scale(0.0, 1.0, left, left + size)
    y_of = _scale(0.0, 1.0, top + size, top)
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    parts = [_svg_open(width, height, title), _y_grid(ticks, y_of, left, size)]
    for tick in ticks:
        parts.append(
            f'<line x1="{x_of(tick):.1f}" y1="{top}" x2="{x_of(tick):.1f}" y2="{top + size}" stroke="{GRID_COLOUR}"/>'
            f'<text x="{x_of(tick):.1f}" y="{top + size + 14}" text-anchor="middle">{tick:g}</text>'
        )
    parts.append(_frame(left, top, size, size))
    parts.append(_axis_labels(left, top, size, size, "mean score in bin", "observed fraud rate"))
    parts.append(
        f'<line x1="{x_of(0):.1f}" y1="{y_of(0):.1f}" x2="{x_of(1):.1f}" y2="{y_of(1):.1f}" '
        f'stroke="{REFERENCE_COLOUR}" stroke-dasharray="5 4"/>'
    )
    if len(bins) >= 2:
        line = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y, _ in bins)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{MEASURED_COLOUR}" stroke-width="1.5"/>')
    largest = max(rows for _, _, rows in bins) or 1.0
    for x, y, rows in bins:
        radius = 3 + 5 * math.sqrt(rows / largest)  # area follows the bin's rows: a sparse bin's miss weighs less
        parts.append(
            f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="{radius:.1f}" fill="{MEASURED_COLOUR}" '
            f'fill-opacity="0.7"><title>{_e(f"mean score {_fmt(x)}, observed {_fmt(y)}, {_fmt(int(rows))} rows")}'
            "</title></circle>"
        )
    parts.append(
        _legend(
            left + size + 16,
            top + 4,
            [
                (_swatch_circle(MEASURED_COLOUR, hollow=False), "bin (size: rows)"),
                (_swatch_line(REFERENCE_COLOUR, dashed=True), "perfect calibration"),
            ],
        )
    )
    parts.append("</svg>")
    return f"<h3>{_e(title)}</h3>" + "".join(parts)


# ---- drift ----------------------------------------------------------------------------------------------------
class _FeatureRow(NamedTuple):
    name: str
    kind: str
    drifted: bool
    tests: Mapping[str, Mapping[str, Any]]  # statistic -> its test
    excess: float  # the largest value / threshold over its tests: how far over (or under) the line it is
    record: Mapping[str, Any]


def _feature_rows(drift: Mapping[str, Any]) -> list[_FeatureRow]:
    rows = []
    for feature in _records(drift.get("features")):
        tests = {str(t.get("statistic")): t for t in _records(feature.get("tests"))}
        ratios = [
            value / threshold
            for t in tests.values()
            if (value := _finite(t.get("value"))) is not None
            and (threshold := _finite(t.get("threshold"))) is not None
            and threshold > 0
        ]
        rows.append(
            _FeatureRow(
                name=str(feature.get("name", "")),
                kind=str(feature.get("kind") or ""),
                drifted=bool(feature.get("drifted")),
                tests=tests,
                excess=max(ratios, default=0.0),
                record=feature,
            )
        )
    # drifted first, then by how far over (or how close to) its threshold: the reader's order of concern
    return sorted(rows, key=lambda r: (not r.drifted, -r.excess, r.name))


def _drift(drift: Any, traffic: Mapping[str, Any]) -> str:
    title = "Per-feature drift against the version's reference (its test split)"
    if not isinstance(drift, Mapping):
        why = "no drift result was recorded for this window"
        if _finite(traffic.get("requests")) == 0:
            why += ": the window had no requests"
        return _section("drift", title, _not_available(why))
    rows = _feature_rows(drift)
    policy = _mapping(drift.get("policy"))
    drifted = _strings(drift.get("drifted"))
    summary = (
        f"<p>{_e(_count(drift.get('rows')))} rows; {len(rows)} features, {_e(_count(drift.get('tests')))} tests; "
        f"family-wise error rate {_e(_number_text(policy.get('alpha')))} ({_e(policy.get('correction') or 'holm')} "
        f"correction), floors PSI {_e(_number_text(policy.get('psi_floor')))} and KS "
        f"{_e(_number_text(policy.get('ks_floor')))}. "
        + (
            f'<strong style="color:{DRIFTED_COLOUR}">Drifted: {_e(", ".join(drifted))}</strong>'
            if drifted
            else "No feature drifted."
        )
        + "</p>"
    )
    body = [summary]
    if rows:
        body.append(_drift_chart(rows))
        body.append(_drift_table(rows))
    else:
        body.append(_not_available("the drift check compared no feature"))
    skipped = _strings(drift.get("skipped"))
    if skipped:
        body.append("<h3>Not compared</h3><ul>" + "".join(f"<li>{_e(s)}</li>" for s in skipped) + "</ul>")
    return _section("drift", title, "".join(body))


def _drift_chart(rows: Sequence[_FeatureRow]) -> str:
    """Two panels, PSI and KS, one row per feature: its value as a bar, its threshold as a black tick.

    Log scales: a drifted feature's PSI can be a hundred times its threshold and a quiet one's a hundredth, and both
    must stay readable on one chart."""
    name_w, panel_w, gap, top, row_h = 190, 360, 60, 34, 20
    bottom = 40
    width = name_w + 2 * panel_w + gap + 40
    height = top + row_h * len(rows) + bottom
    parts = [_svg_open(width, height, "Per-feature drift: PSI and KS against thresholds")]
    for index, row in enumerate(rows):
        y = top + index * row_h
        if row.drifted:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#ffebe9"/>')
        shown = row.name if len(row.name) <= MAX_NAME_CHARS else row.name[: MAX_NAME_CHARS - 1] + "…"
        weight = ' font-weight="700"' if row.drifted else ""
        parts.append(
            f'<text x="{name_w - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end"{weight}>'
            f"<title>{_e(row.name)}</title>{_e(shown)}</text>"
        )
    for panel, statistic in enumerate(("psi", "ks")):
        x0 = name_w + panel * (panel_w + gap)
        parts.append(_drift_panel(rows, statistic, x0, panel_w, top, row_h))
    legend_y = height - 14
    parts.append(
        _legend_row(
            name_w,
            legend_y,
            [
                (_swatch_bar(MEASURED_COLOUR), "value (within threshold)"),
                (_swatch_bar(DRIFTED_COLOUR), "value (drifted)"),
                (_swatch_tick(), "threshold: max(calibrated, floor)"),
            ],
        )
    )
    parts.append("</svg>")
    return "<h3>PSI and KS of each feature (log scale)</h3>" + "".join(parts)


def _drift_panel(
    rows: Sequence[_FeatureRow], statistic: str, x0: float, panel_w: float, top: float, row_h: float
) -> str:
    values = [
        v
        for r in rows
        for key in ("value", "threshold")
        if (v := _finite(_mapping(r.tests.get(statistic)).get(key))) is not None and v > 0
    ]
    plot_h = row_h * len(rows)
    parts = [
        f'<text x="{x0 + panel_w / 2:.1f}" y="{top - 20}" text-anchor="middle" font-weight="600">'
        f"{statistic.upper()}</text>"
    ]
    if not values:
        parts.append(
            f'<text x="{x0 + panel_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#57606a">'
            f"no {statistic.upper()} test recorded</text>"
        )
        return "".join(parts)
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values)))
    if high <= low:
        high = low * 10
    x_of = _log_scale(low, high, x0, x0 + panel_w)
    decade = low
    while decade <= high * 1.0001:
        x = x_of(decade)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{GRID_COLOUR}"/>'
            f'<text x="{x:.1f}" y="{top - 6}" text-anchor="middle" font-size="10">{_e(_tick_text(decade))}</text>'
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle" font-size="10">'
            f"{_e(_tick_text(decade))}</text>"
        )
        decade *= 10
    parts.append(_frame(x0, top, panel_w, plot_h))
    for index, row in enumerate(rows):
        y = top + index * row_h
        test = _mapping(row.tests.get(statistic))
        value, threshold = _finite(test.get("value")), _finite(test.get("threshold"))
        if not test or value is None:
            parts.append(
                f'<text x="{x0 + 6}" y="{y + row_h / 2 + 4:.1f}" fill="#57606a" font-size="10">'
                f"no {statistic.upper()} ({_e(row.kind or 'no test')})</text>"
            )
            continue
        colour = DRIFTED_COLOUR if test.get("drifted") else MEASURED_COLOUR
        end = x_of(max(value, low))
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(end - x0, 1.0):.1f}" height="{row_h - 8}" fill="{colour}">'
            f"<title>{_e(f'{row.name}: {statistic.upper()} {_fmt(value)}, threshold {_fmt(threshold)}')}</title>"
            "</rect>"
        )
        right = end
        if threshold is not None and threshold > 0:
            tx = x_of(threshold)
            right = max(right, tx + 1)
            parts.append(
                f'<line x1="{tx:.1f}" y1="{y + 1}" x2="{tx:.1f}" y2="{y + row_h - 1}" stroke="#1f2328" '
                'stroke-width="2.5"/>'
            )
        # the number right of the bar and the tick; inside the bar, in white, when no room is left of the frame
        inside = right + 48 > x0 + panel_w
        parts.append(
            f'<text x="{(end - 4 if inside else right + 4):.1f}" y="{y + row_h / 2 + 4:.1f}" '
            f'text-anchor="{"end" if inside else "start"}" font-size="10" fill="{"#fff" if inside else "#1f2328"}">'
            f"{_e(_number_text(value))}</text>"
        )
    return "".join(parts)


def _drift_table(rows: Sequence[_FeatureRow]) -> str:
    lines = [
        "<table><tr><th>Feature</th><th>Kind</th><th>PSI / threshold</th><th>KS / threshold</th>"
        "<th>Most moved</th><th>Missing</th><th>Verdict</th><th>Why</th></tr>"
    ]
    for row in rows:
        record = row.record
        cells = []
        for statistic in ("psi", "ks"):
            test = _mapping(row.tests.get(statistic))
            cells.append(
                f'<td class="num">{_e(_number_text(test.get("value")))} / '
                f"{_e(_number_text(test.get('threshold')))}</td>"
                if test
                else '<td class="muted">—</td>'
            )
        moved = (
            f"{record.get('worst_bin')}: {_percent(_finite(record.get('reference_share')))} → "
            f"{_percent(_finite(record.get('share')))}"
            if record.get("worst_bin") is not None
            else "—"
        )
        missing = (
            f"{_percent(_finite(record.get('reference_missing_share')))} → "
            f"{_percent(_finite(record.get('missing_share')))}"
        )
        badge = f'<span class="badge {"fail" if row.drifted else "pass"}">{"drifted" if row.drifted else "ok"}</span>'
        lines.append(
            f'<tr class="{"drifted" if row.drifted else ""}"><td class="mono">{_e(row.name)}</td>'
            f"<td>{_e(row.kind)}</td>{''.join(cells)}<td>{_e(moved)}</td><td>{_e(missing)}</td><td>{badge}</td>"
            f'<td class="why">{_e(record.get("why") or "")}</td></tr>'
        )
    lines.append("</table>")
    return "".join(lines)


# ---- the score histogram --------------------------------------------------------------------------------------
def _bin_labels(edges: Sequence[float], bins: int) -> list[str] | None:
    """Labels of the bins: `edges` bound them either closed (one fewer bin than edges) or open-ended at both sides
    (one more: (-inf, e0], ..., (e_last, inf), as the monitor's score_histogram counts them)."""
    if bins == len(edges) - 1:
        return [f"({_fmt(a)}, {_fmt(b)}]" for a, b in itertools.pairwise(edges)]
    if bins == len(edges) + 1 and edges:
        middle = [f"({_fmt(a)}, {_fmt(b)}]" for a, b in itertools.pairwise(edges)]
        return [f"≤ {_fmt(edges[0])}", *middle, f"> {_fmt(edges[-1])}"]
    return None


def _score_histogram(histogram: Mapping[str, Any]) -> str:
    title = "Score distribution: reference vs this window"
    edges = [e for e in (_finite(v) for v in _list(histogram.get("edges"))) if e is not None]
    reference = [_finite(v) or 0.0 for v in _list(histogram.get("reference"))]
    current = [_finite(v) or 0.0 for v in _list(histogram.get("current"))]
    if not histogram or not reference or not current:
        return _section("scores", title, _not_available("no score histogram was recorded for this window"))
    if len(reference) != len(current):
        return _section(
            "scores",
            title,
            _not_available(f"the reference has {len(reference)} bins and this window {len(current)}"),
        )
    labels = _bin_labels(edges, len(reference)) or [f"bin {i + 1}" for i in range(len(reference))]
    width, height = CHART_WIDTH, 300
    left, right, top, bottom = 56, 170, 14, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    y_ticks = _nice_ticks(0.0, max(max(reference), max(current), 0.01))
    y_of = _scale(0.0, y_ticks[-1], top + plot_h, top)
    slot = plot_w / len(reference)
    bar = slot * 0.38
    parts = [_svg_open(width, height, title), _y_grid(y_ticks, y_of, left, plot_w, percent=True)]
    for index, (ref, cur) in enumerate(zip(reference, current, strict=True)):
        x = left + index * slot + slot * 0.1
        for offset, share, colour, who in (
            (0.0, ref, REFERENCE_COLOUR, "reference"),
            (bar, cur, MEASURED_COLOUR, "this window"),
        ):
            y = y_of(share)
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{top + plot_h - y:.1f}" '
                f'fill="{colour}"><title>{_e(f"{labels[index]}: {who} {_percent(share)}")}</title></rect>'
            )
        parts.append(
            f'<text x="{left + (index + 0.5) * slot:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
            f'font-size="10">{_e(labels[index])}</text>'
        )
    parts.append(_frame(left, top, plot_w, plot_h))
    parts.append(_axis_labels(left, top, plot_w, plot_h, "model score (bins of the reference)", "share of rows"))
    parts.append(
        _legend(
            left + plot_w + 16,
            top + 4,
            [(_swatch_bar(REFERENCE_COLOUR), "reference (test split)"), (_swatch_bar(MEASURED_COLOUR), "this window")],
        )
    )
    parts.append("</svg>")
    return _section("scores", title, "".join(parts))


# ---- links ----------------------------------------------------------------------------------------------------
def _links(links: Mapping[str, Any]) -> str:
    names = {
        "report_json": "This report (JSON)",
        "report_html": "This report (HTML)",
        "evaluation": "Evaluation of the version",
        "training_report": "Training run report",
        "deployment": "Deployment",
    }
    rows = [(names.get(key, key), value) for key, value in links.items()]
    body = _definitions(rows) or _not_available("no links were recorded")
    return _section("links", "Links", body)


# ---- chart pieces ---------------------------------------------------------------------------------------------
def _svg_open(width: float, height: float, label: str) -> str:
    # no xmlns: inline SVG in HTML needs none, and the page then names no URL at all
    return (
        f'<svg width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{_e(label)}" font-size="11" font-family="sans-serif">'
    )


def _frame(left: float, top: float, width: float, height: float) -> str:
    return (
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" fill="none" '
        f'stroke="{REFERENCE_COLOUR}"/>'
    )


def _axis_labels(left: float, top: float, width: float, height: float, x_label: str, y_label: str) -> str:
    middle = top + height / 2
    return (
        f'<text x="{left + width / 2:.1f}" y="{top + height + 32:.1f}" text-anchor="middle">{_e(x_label)}</text>'
        f'<text x="14" y="{middle:.1f}" text-anchor="middle" transform="rotate(-90 14 {middle:.1f})">'
        f"{_e(y_label)}</text>"
    )


def _y_grid(
    ticks: Sequence[float], y_of: Callable[[float], float], left: float, width: float, percent: bool = False
) -> str:
    parts = []
    for tick in ticks:
        y = y_of(tick)
        text = f"{tick:.0%}" if percent else _tick_text(tick)
        parts.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{left + width:.1f}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>'
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{_e(text)}</text>'
        )
    return "".join(parts)


def _time_axis(low: float, high: float, x_of: Callable[[float], float], y: float) -> str:
    """Ticks at round times (a step from 5 minutes to a week), labelled in UTC."""
    span = high - low
    steps = [300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
    step = next((s for s in steps if span / s <= 8), steps[-1])
    fmt = "%H:%M" if span < 86400 and _day(low) == _day(high) else "%m-%d %H:%M"
    parts = []
    tick = math.ceil(low / step) * step
    while tick <= high:
        x = x_of(tick)
        label = datetime.fromtimestamp(tick, UTC).strftime(fmt)
        parts.append(
            f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}" stroke="{REFERENCE_COLOUR}"/>'
            f'<text x="{x:.1f}" y="{y + 15:.1f}" text-anchor="middle" font-size="10">{_e(label)}</text>'
        )
        tick += step
    return "".join(parts)


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def _legend(x: float, y: float, items: Sequence[tuple[str, str]]) -> str:
    parts = [f'<g transform="translate({x:.1f},{y:.1f})">']
    for index, (swatch, label) in enumerate(item for item in items if item[1]):  # an empty label: not on this chart
        parts.append(f'<g transform="translate(0,{index * 18})">{swatch}<text x="24" y="9">{_e(label)}</text></g>')
    parts.append("</g>")
    return "".join(parts)


def _legend_row(x: float, y: float, items: Sequence[tuple[str, str]]) -> str:
    parts = [f'<g transform="translate({x:.1f},{y - 9:.1f})">']
    offset = 0
    for swatch, label in items:
        parts.append(f'<g transform="translate({offset},0)">{swatch}<text x="24" y="9">{_e(label)}</text></g>')
        offset += 40 + 7 * len(label)
    parts.append("</g>")
    return "".join(parts)


def _swatch_circle(colour: str, hollow: bool) -> str:
    return f'<circle cx="9" cy="5" r="4.5" fill="{"none" if hollow else colour}" stroke="{colour}" stroke-width="2"/>'


def _swatch_line(colour: str, dashed: bool) -> str:
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return f'<line x1="0" y1="5" x2="18" y2="5" stroke="{colour}" stroke-width="1.5"{dash}/>'


def _swatch_band(colour: str) -> str:
    return f'<rect x="0" y="0" width="18" height="10" fill="{colour}" fill-opacity="0.15"/>'


def _swatch_bar(colour: str) -> str:
    return f'<rect x="0" y="0" width="18" height="10" fill="{colour}"/>'


def _swatch_tick() -> str:
    return '<line x1="9" y1="-2" x2="9" y2="12" stroke="#1f2328" stroke-width="2.5"/>'


def _scale(low: float, high: float, out_low: float, out_high: float) -> Callable[[float], float]:
    span = high - low or 1.0

    def at(value: float) -> float:
        return out_low + (value - low) / span * (out_high - out_low)

    return at


def _log_scale(low: float, high: float, out_low: float, out_high: float) -> Callable[[float], float]:
    log_low, log_span = math.log10(low), math.log10(high) - math.log10(low)

    def at(value: float) -> float:
        clamped = min(max(value, low), high)
        return out_low + (math.log10(clamped) - log_low) / log_span * (out_high - out_low)

    return at


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round ticks covering [low, high] (1, 2 or 5 times a power of ten apart), the first and last at or beyond."""
    if high <= low:
        pad = abs(low) * 0.1 or 0.1
        low, high = low - pad, high + pad
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    tick = first
    while tick < high + step * 0.999:
        ticks.append(round(tick, 10))
        tick += step
    return ticks if len(ticks) >= 2 else [first, first + step]


def _tick_text(value: float) -> str:
    return f"{value:g}"


# ---- values ---------------------------------------------------------------------------------------------------
def _not_available(why: str) -> str:
    return f'<p class="notice">Not available because {_e(why)}.</p>'


def _records(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list | tuple) else []


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _unique_strings(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _epoch(value: Any) -> float | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _count(value: Any) -> str | None:
    number = _finite(value)
    return None if number is None else f"{int(number):,}" if number == int(number) else _fmt(number)


def _number_text(value: Any) -> str:
    """A number at four significant digits, "—" for none, NaN or infinity: the page never shows "nan"."""
    number = _finite(value)
    return "—" if number is None else _fmt(number)


def _with_interval(value: Any, lower: Any, upper: Any) -> str:
    low, high = _finite(lower), _finite(upper)
    interval = f" [{_fmt(low)}, {_fmt(high)}]" if low is not None and high is not None else ""
    return _number_text(value) + interval


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.1%}"


def _pairs(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}: {_count(value) or '—'}" for name, value in counts.items())
