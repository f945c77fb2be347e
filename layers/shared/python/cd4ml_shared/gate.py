"""The evaluation gate: a challenger must clear the stage's thresholds and be no worse than the champion (the latest
approved version in the model package group) beyond a tolerance. Plain values in, a decision with reasons out."""

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
class Check:
    metric: str
    value: float | None
    bound: float
    kind: str  # "minimum", "maximum" or "champion"
    passed: bool


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]
    checks: list[Check]
    metrics: dict[str, float]
    champion: Champion | None
    tolerance: float

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


def decide(challenger: Mapping[str, float], policy: GatePolicy, champion: Champion | None) -> GateDecision:
    checks: list[Check] = []
    reasons: list[str] = []

    def value_of(metric: str) -> float | None:
        value = challenger.get(metric)
        return None if value is None or math.isnan(value) else value

    for metric, bound in policy.minimums.items():
        value = value_of(metric)
        ok = value is not None and value >= bound
        checks.append(Check(metric, value, bound, "minimum", ok))
        if not ok:
            reasons.append(f"{metric} {_show(value)} is below the minimum {bound:g}")
    for metric, bound in policy.maximums.items():
        value = value_of(metric)
        ok = value is not None and value <= bound
        checks.append(Check(metric, value, bound, "maximum", ok))
        if not ok:
            reasons.append(f"{metric} {_show(value)} is above the maximum {bound:g}")
    if champion is not None:
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
    )


def _show(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4f}"
