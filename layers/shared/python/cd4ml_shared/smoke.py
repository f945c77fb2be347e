"""The deployment's smoke test with score parity, as plain values: where a model's smoke rows live, what smoke.json
holds, how an endpoint's answer is read, and the comparison with the evaluation's scores. A 200 OK proves little;
equal scores on the model's own test rows prove the endpoint parses and orders the features as the evaluation did.
The reads and the InvokeEndpoint calls are in `aws.smoke`."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import SmokeTestFailed, SmokeTestUnavailable

SMOKE_FILE = "smoke.json"  # beside evaluation.json (model/cd4ml_model/smoke_rows.py writes it)
SMOKE_FORMAT = "cd4ml.smoke/1"
TOLERANCE = 1e-6
_SHOWN_BODY = 200


def smoke_uri_of(evaluation_uri: str) -> str:
    """smoke.json beside a registered version's evaluation.json (the evaluation job's output folder)."""
    folder, _, _ = evaluation_uri.rpartition("/")
    if not folder.startswith("s3://") or len(folder) <= len("s3://"):
        raise SmokeTestUnavailable(f"the evaluation URI {evaluation_uri!r} is not an S3 object URI")
    return f"{folder}/{SMOKE_FILE}"


@dataclass(frozen=True)
class SmokeRow:
    test_row: int
    label: int | None
    score: float


@dataclass(frozen=True)
class SmokeRequest:
    """One InvokeEndpoint request: a batch body of all the smoke rows, in their order."""

    content_type: str
    accept: str
    body: str


@dataclass(frozen=True)
class SmokeRows:
    uri: str
    rows: tuple[SmokeRow, ...]
    requests: tuple[SmokeRequest, ...]


def smoke_rows_of(document: Any, uri: str) -> SmokeRows:
    """The rows and requests of a smoke.json; `SmokeTestUnavailable` naming the file when it is not one."""
    try:
        if not isinstance(document, Mapping) or document.get("format") != SMOKE_FORMAT:
            raise ValueError(f"format is not {SMOKE_FORMAT!r}")
        rows = tuple(
            SmokeRow(test_row=int(r["test_row"]), label=r.get("label"), score=float(r["score"]))
            for r in document["rows"]
        )
        requests = tuple(
            SmokeRequest(content_type=str(q["content_type"]), accept=str(q["accept"]), body=str(q["body"]))
            for q in document["requests"]
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SmokeTestUnavailable(f"{uri} is not a smoke file: {type(error).__name__}: {error}") from None
    if not rows or not requests:
        raise SmokeTestUnavailable(f"{uri} has {len(rows)} rows and {len(requests)} requests: nothing to test")
    if not all(math.isfinite(row.score) for row in rows):
        raise SmokeTestUnavailable(f"{uri} holds a score that is not a finite number")
    return SmokeRows(uri=uri, rows=rows, requests=requests)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a score")
    return float(value)


def _json_scores(text: str) -> list[float]:
    document = json.loads(text)
    predictions = document.get("predictions") if isinstance(document, dict) else document
    if not isinstance(predictions, list):
        raise ValueError('expected {"predictions": [...]} or a list of scores')
    # {"score": p, ...} (this project's inference.py and SageMaker's XGBoost container) or bare numbers
    return [_float(p["score"] if isinstance(p, dict) else p) for p in predictions]


def _csv_scores(text: str) -> list[float]:
    # one "score[,label]" line per row
    return [_float(row[0]) for row in csv.reader(io.StringIO(text)) if row]


def parse_scores(body: bytes, content_type: str) -> list[float]:
    """The scores of an endpoint's answer: JSON (`{"predictions": [{"score": p}, ...]}`, or a list of numbers or of
    such objects) or CSV (one `score[,label]` line per row). `SmokeTestFailed` when it does not read: an answer the
    callers cannot parse is the kind of bug the smoke test is for."""
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
        if kind in ("text/csv", "text/plain"):
            return _csv_scores(text)
        return _json_scores(text)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        shown = body[:_SHOWN_BODY].decode("utf-8", "replace")
        raise SmokeTestFailed(
            f"the endpoint's {content_type or 'untyped'} answer does not read as scores "
            f"({type(error).__name__}: {error}): {shown!r}"
        ) from None


@dataclass(frozen=True)
class Comparison:
    """Expected against got for one request: the largest absolute difference and the row it is on."""

    request: SmokeRequest
    max_abs_diff: float
    worst: int  # index into the smoke rows
    got: float
    differing: int

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= TOLERANCE


def compare(rows: Sequence[SmokeRow], scores: Sequence[float], request: SmokeRequest, endpoint: str) -> Comparison:
    """Compare an endpoint's scores with the evaluation's, row by row (a NaN score differs infinitely);
    `SmokeTestFailed` when it answered another number of scores than rows sent."""
    if len(scores) != len(rows):
        raise SmokeTestFailed(
            f"smoke test of endpoint {endpoint} failed: it answered {len(scores)} scores for the {len(rows)} rows "
            f"of the {request.content_type} request"
        )
    diffs = [math.inf if math.isnan(g) else abs(g - row.score) for row, g in zip(rows, scores, strict=True)]
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    return Comparison(
        request=request,
        max_abs_diff=diffs[worst],
        worst=worst,
        got=scores[worst],
        differing=sum(d > TOLERANCE for d in diffs),
    )


@dataclass(frozen=True)
class SmokeReport:
    endpoint: str
    rows: int
    comparisons: tuple[Comparison, ...]

    @property
    def max_abs_diff(self) -> float:
        return max(c.max_abs_diff for c in self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        """The smoke test task's result (the deployment workflow's contract)."""
        return {"passed": True, "rows": self.rows, "max_abs_diff": self.max_abs_diff}


def judge(smoke: SmokeRows, comparisons: Sequence[Comparison], endpoint: str) -> SmokeReport:
    """The report when every request's scores are within `TOLERANCE`; else `SmokeTestFailed` naming the worst row,
    expected and got."""
    failed = [c for c in comparisons if not c.passed]
    if failed:
        c = max(failed, key=lambda c: c.max_abs_diff)
        row = smoke.rows[c.worst]
        raise SmokeTestFailed(
            f"smoke test of endpoint {endpoint} failed: row {c.worst} (test row {row.test_row}, label {row.label}) "
            f"scored {c.got!r} for the {c.request.content_type} request, the evaluation {row.score!r} "
            f"(|diff| {c.max_abs_diff:.3g} > {TOLERANCE:g}); {c.differing} of {len(smoke.rows)} rows differ; "
            f"rows from {smoke.uri}"
        )
    return SmokeReport(endpoint=endpoint, rows=len(smoke.rows), comparisons=tuple(comparisons))
