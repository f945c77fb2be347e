"""The smoke rows of a model: a few test-split rows as the endpoint's request bodies, with the evaluation's scores.

The deployment's smoke test sends these bodies to the new endpoint and requires the evaluation's scores back, so a
feature-order or serialisation bug fails the deployment instead of serving wrong scores with a 200. The bodies are
written in both formats `inference.input_fn` accepts: CSV rows in features.json order and JSON instances by feature
name. Values are written as the float32 the evaluation scored (repr of the exact float64), a missing value as an
empty CSV cell or a JSON null, so the endpoint parses the same matrix the evaluation predicted on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from cd4ml_shared.smoke import SMOKE_FORMAT

SMOKE_ROWS = 20
_ACCEPT = "application/json"


def choose_rows(
    labels: np.ndarray[Any, Any], scores: np.ndarray[Any, Any], x: np.ndarray[Any, Any], count: int
) -> list[int]:
    """Deterministic test-row indices: the highest and lowest scores, positives and negatives spread over the split,
    rows with a missing value (the null path of both parsers), then evenly spaced rows up to `count`. Rows with an
    infinite value are left out: JSON cannot carry them."""
    usable = ~np.isinf(x).any(axis=1)
    candidates = np.flatnonzero(usable)
    by_score = candidates[np.argsort(scores[candidates], kind="stable")]
    quarter = max(count // 5, 1)
    positives = candidates[labels[candidates] == 1]
    negatives = candidates[labels[candidates] == 0]
    with_missing = candidates[np.isnan(x[candidates]).any(axis=1)]
    picks = [
        *by_score[::-1][:quarter],
        *by_score[:quarter],
        *_spread(positives, quarter),
        *_spread(negatives, quarter),
        *_spread(with_missing, max(quarter // 2, 1)),
        *_spread(candidates, count),
    ]
    chosen: list[int] = []
    for index in picks:
        if int(index) not in chosen:
            chosen.append(int(index))
        if len(chosen) == count:
            break
    return sorted(chosen)


def _spread(indices: np.ndarray[Any, Any], count: int) -> list[int]:
    """`count` indices evenly spaced over `indices` (all of them when there are fewer)."""
    if len(indices) <= count:
        return [int(i) for i in indices]
    return [int(indices[int(p)]) for p in np.linspace(0, len(indices) - 1, count)]


def _value(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def csv_body(x: np.ndarray[Any, Any]) -> str:
    """Rows of feature values in the model's order, no header; an empty cell for a missing value."""
    return "".join(",".join("" if math.isnan(v) else repr(float(v)) for v in row.tolist()) + "\n" for row in x)


def json_body(x: np.ndarray[Any, Any], features: Sequence[str]) -> str:
    """{"instances": [{feature: value or null}, ...]}: by name, so the server's own feature order is exercised."""
    instances = [{name: _value(v) for name, v in zip(features, row.tolist(), strict=True)} for row in x]
    return json.dumps({"instances": instances}, allow_nan=False)


def smoke_document(
    labels: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any],
    x: np.ndarray[Any, Any],
    features: Sequence[str],
    count: int = SMOKE_ROWS,
) -> dict[str, Any]:
    """smoke.json: the chosen rows (test-split index, label, the evaluation's score as float64) and one request per
    content type, each a batch body of all the rows in the same order."""
    chosen = choose_rows(labels, scores, x, count)
    rows = x[chosen]
    return {
        "format": SMOKE_FORMAT,
        "features": list(features),
        "rows": [
            {"test_row": index, "label": _label(labels[index]), "score": float(scores[index])} for index in chosen
        ],
        "requests": [
            {"content_type": "text/csv", "accept": _ACCEPT, "body": csv_body(rows)},
            {"content_type": "application/json", "accept": _ACCEPT, "body": json_body(rows, features)},
        ],
    }


def _label(value: float) -> int | None:
    return None if math.isnan(value) else int(value)
