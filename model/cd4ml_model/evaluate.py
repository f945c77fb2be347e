"""Evaluation processing job: scores the test split with the trained model and writes evaluation.json and plots.

`evaluation.json` follows SageMaker's model-quality metrics format (`binary_classification_metrics`), so a model
package or a pipeline condition can read it as it reads AWS's own; `roc.png` and `pr.png` go beside it, and
`smoke.json`: a few test rows as endpoint request bodies with their scores, for the deployment's smoke test
(`smoke_rows.py`). Beside the point values, `sampling_intervals` holds each metric's bootstrap interval over the
test rows, and when the job is given the champion's model (`--champion-dir`), `champion_comparison` holds both
models' scores on these same rows, their difference and its paired bootstrap interval: what the gate decides on.
"""

from __future__ import annotations

import argparse
import math
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cd4ml_shared.monitoring_features import MONITORING_REFERENCE_FILE, monitoring_reference
from cd4ml_shared.smoke import SMOKE_FILE

from cd4ml_model.artifacts import MODEL_ARCHIVE, TrainedModel, load_model_dir
from cd4ml_model.files import PROCESSING_FAILURE_FILE, ModelJobError, read_parquet_folder, report_failure, write_json
from cd4ml_model.metrics import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    MetricInputError,
    evaluate_scores,
    paired_comparison,
    sampling_intervals,
)
from cd4ml_model.smoke_rows import smoke_document

EVALUATION_FILE = "evaluation.json"
ROC_PLOT = "roc.png"
PR_PLOT = "pr.png"


class EvaluationInputError(ModelJobError):
    """The test set lacks the label or a feature the model needs, or has labels the metrics cannot use."""


def extract_model(folder: Path, into: Path) -> Path:
    """The folder holding the model files: `into` after extracting `model.tar.gz` when `folder` has one, else
    `folder` itself."""
    archive = folder / MODEL_ARCHIVE
    if not archive.is_file():
        return folder
    with archive.open("rb") as handle, tarfile.open(fileobj=handle, mode="r:gz") as tar:
        tar.extractall(into, filter="data")  # "data": no absolute paths, links out or devices from an archive
    return into


def labels_and_features(table: pa.Table, model: TrainedModel) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The label and the model's features, in the model's order, of a test table (extra columns are ignored)."""
    missing = [name for name in (model.label, *model.features) if name not in table.column_names]
    if missing:
        raise EvaluationInputError(f"the test set lacks column(s) the model needs: {missing[:10]}")
    labels = pc.fill_null(table.column(model.label).cast(pa.float64()), math.nan).to_numpy()
    x = np.empty((table.num_rows, len(model.features)), dtype=np.float32)
    for index, name in enumerate(model.features):
        x[:, index] = pc.fill_null(table.column(name).cast(pa.float32()), math.nan).to_numpy()
    return labels, x


def plot_curves(document: dict[str, Any], output_dir: Path) -> bool:
    """ROC and precision-recall curves as small PNGs (a Figure without pyplot: no global state, no GUI backend).

    An image without matplotlib still evaluates: the curves are in evaluation.json, and the run report draws them
    itself. Returns whether the images were written."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed in this image: no roc.png / pr.png (the curves are in evaluation.json)")
        return False

    metrics = document["binary_classification_metrics"]
    roc = metrics["receiver_operating_characteristic_curve"]
    pr = metrics["precision_recall_curve"]
    plots = (
        (ROC_PLOT, roc["false_positive_rates"], roc["true_positive_rates"], "False positive rate", "True positive rate",
         f"ROC curve (AUC {metrics['auc']['value']:.3f})", True),
        (PR_PLOT, pr["recalls"], pr["precisions"], "Recall", "Precision",
         f"Precision-recall curve (AP {metrics['pr_auc']['value']:.3f})", False),
    )  # fmt: skip
    for name, xs, ys, x_label, y_label, title, diagonal in plots:
        figure = Figure(figsize=(5, 4), dpi=100)
        axes = figure.subplots()
        axes.plot(xs, ys, linewidth=1.5)
        if diagonal:
            axes.plot([0, 1], [0, 1], linestyle="--", linewidth=0.8, color="grey")
        axes.set(xlabel=x_label, ylabel=y_label, title=title, xlim=(0, 1), ylim=(0, 1.02))
        axes.grid(alpha=0.3)
        figure.tight_layout()
        with (output_dir / name).open("wb") as handle:
            figure.savefig(handle, format="png")
    return True


def _load(model_dir: Path) -> TrainedModel:
    with tempfile.TemporaryDirectory(prefix="cd4ml-model-") as scratch:
        model = load_model_dir(extract_model(model_dir, Path(scratch)))
    model.booster.set_param({"device": "cpu"})
    return model


def champion_comparison(
    table: pa.Table,
    labels: np.ndarray[Any, Any],
    challenger: tuple[np.ndarray[Any, Any], float],
    champion_dir: Path,
    champion_arn: str | None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Any]:
    """The champion scored on the challenger's test rows and the paired comparison of the two.

    A champion that cannot be scored here (its archive does not load, or it needs a column these rows lack) gives
    a section that says why and no metrics: the gate then falls back to the champion's recorded figures, and the
    reason is in the report."""
    section: dict[str, Any] = {
        "champion_model_package_arn": champion_arn,
        "rows": len(labels),
        "positives": int(np.nansum(labels)),
        "resamples": resamples,
        "confidence": CONFIDENCE,
        "seed": BOOTSTRAP_SEED,
    }
    try:
        champion = _load(champion_dir)
        _, x = labels_and_features(table, champion)
    except ModelJobError as error:
        print(f"the champion cannot be scored on these rows: {error}", flush=True)
        return {**section, "error": str(error)}
    section["metrics"] = paired_comparison(
        labels, challenger, (champion.predict(x), champion.threshold), resamples=resamples
    )
    return section


def _has_model(folder: Path | None) -> bool:
    return folder is not None and folder.is_dir() and any(folder.iterdir())


def evaluate(
    model_dir: Path,
    test_dir: Path,
    output_dir: Path,
    champion_dir: Path | None = None,
    champion_arn: str | None = None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Any]:
    """Score the test set, write evaluation.json, the plots and the smoke rows, and return the evaluation
    document. With a champion's model folder, the champion is scored on the same rows too (`champion_comparison`)."""
    model = _load(model_dir)
    table = read_parquet_folder(test_dir, "test")
    labels, x = labels_and_features(table, model)
    scores = model.predict(x)
    try:
        document = evaluate_scores(labels, scores, model.threshold)
        intervals = sampling_intervals(labels, scores, model.threshold, resamples=resamples)
    except MetricInputError as error:
        raise EvaluationInputError(f"cannot evaluate the test set in {test_dir}: {error}") from error
    for name, interval in intervals.items():
        document["binary_classification_metrics"][name]["standard_deviation"] = interval["standard_deviation"]
    document["sampling_intervals"] = {
        "resamples": resamples,
        "confidence": CONFIDENCE,
        "seed": BOOTSTRAP_SEED,
        "method": "stratified percentile bootstrap of the test rows",
        "metrics": {name: {"lower": i["lower"], "upper": i["upper"]} for name, i in intervals.items()},
    }
    if _has_model(champion_dir):
        assert champion_dir is not None
        document["champion_comparison"] = champion_comparison(
            table, labels, (scores, model.threshold), champion_dir, champion_arn, resamples=resamples
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(document, output_dir / EVALUATION_FILE)
    write_json(smoke_document(labels, np.asarray(scores, dtype=np.float64), x, model.features), output_dir / SMOKE_FILE)
    # the monitor's drift reference: the watched features and the served scores of these held-out rows
    write_json(monitoring_reference(model.features, x, scores, labels), output_dir / MONITORING_REFERENCE_FILE)
    plot_curves(document, output_dir)
    value = {name: m["value"] for name, m in document["binary_classification_metrics"].items() if "value" in m}
    pr = document["sampling_intervals"]["metrics"]["pr_auc"]
    print(
        f"test: {document['dataset']['rows']:,} rows, {document['dataset']['positives']:,} positive; "
        f"pr_auc {value['pr_auc']:.4f} [{pr['lower']:.4f}, {pr['upper']:.4f}], auc {value['auc']:.4f}; "
        f"at threshold {model.threshold:.4f}: "
        f"precision {value['precision']:.4f}, recall {value['recall']:.4f}, f1 {value['f1']:.4f}",
        flush=True,
    )
    compared = document.get("champion_comparison", {}).get("metrics", {}).get("pr_auc")
    if compared:
        print(
            f"champion on the same rows: pr_auc {compared['champion']:.4f}; challenger - champion "
            f"{compared['difference']:+.4f} [{compared['lower']:+.4f}, {compared['upper']:+.4f}]",
            flush=True,
        )
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model-dir", default="/opt/ml/processing/input/model")
    parser.add_argument("--test-dir", default="/opt/ml/processing/input/test")
    parser.add_argument("--output-dir", default="/opt/ml/processing/output/evaluation")
    parser.add_argument("--champion-dir", default="/opt/ml/processing/input/champion")
    parser.add_argument("--champion-arn", default=None)
    args = parser.parse_args(argv)
    try:
        evaluate(
            Path(args.model_dir), Path(args.test_dir), Path(args.output_dir), Path(args.champion_dir), args.champion_arn
        )
    except ModelJobError as error:
        return report_failure(str(error), PROCESSING_FAILURE_FILE)
    return 0
