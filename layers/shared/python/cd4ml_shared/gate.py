"""The evaluation gate: a challenger must clear the stage's thresholds and be no worse than the champion (the latest
approved version in the model package group) beyond a tolerance. Plain values in, a decision with reasons out.

A test split is a sample, and its metrics move by several points between draws of similar data, so the gate judges
intervals, not point values. The champion check is paired: the evaluation job scores the champion on the
challenger's own test rows and bootstraps the difference (`champion_comparison` in evaluation.json); the challenger
fails only when it is confidently worse by more than the tolerance (the interval of challenger - champion lies
wholly beyond -tolerance). A minimum or maximum fails only when the metric's bootstrap interval over the test rows
(`sampling_intervals`) lies wholly on the wrong side of the bound. Without those sections (an evaluation from before
them, or a champion that could not be scored on these rows) the gate compares point values as it always did."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# Which way is better for the metrics of SageMaker's model-quality formats (the report reads these too).
HIGHER_IS_BETTER = frozenset({"pr_auc", "auc", "precision", "recall", "f1", "accuracy"})
LOWER_IS_BETTER = frozenset(
    {"brier_score", "log_loss", "logloss", "mse", "rmse", "mae", "false_positive_rate", "false_negative_rate"}
)
GATE_METRICS = HIGHER_IS_BETTER | LOWER_IS_BETTER


class GateConfigError(ValueError):
    """The gate's configuration names an unknown metric or a bound that is not a number."""


class EvaluationFormatError(ValueError):
    """An evaluation document lacks the metrics the gate needs."""


@dataclass(frozen=True)
class GatePolicy:
    minimums: Mapping[str, float] = field(default_factory=dict)  # metric -> lowest acceptable value
    maximums: Mapping[str, float] = field(default_factory=dict)  # metric -> highest acceptable value
    champion_metric: str = "pr_auc"  # the metric compared with the champion's
    tolerance: float = 0.01  # how much worse than the champion a challenger may be

    def __post_init__(self) -> None:
        for metric in self.minimums:
            if metric not in GATE_METRICS:
                raise GateConfigError(f"unknown gate metric {metric!r}")
        for metric in self.maximums:
            if metric not in GATE_METRICS:
                raise GateConfigError(f"unknown gate metric {metric!r}")
        if self.champion_metric not in GATE_METRICS:
            raise GateConfigError(f"unknown champion metric {self.champion_metric!r}")
        if not self.tolerance >= 0:
            raise GateConfigError(f"the champion tolerance must be >= 0, got {self.tolerance!r}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> GatePolicy:
        """GATE_MIN_<METRIC> / GATE_MAX_<METRIC> bounds, GATE_CHAMPION_METRIC and GATE_CHAMPION_TOLERANCE."""
        env = os.environ if environ is None else environ

        def number(name: str, raw: str) -> float:
            try:
                return float(raw)
            except ValueError:
                raise GateConfigError(f"{name} must be a number, got {raw!r}") from None

        minimums = {
            k[len("GATE_MIN_") :].lower(): number(k, v) for k, v in env.items() if k.startswith("GATE_MIN_") and v
        }
        maximums = {
            k[len("GATE_MAX_") :].lower(): number(k, v) for k, v in env.items() if k.startswith("GATE_MAX_") and v
        }
        tolerance = env.get("GATE_CHAMPION_TOLERANCE") or "0.01"
        return cls(
            minimums=minimums,
            maximums=maximums,
            champion_metric=(env.get("GATE_CHAMPION_METRIC") or "pr_auc").lower(),
            tolerance=number("GATE_CHAMPION_TOLERANCE", tolerance),
        )


@dataclass(frozen=True)
class Champion:
    model_package_arn: str
    metrics: Mapping[str, float] | None  # None when its evaluation could not be read


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of challenger and champion on the same test rows, for one metric."""

    metric: str
    champion_model_package_arn: str | None
    challenger: float
    champion: float
    difference: float  # challenger - champion
    lower: float  # the difference's bootstrap interval
    upper: float
    confidence: float
    resamples: int
    rows: int


@dataclass(frozen=True)
class Check:
    metric: str
    value: float | None
    bound: float
    kind: str  # "minimum", "maximum" or "champion"
    passed: bool
    # the interval the check judged: the metric's over the test rows (minimum, maximum) or, for the champion, of the
    # challenger's value that the paired difference's interval implies; None when the check used the point value
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]
    checks: list[Check]
    metrics: dict[str, float]
    champion: Champion | None
    tolerance: float
    comparison: Comparison | None = None  # None: no champion, or compared with its recorded figures
    notes: list[str] = field(default_factory=list)  # how the decision was made, where it is not the usual way

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["thresholds"] = {
            f"{c.kind}:{c.metric}": c.bound for c in self.checks if c.kind in ("minimum", "maximum")
        }
        return document


def metrics_of(evaluation: Mapping[str, Any]) -> dict[str, float]:
    """The scalar metrics of an evaluation.json in SageMaker's binary-classification model-quality format."""
    section = evaluation.get("binary_classification_metrics")
    if not isinstance(section, Mapping):
        raise EvaluationFormatError("evaluation has no binary_classification_metrics section")
    metrics: dict[str, float] = {}
    for name, entry in section.items():
        if isinstance(entry, Mapping) and isinstance(entry.get("value"), int | float):
            metrics[name] = float(entry["value"])
    return metrics


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def intervals_of(evaluation: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """The bootstrap interval of each metric over the test rows (`sampling_intervals`); empty when it has none."""
    section = evaluation.get("sampling_intervals")
    metrics = section.get("metrics") if isinstance(section, Mapping) else None
    if not isinstance(metrics, Mapping):
        return {}
    intervals: dict[str, tuple[float, float]] = {}
    for name, entry in metrics.items():
        if isinstance(entry, Mapping):
            lower, upper = _finite(entry.get("lower")), _finite(entry.get("upper"))
            if lower is not None and upper is not None and lower <= upper:
                intervals[str(name)] = (lower, upper)
    return intervals


def comparison_of(evaluation: Mapping[str, Any], metric: str) -> Comparison | None:
    """The paired comparison with the champion for `metric` (`champion_comparison`), or None when the evaluation
    has none or it lacks that metric (the champion could not be scored on these rows)."""
    section = evaluation.get("champion_comparison")
    if not isinstance(section, Mapping) or not isinstance(section.get("metrics"), Mapping):
        return None
    entry = section["metrics"].get(metric)
    if not isinstance(entry, Mapping):
        return None
    numbers = {k: _finite(entry.get(k)) for k in ("challenger", "champion", "difference", "lower", "upper")}
    values = {k: v for k, v in numbers.items() if v is not None}
    if len(values) != len(numbers) or values["lower"] > values["upper"]:
        return None
    arn = section.get("champion_model_package_arn")
    return Comparison(
        metric=metric,
        champion_model_package_arn=arn if isinstance(arn, str) and arn else None,
        confidence=_finite(section.get("confidence")) or 0.95,
        resamples=int(_finite(section.get("resamples")) or 0),
        rows=int(_finite(section.get("rows")) or 0),
        **values,
    )


def model_data_of(package: Mapping[str, Any]) -> str | None:
    """The model archive a registered version serves (its first container's ModelDataUrl), or None."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    url = containers[0].get("ModelDataUrl") if containers and isinstance(containers[0], Mapping) else None
    return url if isinstance(url, str) and url else None


def comparison_metadata(gate: Mapping[str, Any]) -> dict[str, str]:
    """A gate decision's paired comparison as model package metadata (CustomerMetadataProperties): both scores on
    the same rows, the difference and its interval, and the champion compared with."""
    comparison = gate.get("comparison")
    if not isinstance(comparison, Mapping):
        return {}
    metric = str(comparison.get("metric"))
    properties = {
        f"gate:{metric}:{name}": repr(float(comparison[name]))
        for name in ("challenger", "champion", "difference", "lower", "upper")
        if _finite(comparison.get(name)) is not None
    }
    if comparison.get("champion_model_package_arn"):
        properties["gate:champion"] = str(comparison["champion_model_package_arn"])[:1024]
    return properties


def decide(
    challenger: Mapping[str, float],
    policy: GatePolicy,
    champion: Champion | None,
    *,
    intervals: Mapping[str, tuple[float, float]] | None = None,
    comparison: Comparison | None = None,
) -> GateDecision:
    """The decision. `intervals`: each metric's sampling interval over the test rows (the bounds are judged with
    them where given); `comparison`: the paired comparison with `champion` on the same rows (the champion check is
    decided with it where given, else with the champion's recorded value)."""
    checks: list[Check] = []
    reasons: list[str] = []
    notes: list[str] = []
    spread = intervals or {}

    def value_of(metric: str) -> float | None:
        value = challenger.get(metric)
        return None if value is None or math.isnan(value) else value

    for metric, bound in policy.minimums.items():
        value, interval = value_of(metric), spread.get(metric)
        # Below the minimum only when even the interval's upper end is: a noisy test split must not fail a model.
        judged = interval[1] if interval is not None and value is not None else value
        ok = judged is not None and judged >= bound
        checks.append(Check(metric, value, bound, "minimum", ok, interval if value is not None else None))
        if not ok:
            reasons.append(f"{metric} {_show(value, interval)} is below the minimum {bound:g}")
    for metric, bound in policy.maximums.items():
        value, interval = value_of(metric), spread.get(metric)
        judged = interval[0] if interval is not None and value is not None else value
        ok = judged is not None and judged <= bound
        checks.append(Check(metric, value, bound, "maximum", ok, interval if value is not None else None))
        if not ok:
            reasons.append(f"{metric} {_show(value, interval)} is above the maximum {bound:g}")
    paired = comparison if comparison is not None and comparison.metric == policy.champion_metric else None
    if champion is not None and paired is not None:
        check, reason = _paired_check(paired, policy.tolerance, champion.model_package_arn)
        checks.append(check)
        if reason:
            reasons.append(reason)
    elif champion is not None:
        notes.append(
            f"the champion was not scored on the challenger's rows: compared with its recorded "
            f"{policy.champion_metric} from its own test split"
        )
        metric = policy.champion_metric
        reference = None if champion.metrics is None else champion.metrics.get(metric)
        if reference is None:
            # Without the champion's number the comparison cannot be made; refusing is the safe side.
            checks.append(Check(metric, value_of(metric), math.nan, "champion", False))
            reasons.append(f"champion {champion.model_package_arn} has no readable {metric}; cannot compare")
        else:
            lower_is_better = metric in LOWER_IS_BETTER
            bound = reference + policy.tolerance if lower_is_better else reference - policy.tolerance
            value = value_of(metric)
            ok = value is not None and (value <= bound if lower_is_better else value >= bound)
            checks.append(Check(metric, value, bound, "champion", ok))
            if not ok:
                reasons.append(
                    f"{metric} {_show(value)} is worse than the champion's {reference:.4f} "
                    f"beyond the tolerance {policy.tolerance:g} ({champion.model_package_arn})"
                )
    return GateDecision(
        passed=not reasons,
        reasons=reasons,
        checks=checks,
        metrics=dict(challenger),
        champion=champion,
        tolerance=policy.tolerance,
        comparison=paired if champion is not None else None,
        notes=notes,
    )


def _paired_check(comparison: Comparison, tolerance: float, champion_arn: str) -> tuple[Check, str | None]:
    """The champion check on the same rows: worse only when the whole interval of the difference is worse than the
    tolerance. The check is expressed on the challenger's value (bound: the lowest value, for higher-is-better
    metrics, that the interval's width lets pass), so the report can show it beside the other checks."""
    c = comparison
    if c.metric in LOWER_IS_BETTER:
        ok = c.lower <= tolerance
        bound = c.champion + tolerance + (c.difference - c.lower)
    else:
        ok = c.upper >= -tolerance
        bound = c.champion - tolerance - (c.upper - c.difference)
    check = Check(c.metric, c.challenger, bound, "champion", ok, (c.champion + c.lower, c.champion + c.upper))
    if ok:
        return check, None
    return check, (
        f"{c.metric} {c.challenger:.4f} is worse than the champion's {c.champion:.4f} on the same {c.rows:,} rows "
        f"beyond the tolerance {tolerance:g}: difference {c.difference:+.4f}, {c.confidence:.0%} interval "
        f"[{c.lower:+.4f}, {c.upper:+.4f}] ({champion_arn})"
    )


def _show(value: float | None, interval: tuple[float, float] | None = None) -> str:
    if value is None:
        return "missing"
    if interval is None:
        return f"{value:.4f}"
    return f"{value:.4f} (interval {interval[0]:.4f} to {interval[1]:.4f})"
