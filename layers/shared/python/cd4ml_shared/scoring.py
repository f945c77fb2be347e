"""Batch scoring, as plain values: the run's names and files, the model in service (and how it is found), the batch
transform request, and how the transform's answer is joined back to the orders and turned into decisions.

A file uploaded under `scoring/<dataset>/<date>/<file>` is validated (label optional), its features are built by the
feature job in scoring mode, a SageMaker batch transform scores them with the model in service, and
`scores/<dataset>/<date>/<stem>.parquet` gets one row per order: `order_id, score, decision, model_version`. The
S3 and SageMaker calls are in `aws.scoring`; the state machine is statemachines/batch_inference.asl.json.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .decisions import Decision, DecisionRules, Thresholds, decide
from .environment import environment, required, whole_number
from .errors import PipelineError
from .job_security import JobSecurity
from .jobs import TRANSFORM_KIND
from .layout import DATA_FORMATS, SCORING_PREFIX, RunLayout

if TYPE_CHECKING:  # run_input is pydantic: only the functions that parse a payload pay its import
    from .run_input import DatasetRef

SCORES_PREFIX = "scores/"
# Where a scoring run keeps its files under runs/<run id>/ (the feature job's outputs: jobs.scoring_features_request)
FEATURES = "scoring/features/"
META = "scoring/meta/"
TRANSFORM = "scoring/transform/"
FEATURES_FILE = "features.csv"  # the transform's one input object; its answer is features.csv.out
ORDER_IDS_FILE = "order_ids.parquet"
SUMMARY_FILE = "scoring/summary.json"
OUTCOME_FILE = "scoring/outcome.json"
CONTENT_TYPE = "text/csv"  # rows of feature values in features.json order (the inference handler's CSV)
_RUN_ID_PREFIX = "score-"
_DECISIONS: tuple[Decision, ...] = ("approve", "review", "decline")


class NoModelInService(PipelineError):
    """Neither the endpoint serves a model nor is any version of the group approved: there is nothing to score
    with. The message names the endpoint and the group."""


class TransformOutputMismatch(PipelineError):
    """The transform's answer does not hold one `score,label` line per order: the join would put a score beside
    another order. The message says how many of each, and the first line that does not parse."""


def scoring_run_id(dataset: DatasetRef) -> str:
    """The scoring run's execution name: `score-<dataset>-<date>-<digest of the object version>`, so a duplicated
    upload event finds the name taken (as the training pipeline's); at most 80 characters."""
    from .run_input import execution_name

    return _RUN_ID_PREFIX + execution_name(dataset)


def scores_key(dataset: DatasetRef) -> str:
    """`scoring/<dataset>/<date>/<file>.csv|.csv.gz|.parquet` -> `scores/<dataset>/<date>/<file>.parquet`."""
    if not dataset.key.startswith(SCORING_PREFIX):
        raise ValueError(f"{dataset.uri} is not a file under {SCORING_PREFIX}")
    relative = dataset.key[len(SCORING_PREFIX) :]
    lower = relative.lower()
    for suffix in DATA_FORMATS:
        if lower.endswith(suffix):
            return f"{SCORES_PREFIX}{relative[: -len(suffix)]}.parquet"
    return f"{SCORES_PREFIX}{relative}.parquet"


def transform_job_name(job_prefix: str, attempt: int) -> str:
    """A new name for each attempt (SageMaker never reuses one), in the stack's job-name space (`<prefix>-batch-N`,
    no longer than a training run's `-features-N`)."""
    return f"{job_prefix}-{TRANSFORM_KIND}-{attempt}"


@dataclass(frozen=True)
class ModelInService:
    """The model a scoring run uses: the one the endpoint serves (its config's model), or, with no endpoint, the
    latest approved version's, created under the name the deployment workflow would give it."""

    model_name: str
    model_version: int
    model_package_arn: str
    source: str  # "endpoint" or "registry"
    thresholds: Thresholds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "thresholds": self.thresholds.to_dict()}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ModelInService:
        """From the scoring_model task's result (the state machine's `$.model`)."""
        return cls(**{**document, "thresholds": Thresholds(**document["thresholds"])})


@dataclass(frozen=True)
class ScoringSettings:
    """What the scoring functions read from their environment (template.yaml)."""

    artifacts_bucket: str
    endpoint_name: str
    model_package_group: str
    role_arn: str
    instance_type: str
    max_runtime: int
    rules: DecisionRules
    token_table: str = ""  # the transform's starter stores its task token there
    notification_topic_arn: str = ""
    stage: str = ""
    # a failed run's jobs are stopped only for a running execution of this state machine, within this stack's names
    state_machine_arn: str = ""
    job_name_prefix: str = ""
    security: JobSecurity = field(default_factory=JobSecurity)  # the transform's key; its model's VPC and isolation

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ScoringSettings:
        env = environment(environ)
        return cls(
            artifacts_bucket=required(env, "ARTIFACTS_BUCKET"),
            endpoint_name=required(env, "ENDPOINT_NAME"),
            model_package_group=required(env, "MODEL_PACKAGE_GROUP"),
            role_arn=env.get("SAGEMAKER_ROLE_ARN", ""),
            instance_type=env.get("TRANSFORM_INSTANCE_TYPE") or "ml.m5.xlarge",
            max_runtime=whole_number(env, "PROCESSING_MAX_RUNTIME", 3600),
            rules=DecisionRules(
                review_below=float(env.get("REVIEW_BELOW") or 0.0),
                decline_above=float(env.get("DECLINE_ABOVE") or 0.0),
            ),
            token_table=env.get("TOKEN_TABLE", ""),
            notification_topic_arn=env.get("NOTIFICATION_TOPIC_ARN", ""),
            stage=env.get("STAGE", ""),
            state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
            job_name_prefix=env.get("JOB_NAME_PREFIX", ""),
            security=JobSecurity.from_environment(env),
        )

    @property
    def tags(self) -> dict[str, str]:
        return {"cd4ml:stage": self.stage} if self.stage else {}


def transform_request(
    settings: ScoringSettings, name: str, layout: RunLayout, model_name: str, *, tags: Mapping[str, str]
) -> dict[str, Any]:
    """CreateTransformJob over the feature job's CSV: lines in, one `score,label` line out per order, in order
    (`AssembleWith: Line`), so the answer joins back to the orders by position; the stack's key on its output and
    volume."""
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model_name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": layout.uri(FEATURES)}},
            "ContentType": CONTENT_TYPE,
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": layout.uri(TRANSFORM), "Accept": CONTENT_TYPE, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": settings.instance_type, "InstanceCount": 1},
        "Environment": {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"},
        "Tags": [{"Key": k, "Value": v} for k, v in {**tags, "cd4ml:run": layout.run_id}.items()],
    }
    return settings.security.secure_transform(request)


def transform_output_key(layout: RunLayout) -> str:
    return layout.key(f"{TRANSFORM}{FEATURES_FILE}.out")


def parse_transform_output(text: str, orders: int) -> tuple[list[float], list[int]]:
    """The scores and labels of the transform's `text/csv` answer (`score,label` per line, in the orders' order);
    `TransformOutputMismatch` when a line does not parse or the count differs from `orders`."""
    fast = _plain_transform_output(text)
    if fast is not None:
        scores, labels = fast
        if len(scores) != orders:
            raise TransformOutputMismatch(f"the transform answered {len(scores):,} rows for {orders:,} orders")
        return scores, labels
    return _parse_transform_lines(text, orders)


def _plain_transform_output(text: str) -> tuple[list[float], list[int]] | None:
    """An answer of plain `score,label` lines read by pyarrow in C (about 6x faster than a float() per line, to the
    same float64: both parsers round correctly), or None when it is anything else (other columns, text, a score
    that is no finite number): the line-by-line reader then names the first bad line."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pa_csv
    except ImportError:  # a runtime without pyarrow: the line-by-line reader
        return None
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(text.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=["score", "label"]),
            parse_options=pa_csv.ParseOptions(ignore_empty_lines=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={"score": pa.float64(), "label": pa.int64()},
                null_values=[],
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    score, label = table.column("score"), table.column("label")
    if score.null_count or label.null_count or not pc.all(pc.is_finite(score)).as_py():
        return None
    return score.to_pylist(), label.to_pylist()


def _parse_transform_lines(text: str, orders: int) -> tuple[list[float], list[int]]:
    scores: list[float] = []
    labels: list[int] = []
    for number, line in enumerate(io.StringIO(text), start=1):
        line = line.strip()
        if not line:
            continue
        score_text, _, label_text = line.partition(",")
        try:
            score, label = float(score_text), int(label_text)
        except ValueError:
            shown = line[:200]
            raise TransformOutputMismatch(f"transform output line {number} is not 'score,label': {shown!r}") from None
        if not math.isfinite(score):
            raise TransformOutputMismatch(f"transform output line {number} has a score that is no number: {line!r}")
        scores.append(score)
        labels.append(label)
    if len(scores) != orders:
        raise TransformOutputMismatch(f"the transform answered {len(scores):,} rows for {orders:,} orders")
    return scores, labels


def decisions_of(scores: Sequence[float], thresholds: Thresholds) -> list[Decision]:
    """The real-time path's rules (`decisions.decide`) for every score: one definition of approve/review/decline."""
    return [decide(score, thresholds) for score in scores]


def summary(
    *,
    run_id: str,
    dataset: DatasetRef,
    scores_uri: str,
    model: ModelInService,
    decisions: Sequence[Decision],
    scores: Sequence[float],
    seconds: float | None = None,
) -> dict[str, Any]:
    """What a scoring run reports (beside its files and in its notification): counts, never data."""
    counts = {name: 0 for name in _DECISIONS}
    for decision in decisions:
        counts[decision] += 1
    return {
        "run_id": run_id,
        "source": {"uri": dataset.uri, "version_id": dataset.version_id},
        "scores_uri": scores_uri,
        "rows": len(decisions),
        "decisions": counts,
        "mean_score": (sum(scores) / len(scores)) if scores else None,
        "model": model.to_dict(),
        "seconds": seconds,
    }


def outcome(status: str, state: Mapping[str, Any], *, execution_arn: str) -> dict[str, Any]:
    """A scoring run's outcome from the state machine's data: its summary when scored, the validation's reason when
    quarantined, the error when it failed; URIs and counts only."""
    validation = state.get("validation") or {}
    document: dict[str, Any] = {
        "status": status,
        "run_id": state.get("run_id"),
        "execution_arn": execution_arn,
        "source": (state.get("dataset") or {}).get("key"),
    }
    if status == "succeeded":
        document["summary"] = state.get("scores")
    elif status == "quarantined":
        document |= {
            "reason": validation.get("reason"),
            "summary": validation.get("summary"),
            "quarantine_uri": validation.get("quarantine_uri"),
            "report_uri": validation.get("report_uri"),
        }
    else:
        error = state.get("error") or {}
        document |= {"error": error.get("Error"), "cause": str(error.get("Cause") or "")[:4000]}
    return document


def notification(status: str, run_id: str, document: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(subject, message) of a scoring run's SNS notification; the subject fits SNS's 100 characters."""
    subject = f"cd4ml batch scoring {status}: {run_id}"[:100]
    return subject, {"kind": "batch_scoring", "status": status, "run_id": run_id, **document}
