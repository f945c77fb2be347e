"""The inference handler's `text/csv` answer is written by pyarrow in batches: every score must parse back to the
very float64 the model gave (repr()'s digits, not always its notation: `1e-05` is written `0.00001`), labels as they
were, one line per row, and the batch-scoring join (`scoring.parse_transform_output`) must read it."""

from __future__ import annotations

import numpy as np
from cd4ml_model.inference import Prediction, output_fn
from cd4ml_shared.scoring import parse_transform_output

# the awkward ones: zero, one, the smallest subnormal, where repr() switches to exponents, float32 scores as float64
EDGES = [0.0, 1.0, 5e-324, 1e-5, 9.999999999999999e-5, 1e-4, 0.1, 0.30000001192092896, 1e16, 123456.0, 2.5e-308]


def prediction(scores: np.ndarray) -> Prediction:
    return Prediction(scores=scores, labels=(scores >= 0.5).astype(np.int64))


def repr_lines(p: Prediction) -> list[str]:
    """The answer as it was written before the fast path: a repr() per row."""
    return [f"{s!r},{label}" for s, label in zip(p.scores.tolist(), p.labels.tolist(), strict=True)]


def test_every_score_of_the_csv_answer_parses_back_to_the_models_own_float64() -> None:
    rng = np.random.default_rng(3)
    scores = np.concatenate(
        [
            np.array(EDGES),
            rng.random(50_000) ** 12,  # many tiny scores, where the notations differ
            rng.random(50_000).astype(np.float32).astype(np.float64),  # what XGBoost's float32 scores become
            rng.uniform(0, 1, 10_000),
        ]
    )
    p = prediction(scores)

    body, content_type = output_fn(p, "text/csv")

    assert content_type == "text/csv" and body.endswith("\n")
    lines = body.splitlines()
    expected = repr_lines(p)
    assert len(lines) == len(expected)
    for line, old in zip(lines, expected, strict=True):
        score, label = line.split(",")
        old_score, old_label = old.split(",")
        assert float(score).hex() == float(old_score).hex() and label == old_label, (line, old)
    assert [line.split(",")[0] for line in lines[:4]] == ["0", "1", "5e-324", "0.00001"]


def test_the_batch_scoring_join_reads_the_csv_answer_to_the_same_scores_and_labels() -> None:
    scores = np.random.default_rng(4).random(20_000) ** 6
    p = prediction(scores)

    parsed, labels = parse_transform_output(output_fn(p, "text/csv")[0], orders=len(scores))

    assert parsed == scores.tolist() and labels == p.labels.tolist()


def test_an_empty_prediction_answers_an_empty_csv_body() -> None:
    assert output_fn(prediction(np.empty(0)), "text/csv") == ("", "text/csv")
