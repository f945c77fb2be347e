"""Evaluation processing job: scores the test split with the trained model and writes evaluation.json and plots.

`evaluation.json` follows SageMaker's model-quality metrics format (`binary_classification_metrics`), so a model
package or a pipeline condition can read it as it reads AWS's own; `roc.png` and `pr.png` go beside it, and
`smoke.json`: a few test rows as endpoint request bodies with their scores, for the deployment's smoke test
(`smoke_rows.py`).
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
from cd4ml_shared.smoke import SMOKE_FILE

from cd4ml_model.artifacts import MODEL_ARCHIVE, TrainedModel, load_model_dir
from cd4ml_model.files import PROCESSING_FAILURE_FILE, ModelJobError, read_parquet_folder, report_failure, write_json
from cd4ml_model.metrics import MetricInputError, evaluate_scores
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


def evaluate(model_dir: Path, test_dir: Path, output_dir: Path) -> dict[str, Any]:
    """Score the test set, write evaluation.json, the plots and the smoke rows, and return the evaluation
    document."""
    with tempfile.TemporaryDirectory(prefix="cd4ml-model-") as scratch:
        model = load_model_dir(extract_model(model_dir, Path(scratch)))
    table = read_parquet_folder(test_dir, "test")
    labels, x = labels_and_features(table, model)
    model.booster.set_param({"device": "cpu"})
    scores = model.booster.inplace_predict(x)
    try:
        document = evaluate_scores(labels, scores, model.threshold)
    except MetricInputError as error:
        raise EvaluationInputError(f"cannot evaluate the test set in {test_dir}: {error}") from error
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(document, output_dir / EVALUATION_FILE)
    write_json(smoke_document(labels, np.asarray(scores, dtype=np.float64), x, model.features), output_dir / SMOKE_FILE)
    plot_curves(document, output_dir)
    value = {name: m["value"] for name, m in document["binary_classification_metrics"].items() if "value" in m}
    print(
        f"test: {document['dataset']['rows']:,} rows, {document['dataset']['positives']:,} positive; "
        f"pr_auc {value['pr_auc']:.4f}, auc {value['auc']:.4f}; at threshold {model.threshold:.4f}: "
        f"precision {value['precision']:.4f}, recall {value['recall']:.4f}, f1 {value['f1']:.4f}",
        flush=True,
    )
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model-dir", default="/opt/ml/processing/input/model")
    parser.add_argument("--test-dir", default="/opt/ml/processing/input/test")
    parser.add_argument("--output-dir", default="/opt/ml/processing/output/evaluation")
    args = parser.parse_args(argv)
    try:
        evaluate(Path(args.model_dir), Path(args.test_dir), Path(args.output_dir))
    except ModelJobError as error:
        return report_failure(str(error), PROCESSING_FAILURE_FILE)
    return 0
