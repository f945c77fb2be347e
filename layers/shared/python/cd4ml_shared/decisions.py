"""Real-time decisions (`POST /decisions`), as plain values: the order a request carries, the model's request and
answer, the rules that turn a score into approve / review / decline, the `Decision Made` event and the HTTP answers,
the bad days included. The DynamoDB, SageMaker and EventBridge calls are in `aws.decisions`.

Standard library only (plus the contract and the feature definition): the decide function imports this on its
cold start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .contract import ORDERS, DatasetContract
from .environment import SettingsError, environment, required, whole_number

Decision = Literal["approve", "review", "decline"]
DECISION_SOURCE = "cd4ml.decisions"
DECISION_DETAIL_TYPE = "Decision Made"
MODEL_CONTENT_TYPE = "text/csv"  # positional rows in features.json order; an empty cell is a missing value
MODEL_ACCEPT = "application/json"
_SHOWN = 200


class InvalidOrder(ValueError):
    """A request that is not one well-formed order: `field` names the order field at fault (None: the body)."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"order field {field!r}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class DecisionUnavailable(Exception):
    """No decision can be made right now, but one may be in a moment: the endpoint is missing or not in service,
    SageMaker throttles, or the customer's state is contended. Answered 503 with `Retry-After`."""


class ModelFailed(Exception):
    """The model erred on the order, or answered something that is not one finite score. Answered 502."""


class DecisionNotPublished(Exception):
    """EventBridge did not take the `Decision Made` event: the action was not performed (answered 500)."""


class OrderConflict(Exception):
    """An order id that was decided already, sent again with other field values (answered 409): a retry must send
    the same order, and a new order needs a new id."""

    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"order {order_id!r} was decided already with other field values; a retry must send the same order, "
            "a new order a new order_id"
        )
        self.order_id = order_id


# ---- the order ----------------------------------------------------------------------------------------------------
def request_body(event: Mapping[str, Any]) -> str | None:
    """The text body of an API Gateway payload format 2.0 event (`events/http_api_request.json`): base64-decoded
    when `isBase64Encoded`; InvalidOrder when that is not UTF-8 text."""
    body = event.get("body")
    if body is None or not event.get("isBase64Encoded"):
        return body if isinstance(body, str) or body is None else str(body)
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise InvalidOrder(None, f"the body is not UTF-8 JSON text: {error}") from None


def parse_order(body: str | None, contract: DatasetContract = ORDERS) -> dict[str, Any]:
    """The order of a request body: a JSON object with every raw field of the contract but the label, each of the
    contract's type and within its bounds and categories. Fields the contract does not know are ignored (a client
    may send its own); the label is refused (a decision request that knows it is a client bug or a leak)."""
    if not body:
        raise InvalidOrder(None, "the request has no body; send the order as a JSON object")
    try:
        order = json.loads(body)
    except ValueError as error:
        raise InvalidOrder(None, f"the body is not JSON: {error}") from None
    if not isinstance(order, dict):
        raise InvalidOrder(None, f"the body is a JSON {type(order).__name__}; send the order as a JSON object")
    label = contract.label.name
    if label in order:
        raise InvalidOrder(label, "the label is not part of a decision request")
    for column in contract.columns:
        if column.role == "label":
            continue
        if column.name not in order:
            raise InvalidOrder(column.name, "missing")
        _check_value(column.name, order[column.name], contract)
    return order


def _check_value(name: str, value: Any, contract: DatasetContract) -> None:
    column = contract.column(name)
    if value is None:
        if not column.nullable:
            raise InvalidOrder(name, "null, but a value is required")
        return
    kind = column.dtype
    if kind in ("string", "category", "timestamp"):
        if not isinstance(value, str) or not value.strip():
            raise InvalidOrder(name, f"expected non-empty text, got {_shown(value)}")
        if kind == "category" and value not in (column.categories or ()):
            raise InvalidOrder(name, f"{value!r} is not one of {list(column.categories or ())}")
        if kind == "timestamp":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise InvalidOrder(name, f"{value!r} is not an ISO 8601 timestamp") from None
        return
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidOrder(name, f"expected true or false, got {_shown(value)}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOrder(name, f"expected a number, got {_shown(value)}")
    if kind == "int" and not isinstance(value, int):
        raise InvalidOrder(name, f"expected a whole number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidOrder(name, f"{value!r} is not a finite number")
    if column.minimum is not None and value < column.minimum:
        raise InvalidOrder(name, f"{value!r} is below the minimum {column.minimum:g}")
    if column.maximum is not None and value > column.maximum:
        raise InvalidOrder(name, f"{value!r} is above the maximum {column.maximum:g}")


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value)[:_SHOWN]}"


# ---- the model's request and answer -------------------------------------------------------------------------------
def model_request_body(vector: Sequence[float]) -> str:
    """One CSV row in the model's feature order; a missing value (NaN) is an empty cell, a number its repr (exact:
    the endpoint parses it back to the same float)."""
    return ",".join("" if math.isnan(v) else repr(float(v)) for v in vector) + "\n"


MODEL_VERSION_FIELD = "model_version"  # the version a serving container reports beside its predictions


@dataclass(frozen=True)
class ModelAnswer:
    """The model's answer to one order: its score, and the version that answered when the container reports it
    (during a blue/green update the canary fleet answers some requests with the new version)."""

    score: float
    model_version: int | None = None


def parse_model_answer(body: bytes, content_type: str | None) -> ModelAnswer:
    """The one score of the model's answer (`{"predictions": [{"score": p, ...}], "model_version": N}`, or a CSV
    `score,label` line) and the version it reports (JSON only; None when absent or not a positive whole number:
    the caller falls back to the endpoint's config); ModelFailed when the score is missing, several, or not a
    finite probability."""
    kind = (content_type or MODEL_ACCEPT).split(";", 1)[0].strip().lower()
    version: Any = None
    try:
        text = body.decode("utf-8")
        if kind in ("text/csv", "text/plain"):
            rows = [line.split(",")[0] for line in text.splitlines() if line.strip()]
            scores = [float(cell) for cell in rows]
        else:
            document = json.loads(text)
            predictions = document.get("predictions") if isinstance(document, dict) else document
            if not isinstance(predictions, list):
                raise ValueError('expected {"predictions": [...]}')
            scores = [float(p["score"] if isinstance(p, dict) else p) for p in predictions]
            if isinstance(document, dict):
                version = document.get(MODEL_VERSION_FIELD)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        shown = body[:_SHOWN].decode("utf-8", "replace")
        raise ModelFailed(f"the model's answer does not read as a score ({error}): {shown!r}") from None
    if len(scores) != 1:
        raise ModelFailed(f"the model answered {len(scores)} scores for one order")
    score = scores[0]
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise ModelFailed(f"the model answered the score {score!r}, not a probability")
    reported = version if isinstance(version, int) and not isinstance(version, bool) and version > 0 else None
    return ModelAnswer(score, reported)


def parse_model_score(body: bytes, content_type: str | None) -> float:
    """The score of `parse_model_answer`."""
    return parse_model_answer(body, content_type).score


# ---- the rules ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Thresholds:
    """The rules of one model version: below `review` approve, from `review` up to `decline` review, from
    `decline` decline. `operating_point` is the version's evaluation threshold, which both derive from."""

    operating_point: float
    review: float
    decline: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class DecisionRules:
    """The stage's review band around the model's operating point t (template parameters, shares in [0, 1]):
    review = t * (1 - review_below) and decline = t + (1 - t) * decline_above. So review ≤ t ≤ decline always,
    both in [0, 1]; 0 and 0 make the model's own label the decision (no review band)."""

    review_below: float
    decline_above: float

    def __post_init__(self) -> None:
        for name in ("review_below", "decline_above"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, got {value!r}")

    def thresholds(self, operating_point: float) -> Thresholds:
        if not math.isfinite(operating_point) or not 0.0 <= operating_point <= 1.0:
            raise ValueError(f"the operating point must be a probability, got {operating_point!r}")
        review = operating_point * (1.0 - self.review_below)
        decline = operating_point + (1.0 - operating_point) * self.decline_above
        return Thresholds(operating_point=operating_point, review=review, decline=decline)


def decide(score: float, thresholds: Thresholds) -> Decision:
    """Approve below `review`, decline at or above `decline` (the model's label: at or above its threshold is
    fraud), review in between."""
    if score >= thresholds.decline:
        return "decline"
    if score >= thresholds.review:
        return "review"
    return "approve"


def operating_point_of(evaluation: Mapping[str, Any], where: str) -> float:
    """The threshold of an evaluation.json (`binary_classification_metrics.threshold.value`, the threshold the
    model labels fraud at); ValueError naming the file when it has none."""
    section = evaluation.get("binary_classification_metrics") if isinstance(evaluation, Mapping) else None
    entry = section.get("threshold") if isinstance(section, Mapping) else None
    value = entry.get("value") if isinstance(entry, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where} has no binary_classification_metrics.threshold.value (got {value!r})")
    return float(value)


@dataclass(frozen=True)
class DecisionSettings:
    """The decide function's settings, from its template environment (read once per cold start)."""

    endpoint_name: str
    state_table: str
    package_arn_prefix: str  # the group's version ARNs without the number: `arn:...:model-package/<group>/`
    rules: DecisionRules
    event_bus: str = "default"
    model_refresh_s: int = 30
    retry_after_s: int = 5

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> DecisionSettings:
        env = environment(environ)

        def share(name: str) -> float:
            raw = required(env, name)
            try:
                return float(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number between 0 and 1, got {raw!r}") from None

        try:
            rules = DecisionRules(review_below=share("REVIEW_BELOW"), decline_above=share("DECLINE_ABOVE"))
        except ValueError as error:
            raise SettingsError(str(error)) from None
        return cls(
            endpoint_name=required(env, "ENDPOINT_NAME"),
            state_table=required(env, "CUSTOMER_FEATURES_TABLE"),
            package_arn_prefix=required(env, "MODEL_PACKAGE_ARN_PREFIX"),
            rules=rules,
            event_bus=env.get("EVENT_BUS_NAME") or "default",
            model_refresh_s=whole_number(env, "MODEL_REFRESH_SECONDS", 30),
            retry_after_s=whole_number(env, "RETRY_AFTER_SECONDS", 5),
        )


# ---- the outcome --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionOutcome:
    inference_id: str
    order_id: str
    customer_id: str
    decision: Decision
    score: float
    model_version: int
    thresholds: Thresholds

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any], customer_id: str) -> DecisionOutcome:
        """The outcome of a recorded answer (`answer()`), for a retried order."""
        return cls(
            inference_id=str(answer["inference_id"]),
            order_id=str(answer["order_id"]),
            customer_id=customer_id,
            decision=answer["decision"],
            score=float(answer["score"]),
            model_version=int(answer["model_version"]),
            thresholds=Thresholds(**{k: float(v) for k, v in answer["thresholds"].items()}),
        )

    def answer(self) -> dict[str, Any]:
        """The 200 answer's body (the API's contract)."""
        return {
            "inference_id": self.inference_id,
            "order_id": self.order_id,
            "decision": self.decision,
            "score": self.score,
            "model_version": self.model_version,
            "thresholds": self.thresholds.to_dict(),
        }

    def event_entry(
        self,
        *,
        endpoint: str,
        decided_at: datetime,
        order: Mapping[str, Any],
        bus: str = "default",
        contract: DatasetContract = ORDERS,
    ) -> dict[str, Any]:
        """The `Decision Made` PutEvents entry: the inference id joins it with the endpoint's capture record and
        the order's later ground-truth label; `order` carries the raw order (the decision log keeps it, because the
        captured feature vector cannot be turned back into the order a retraining dataset needs)."""
        detail = {
            **self.answer(),
            "customer_id": self.customer_id,
            "endpoint_name": endpoint,
            "order": logged_order(order, contract),
        }
        return {
            "Source": DECISION_SOURCE,
            "DetailType": DECISION_DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "EventBusName": bus,
            "Time": decided_at,
        }


def logged_order(order: Mapping[str, Any], contract: DatasetContract = ORDERS) -> dict[str, Any]:
    """The order's raw contract fields as parsed, the label aside, for the `Decision Made` event: a timestamp is
    written as ISO 8601 in UTC with its zone (one read without a zone is UTC, as the dataset validation reads it),
    so every consumer parses the same instant."""
    logged: dict[str, Any] = {}
    for column in contract.columns:
        if column.role == "label":
            continue
        value = order.get(column.name)
        if column.dtype == "timestamp" and isinstance(value, str):
            stamp = datetime.fromisoformat(value)
            stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
            value = stamp.isoformat().replace("+00:00", "Z")
        logged[column.name] = value
    return logged


# ---- retried orders -----------------------------------------------------------------------------------------------
RECENT_DECISIONS = 32  # the decisions kept with a customer's state: a retry of one of these orders is answered again
DECISIONS_ATTRIBUTE = "decisions"  # the attribute of the state item that holds them (a JSON list)


def order_fingerprint(order: Mapping[str, Any], contract: DatasetContract = ORDERS) -> str:
    """A digest of the order's contract fields (the label aside): a retry carries the same fields, a different order
    reusing the id does not."""
    fields = {c.name: order.get(c.name) for c in contract.columns if c.role != "label"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class RecordedDecision:
    """A decision kept with the customer's state: the order's fingerprint and the answer it got."""

    fingerprint: str
    outcome: DecisionOutcome

    def matches(self, fingerprint: str) -> bool:
        return self.fingerprint == fingerprint


def recorded_decisions(item: Mapping[str, Any] | None, customer_id: str) -> tuple[RecordedDecision, ...]:
    """The decisions kept in a state item (oldest first); none when the item has none. A kept list that does not
    read (an item written by hand) is treated as empty: the orders are decided again, not refused."""
    raw = ((item or {}).get(DECISIONS_ATTRIBUTE) or {}).get("S")
    if not raw:
        return ()
    try:
        return tuple(
            RecordedDecision(str(entry["fingerprint"]), DecisionOutcome.from_answer(entry["answer"], customer_id))
            for entry in json.loads(raw)
        )
    except (ValueError, KeyError, TypeError):
        return ()


def decisions_attribute(kept: Sequence[RecordedDecision]) -> dict[str, str]:
    """The state item's attribute for the latest `RECENT_DECISIONS` decisions."""
    entries = [{"fingerprint": r.fingerprint, "answer": r.outcome.answer()} for r in kept[-RECENT_DECISIONS:]]
    return {"S": json.dumps(entries, separators=(",", ":"))}


def decided_before(kept: Sequence[RecordedDecision], order_id: str, fingerprint: str) -> DecisionOutcome | None:
    """The recorded outcome of this order when it was decided already; OrderConflict when its id was decided with
    other fields."""
    for recorded in reversed(kept):
        if recorded.outcome.order_id == order_id:
            if not recorded.matches(fingerprint):
                raise OrderConflict(order_id)
            return recorded.outcome
    return None


# ---- HTTP answers (payload format 2.0) ----------------------------------------------------------------------------
REPLAYED_HEADER = "idempotent-replayed"  # "true" on the answer to a retried order (its first answer, again)


def http_answer(
    status: int,
    body: Mapping[str, Any],
    retry_after_s: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    answer_headers = {"content-type": "application/json", **(headers or {})}
    if retry_after_s is not None:
        answer_headers["retry-after"] = str(retry_after_s)
    return {"statusCode": status, "headers": answer_headers, "body": json.dumps(body)}


def invalid_order_answer(error: InvalidOrder) -> dict[str, Any]:
    return http_answer(400, {"message": str(error), "field": error.field})
