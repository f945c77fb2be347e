"""One monitoring run (issue 11 §2, docs/monitoring.md) as plain values: when it evaluates, which window, the
settings, the rows of the version in service, the report document (`report.json`), the breach and its episode, the
metrics it publishes and the notification it sends. The S3 and SageMaker side is `cd4ml_shared.aws.monitoring`.

A run evaluated at `now` measures two windows of inference time:
- the **evaluated window** `[now - start_offset, now - end_offset)`: labels had `end_offset` to arrive; quality
  (closed loop, with intervals), drift of the features and of the score (open loop) against the version's references;
- the **recent window** `[now - end_offset, now)`: labels have mostly not arrived; precision and recall are estimated
  from the calibrated scores (CBPE), so a drop shows before the chargebacks do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .environment import SettingsError, environment, required, whole_number

REPORT_VERSION = 1
REPORT_FILE = "report.json"
REPORT_HTML_FILE = "report.html"
HISTORY_FILE = "history.json"
HISTORY_KEPT = 30  # windows on the report's "quality over windows" plot, and the episode's memory
DETAIL_TYPE = "RetrainingRequested"
EVENT_SOURCE = "cd4ml.monitoring"


@dataclass(frozen=True)
class Window:
    """Inference times `[start, end)` evaluated at some moment, the label delay already waited for."""

    start: datetime
    end: datetime

    @classmethod
    def at(cls, now: datetime, start_offset: timedelta, end_offset: timedelta) -> Window:
        """The window Model Monitor's offsets describe (e.g. start 2 days, end 1 day before `now`): ValueError
        unless the start offset is the larger (the window would be empty or in the future)."""
        if end_offset < timedelta(0) or start_offset <= end_offset:
            raise ValueError(
                f"the start offset ({start_offset}) must be larger than the end offset ({end_offset}), "
                "and the end offset at least 0 (the time labels get to arrive)"
            )
        moment = now if now.tzinfo else now.replace(tzinfo=UTC)
        return cls(moment - start_offset, moment - end_offset)

    def name(self) -> str:
        """The window in a key: `<start>--<end>`, ISO basic format in UTC."""
        return f"{self.start.astimezone(UTC):%Y%m%dT%H%M%SZ}--{self.end.astimezone(UTC):%Y%m%dT%H%M%SZ}"


class MonitoringInputError(ValueError):
    """A monitoring request the run cannot act on (an evaluation time that is no time, offsets in the wrong order)."""


class NoBaseline(Exception):
    """The version in service has no evaluation or no references to compare a window with (registered before
    monitoring existed, or its run's files are gone)."""


@dataclass(frozen=True)
class MonitoringSettings:
    artifacts_bucket: str
    endpoint_name: str
    model_package_group: str
    start_offset: timedelta
    end_offset: timedelta
    notification_topic_arn: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> MonitoringSettings:
        env = environment(environ)
        start = timedelta(seconds=whole_number(env, "MONITOR_START_OFFSET_S"))
        end = timedelta(seconds=whole_number(env, "MONITOR_END_OFFSET_S"))
        if end < timedelta(0) or start <= end:
            raise SettingsError(
                f"MONITOR_START_OFFSET_S ({start.total_seconds():.0f}) must be larger than MONITOR_END_OFFSET_S "
                f"({end.total_seconds():.0f}), and that at least 0"
            )
        return cls(
            artifacts_bucket=required(env, "ARTIFACTS_BUCKET"),
            endpoint_name=required(env, "ENDPOINT_NAME"),
            model_package_group=required(env, "MODEL_PACKAGE_GROUP"),
            start_offset=start,
            end_offset=end,
            notification_topic_arn=env.get("NOTIFICATION_TOPIC_ARN", ""),
        )

    def report_prefix(self, window: Window) -> str:
        return f"monitoring/{self.endpoint_name}/{window.name()}/"

    @property
    def history_key(self) -> str:
        return f"monitoring/{self.endpoint_name}/{HISTORY_FILE}"


def evaluation_time(event: Mapping[str, Any], wall: datetime) -> datetime:
    """When the run evaluates: the schedule's occurrence (`time` of the Scheduled Event, so a late or replayed
    delivery measures the window it was meant for), an on-demand `{"at": "<ISO 8601>"}`, or else now."""
    raw = event.get("at") if isinstance(event, Mapping) else None
    if raw is None and isinstance(event, Mapping) and event.get("detail-type") == "Scheduled Event":
        raw = event.get("time")
    if raw is None:
        return wall.astimezone(UTC)
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise MonitoringInputError(f"the evaluation time {raw!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def windows(now: datetime, settings: MonitoringSettings) -> tuple[Window, Window]:
    """The evaluated window and the recent one (see the module's docstring)."""
    evaluated = Window.at(now, settings.start_offset, settings.end_offset)
    return evaluated, Window(evaluated.end, now)


def hourly_prefixes(root: str, since: datetime, until: datetime) -> list[str]:
    """The hourly partitions `<root>/dt=<date>/hour=<hh>/` from `since` to `until`, as the stream writers (feedback,
    decision log) name them by arrival."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour <= until:
        prefixes.append(f"{root}/dt={hour:%Y-%m-%d}/hour={hour:%H}/")
        hour += timedelta(hours=1)
    return prefixes


def ground_truth_prefixes(since: datetime, until: datetime) -> list[str]:
    """The partitions of `record_feedback` from `since` to `until`: a label arrives after its inference, so those
    of a window arrived from its start to the evaluation."""
    return hourly_prefixes("ground-truth", since, until)


def unjudged_quality(why: str) -> dict[str, Any]:
    """The quality section of a window that has requests but no label yet (nothing to measure, not an alarm)."""
    return {"labels": 0, "positives": 0, "judged": False, "why_not_judged": why, "metrics": {}, "degraded": []}


# ---- the breach ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Breach:
    reasons: tuple[dict[str, str], ...]
    episode: str | None

    @property
    def any(self) -> bool:
        return bool(self.reasons)

    @property
    def retraining_reason(self) -> str:
        """The `reason` of the RetrainingRequested event (a quality drop, measured or estimated, before drift)."""
        kinds = {r["kind"] for r in self.reasons}
        return "quality" if kinds & {"quality", "estimated_quality"} else "drift"

    def to_dict(self) -> dict[str, Any]:
        return {"any": self.any, "episode": self.episode, "reasons": list(self.reasons)}


def breach_of(
    quality: Mapping[str, Any] | None,
    estimate: Mapping[str, Any] | None,
    drift: Mapping[str, Any] | None,
    window: Window,
    previous: Mapping[str, Any] | None,
    version: int,
) -> Breach:
    """The reasons to act, and the episode they belong to: the episode of the previous window when it breached too
    (for the same version), otherwise this window's name. Every window of one drift episode then names the same
    episode, and the retraining guard starts one run for it."""
    reasons: list[dict[str, str]] = []
    for kind, section in (("quality", quality), ("estimated_quality", estimate)):
        if section and section.get("judged"):
            for name in section.get("degraded") or []:
                reasons.append({"kind": kind, "name": name, "why": str(section["metrics"][name]["why"])})
    if drift:
        for feature in drift.get("features") or []:
            if feature.get("drifted"):
                reasons.append({"kind": "drift", "name": str(feature["name"]), "why": str(feature.get("why", ""))})
    if not reasons:
        return Breach((), None)
    episode = window.name()
    if previous and previous.get("model_version") == version:
        earlier = previous.get("breach") or {}
        if earlier.get("any") and earlier.get("episode"):
            episode = str(earlier["episode"])
    return Breach(tuple(reasons), episode)


def history_entry(report: Mapping[str, Any]) -> dict[str, Any]:
    """What the history keeps of a report: enough for the quality-over-windows plot and the next episode."""
    return {key: report.get(key) for key in ("window", "model_version", "quality", "estimate", "breach", "links")}


def updated_history(history: Sequence[Mapping[str, Any]], report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The history with this window's entry (a window measured again replaces its entry), oldest first."""
    name = report["window"]["name"]
    kept = [dict(entry) for entry in history if (entry.get("window") or {}).get("name") != name]
    kept.append(history_entry(report))
    kept.sort(key=lambda entry: str((entry.get("window") or {}).get("end", "")))
    return kept[-HISTORY_KEPT:]


def previous_of(history: Sequence[Mapping[str, Any]], window: Window) -> Mapping[str, Any] | None:
    """The latest entry of a window that ended before this one ends (the window before, in a schedule)."""
    end = window.end.isoformat()
    earlier = [e for e in history if str((e.get("window") or {}).get("end", "")) < end]
    return earlier[-1] if earlier else None


# ---- metrics and the notification ----------------------------------------------------------------------------
def metric_values(report: Mapping[str, Any]) -> list[tuple[str, float, dict[str, str]]]:
    """(name, value, extra dimensions) of every figure the run publishes as an EMF metric."""
    values: list[tuple[str, float, dict[str, str]]] = []
    traffic = report.get("traffic") or {}
    values.append(("MonitoredRequests", float(traffic.get("requests", 0)), {}))
    if traffic.get("label_rate") is not None:
        values.append(("LabelRate", float(traffic["label_rate"]), {}))
    for section, prefix in ((report.get("quality"), "Quality"), (report.get("estimate"), "EstimatedQuality")):
        for name, metric in ((section or {}).get("metrics") or {}).items():
            if metric.get("value") is not None:
                values.append((prefix, float(metric["value"]), {"Metric": name}))
    for feature in (report.get("drift") or {}).get("features") or []:
        for test in feature.get("tests") or []:
            if test.get("value") is not None and math.isfinite(float(test["value"])):
                statistic = "Psi" if test["statistic"] == "psi" else "Ks"
                values.append((f"Drift{statistic}", float(test["value"]), {"Feature": str(feature["name"])}))
    breach = report.get("breach") or {}
    values.append(("MonitoringBreach", 1.0 if breach.get("any") else 0.0, {}))
    return values


def notification(report: Mapping[str, Any], html_uri: str) -> tuple[str, str]:
    """Subject (at most 100 characters, as SNS requires) and body of the breach notification."""
    breach = report["breach"]
    kinds = sorted({r["kind"] for r in breach["reasons"]})
    subject = f"cd4ml monitoring: {', '.join(kinds)} on {report['endpoint']} v{report['model_version']}"[:100]
    lines = [
        f"Endpoint {report['endpoint']}, model version {report['model_version']}, window {report['window']['name']}.",
        f"Episode: {breach['episode']}.",
        "",
        *(f"- {r['kind']}: {r['why']}" for r in breach["reasons"]),
        "",
        f"Report: {html_uri}",
        "Retraining has been requested; the retraining guard decides whether a run starts.",
    ]
    return subject, "\n".join(lines)


def retraining_detail(report: Mapping[str, Any], breach: Breach, report_uri: str) -> dict[str, Any]:
    """The detail of the `RetrainingRequested` event (source `cd4ml.monitoring`) for a breach."""
    return {
        "reason": breach.retraining_reason,
        "model_package_group": report["model_package_group"],
        "episode": breach.episode,
        "endpoint_name": report["endpoint"],
        "model_version": report["model_version"],
        "windows": [report["window"]["name"]],
        "report_uri": report_uri,
        "why": "; ".join(f"{r['kind']} {r['name']}" for r in breach.reasons)[:2000],
    }
