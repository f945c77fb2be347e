"""Inference handler for SageMaker endpoints and batch transform: model_fn, input_fn, predict_fn and output_fn.

Requests carry feature values (the training features, by name in JSON, in features.json order in CSV). The serving
toolkit calls `input_fn(body, content_type)` without the model, so input_fn parses and checks the body's shape and
values, and predict_fn, which has the model, puts them in its feature order: a feature name the model does not know
is reported there (UnknownFeaturesError, a ValueError). A score at or above the operating threshold is labelled 1.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cd4ml_model.artifacts import TrainedModel, load_model_dir

JSON = "application/json"
CSV = "text/csv"
MODEL_VERSION_VARIABLE = "CD4ML_MODEL_VERSION"  # set by the deployment workflow on the model it creates


def _model_version() -> int | None:
    """The registry version this container serves (the deployment's CreateModel sets it), or None."""
    raw = os.environ.get(MODEL_VERSION_VARIABLE, "").strip()
    return int(raw) if raw.isdigit() else None


class InvalidRequest(ValueError):
    """A request body that does not parse, or holds a value that is not a number."""


class UnsupportedContentType(ValueError):
    """A content type or accept type this handler does not speak."""


class UnknownFeaturesError(ValueError):
    """A JSON instance names features the model does not have."""


@dataclass(frozen=True)
class Batch:
    """A parsed request: JSON records by feature name, or positional rows (CSV, or JSON lists) in the model's order."""

    records: list[dict[str, float]] | None = None
    rows: np.ndarray[Any, np.dtype[np.float32]] | None = None

    def __len__(self) -> int:
        if self.records is not None:
            return len(self.records)
        return 0 if self.rows is None else len(self.rows)

    def matrix(self, features: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The values as a float32 matrix in `features` order; NaN for a feature an instance leaves out."""
        if self.records is None:
            rows = self.rows if self.rows is not None else np.empty((0, len(features)), dtype=np.float32)
            if rows.shape[1] != len(features):
                raise InvalidRequest(
                    f"rows have {rows.shape[1]} values but the model takes {len(features)} features "
                    "(in the order of features.json)"
                )
            return rows
        position = {name: index for index, name in enumerate(features)}
        unknown = sorted({name for record in self.records for name in record} - position.keys())
        if unknown:
            raise UnknownFeaturesError(
                f"unknown feature name(s) {unknown[:20]}; the model's features are {list(features)}"
            )
        x = np.full((len(self.records), len(features)), np.nan, dtype=np.float32)
        for row, record in enumerate(self.records):
            for name, value in record.items():
                x[row, position[name]] = value
        return x


@dataclass(frozen=True)
class Prediction:
    scores: np.ndarray[Any, np.dtype[np.float64]]
    labels: np.ndarray[Any, np.dtype[np.int64]]


def _base_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _number(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    raise InvalidRequest(f"{where}: expected a number, true/false or null, got {value!r}")


def _json_batch(text: str) -> Batch:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidRequest(f"the body is not valid JSON: {error}") from None
    instances = document.get("instances") if isinstance(document, dict) else document
    if not isinstance(instances, list):
        raise InvalidRequest('expected {"instances": [...]} or a list of instances, got ' + type(document).__name__)
    if instances and all(isinstance(i, list) for i in instances):
        return Batch(rows=_rows([[_number(v, f"instance {r}") for v in i] for r, i in enumerate(instances)]))
    records = []
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise InvalidRequest(f"instance {index} is a {type(instance).__name__}; expected an object of features")
        records.append({str(k): _number(v, f"instance {index}, feature {k!r}") for k, v in instance.items()})
    return Batch(records=records)


def _rows(values: list[list[float]]) -> np.ndarray[Any, np.dtype[np.float32]]:
    widths = sorted({len(row) for row in values})
    if len(widths) > 1:
        raise InvalidRequest(f"rows have different numbers of values: {widths}")
    return np.array(values, dtype=np.float32).reshape(len(values), widths[0] if widths else 0)


def _csv_cell(cell: str, line: int) -> float:
    text = cell.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InvalidRequest(f"CSV line {line}: {cell!r} is not a number (feature values only, no header)") from None


# A CSV body of plain numbers and empty cells (what batch transform and the decide function send): pyarrow's reader
# parses it in C, about 5x faster than a float() per cell, to the same float64 values (both round correctly).
# Anything else (signs of text, quotes, spaces, ragged rows) takes the row-by-row path and its precise errors.
_PLAIN_NUMBERS = re.compile(r"[0-9eE+\-.,\r\n]*")


def _csv_batch(text: str) -> Batch:
    if _PLAIN_NUMBERS.fullmatch(text):
        fast = _plain_csv_rows(text)
        if fast is not None:
            return Batch(rows=fast)
    reader = csv.reader(io.StringIO(text))
    values = [[_csv_cell(cell, number) for cell in row] for number, row in enumerate(reader, start=1) if row]
    return Batch(rows=_rows(values))


def _plain_csv_rows(text: str) -> np.ndarray[Any, np.dtype[np.float32]] | None:
    """The rows of a CSV of plain numbers (an empty cell is NaN) read by pyarrow; None when pyarrow is not there or
    does not read it (the caller's row-by-row path then says what is wrong). Every column is read as float64 (the
    first line gives their number: the body holds no quotes), so no type is inferred, and each goes straight into
    its column of the float32 matrix, without a float64 matrix between."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:  # an image without pyarrow: the row-by-row path
        return None
    newline = text.find("\n")
    width = (text if newline < 0 else text[:newline]).count(",") + 1
    names = [f"f{index}" for index in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(text.encode("ascii")),
            read_options=pa_csv.ReadOptions(column_names=names),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.float64()), null_values=[""], strings_can_be_null=False
            ),
        )
        rows = np.empty((table.num_rows, width), dtype=np.float32)
        for index, column in enumerate(table.columns):
            rows[:, index] = column.to_numpy(zero_copy_only=False)  # a null is NaN; float64 to float32 rounds
    except (pa.ArrowException, ValueError, TypeError):
        return None
    if not table.num_rows:
        return np.empty((0, 0), dtype=np.float32)
    return rows


def _csv_lines(prediction: Prediction) -> str:
    """One `score,label` line per row. pyarrow writes a batch in C, about 4x faster than a repr() per row, each
    score as its shortest round-trip text as repr() does (digits the same; the notation may differ: `1e-05` is
    `0.00001`, `1.0` is `1`), so every score parses back to the very float64; without pyarrow, repr() per row."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:  # an image without pyarrow
        pairs = zip(prediction.scores.tolist(), prediction.labels.tolist(), strict=True)
        return "".join(f"{s!r},{label}\n" for s, label in pairs)
    if len(prediction.scores) != len(prediction.labels):
        raise ValueError(f"{len(prediction.scores)} scores but {len(prediction.labels)} labels")
    table = pa.table(
        {
            "score": np.ascontiguousarray(prediction.scores, dtype=np.float64),
            "label": np.ascontiguousarray(prediction.labels, dtype=np.int64),
        }
    )
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    return sink.getvalue().to_pybytes().decode("ascii")


def model_fn(model_dir: str) -> TrainedModel:
    """The booster, its features, its operating threshold and its score calibration (xgboost-model.json,
    features.json, operating_point.json, calibration.json)."""
    model = load_model_dir(model_dir)
    model.booster.set_param({"device": "cpu"})  # requests arrive as numpy on the host
    return model


def input_fn(body: str | bytes, content_type: str) -> Batch:
    """Parse `application/json` ({"instances": [{feature: value}, ...]} or a list of such objects) or `text/csv`
    (rows of feature values in features.json order, no header)."""
    kind = _base_type(content_type) or JSON
    if kind not in (JSON, CSV):
        raise UnsupportedContentType(f"content type {content_type!r} is not supported; send {JSON} or {CSV}")
    try:
        text = bytes(body).decode("utf-8") if isinstance(body, bytes | bytearray) else body
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"the {kind} body is not UTF-8 text: {error}") from None
    return _json_batch(text) if kind == JSON else _csv_batch(text)


def predict_fn(data: Batch, model: TrainedModel) -> Prediction:
    """Fraud probabilities (calibrated on the validation split), and labels at the model's operating threshold."""
    x = data.matrix(model.features)
    if len(x) == 0:
        return Prediction(scores=np.empty(0), labels=np.empty(0, dtype=np.int64))
    scores = model.predict(x)  # calibrated when the model has a calibration, as evaluation scored it
    return Prediction(scores=scores, labels=(scores >= model.threshold).astype(np.int64))


def output_fn(prediction: Prediction, accept: str) -> tuple[str, str]:
    """`application/json`: {"predictions": [{"score": p, "label": 0|1}, ...]}, with "model_version": N when the
    container knows its registry version (a caller learns which fleet answered during a blue/green update);
    `text/csv`: one "score,label" line per row. Returns the body and its content type."""
    kind = _base_type(accept)
    pairs = zip(prediction.scores.tolist(), prediction.labels.tolist(), strict=True)
    if kind in (JSON, "", "*/*"):
        document: dict[str, Any] = {"predictions": [{"score": s, "label": label} for s, label in pairs]}
        version = _model_version()
        if version is not None:
            document["model_version"] = version
        return json.dumps(document), JSON
    if kind == CSV:
        return _csv_lines(prediction), CSV
    raise UnsupportedContentType(f"accept type {accept!r} is not supported; ask for {JSON} or {CSV}")


__all__ = [
    "Batch",
    "InvalidRequest",
    "Prediction",
    "UnknownFeaturesError",
    "UnsupportedContentType",
    "input_fn",
    "model_fn",
    "output_fn",
    "predict_fn",
]
