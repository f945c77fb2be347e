"""A real-time decision's AWS side: the customer's state in DynamoDB (read, then a conditional write that loses no
concurrent update), the version in service and its operating point (cached), InvokeEndpoint with the inference
id, and the `Decision Made` event. What the values mean is decided in `cd4ml_shared.decisions`."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..contract import ORDERS
from ..decisions import (
    DECISIONS_ATTRIBUTE,
    MODEL_ACCEPT,
    MODEL_CONTENT_TYPE,
    DecisionNotPublished,
    DecisionOutcome,
    DecisionRules,
    DecisionUnavailable,
    InvalidOrder,
    ModelAnswer,
    ModelFailed,
    RecordedDecision,
    Thresholds,
    decide,
    decided_before,
    decisions_attribute,
    model_request_body,
    operating_point_of,
    order_fingerprint,
    parse_model_answer,
    recorded_decisions,
)
from ..deployment import version_in_service
from ..online_features import (
    CUSTOMER,
    EMPTY,
    CustomerState,
    OrderFieldError,
    features_for,
    from_item,
    to_item,
    updated,
)
from ..registry import evaluation_uri_of
from ..s3_uri import parse_s3_uri
from .client_errors import error_code, error_message, is_transient

STATE_ATTEMPTS = 5  # conditional writes of one order's state before the customer counts as contended
STATE_BACKOFF_S = 0.01  # the first wait after a lost condition; doubled each time, with full jitter


# ---- the customer's state -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerRecord:
    """A customer's item: the online-feature state and the latest decisions (to answer a retried order again)."""

    state: CustomerState = EMPTY
    decisions: tuple[RecordedDecision, ...] = ()


def read_customer(dynamodb: Any, table: str, customer_id: str) -> CustomerRecord:
    """The customer's item before this order (a strongly consistent read: the conditional write checks it)."""
    item = dynamodb.get_item(TableName=table, Key={CUSTOMER: {"S": customer_id}}, ConsistentRead=True).get("Item")
    return CustomerRecord(from_item(item), recorded_decisions(item, customer_id))


def read_state(dynamodb: Any, table: str, customer_id: str) -> CustomerState:
    """The customer's online-feature state (see `read_customer`)."""
    return read_customer(dynamodb, table, customer_id).state


def save_decision(
    dynamodb: Any,
    table: str,
    order: Mapping[str, Any],
    record: CustomerRecord,
    outcome: DecisionOutcome,
    fingerprint: str,
) -> DecisionOutcome:
    """Fold the order into the customer's state and keep its decision, conditional on the `seen` counter read: a
    concurrent order of the same customer that wrote first makes the condition fail, and the order is folded into
    the state it left (read again), so neither update is lost. When the write that won was this same order (a
    retry sent while the first was in flight), that order's recorded outcome is returned instead, and nothing is
    written twice. DecisionUnavailable after `STATE_ATTEMPTS` lost conditions."""
    customer_id = outcome.customer_id
    for attempt in range(STATE_ATTEMPTS):
        item = to_item(customer_id, updated(record.state, order))
        item[DECISIONS_ATTRIBUTE] = decisions_attribute((*record.decisions, RecordedDecision(fingerprint, outcome)))
        try:
            dynamodb.put_item(
                TableName=table,
                Item=item,
                ConditionExpression="attribute_not_exists(#key) OR #seen = :seen",
                ExpressionAttributeNames={"#key": CUSTOMER, "#seen": "seen"},
                ExpressionAttributeValues={":seen": {"N": str(record.state.seen)}},
            )
            return outcome
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
        # Writers that lost together would read and lose together again: each waits a random part of a doubling
        # interval first (full jitter; at most about 0.3 s over all attempts).
        time.sleep(random.uniform(0, STATE_BACKOFF_S * 2**attempt))
        record = read_customer(dynamodb, table, customer_id)
        earlier = decided_before(record.decisions, outcome.order_id, fingerprint)
        if earlier is not None:
            return earlier
    raise DecisionUnavailable(
        f"the state of customer {customer_id!r} changed under {STATE_ATTEMPTS} writes in a row: too many concurrent "
        "orders of this customer"
    )


# ---- the version in service ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServingModel:
    version: int
    thresholds: Thresholds


class ModelInService:
    """The version the endpoint serves (its config `<endpoint>-v<N>`) and that version's thresholds.

    DescribeEndpoint is a control-plane call with a low rate limit, so the answer is kept `refresh_s` seconds; a
    version's operating point (its evaluation.json, through its model package) never changes and is kept for good.
    During a blue/green update the endpoint's config is the old one until the update completes; the serving
    container reports the version that answered (`model_version` in its JSON answer, from the model's
    CD4ML_MODEL_VERSION), and `thresholds_of` gives that version's thresholds, so a canary's answers are decided
    and reported as the new version's.
    """

    def __init__(
        self,
        *,
        sagemaker: Any,
        s3: Any,
        endpoint: str,
        package_arn_prefix: str,
        rules: DecisionRules,
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sagemaker, self._s3, self._endpoint = sagemaker, s3, endpoint
        self._prefix, self._rules, self._refresh_s, self._clock = package_arn_prefix, rules, refresh_s, clock
        self._version: int | None = None
        self._checked_at = -float("inf")
        self._thresholds: dict[int, Thresholds] = {}

    def current(self) -> ServingModel:
        now = self._clock()
        if self._version is None or now - self._checked_at >= self._refresh_s:
            self._version = self._version_in_service()
            self._checked_at = now
        return ServingModel(self._version, self.thresholds_of(self._version))

    def thresholds_of(self, version: int) -> Thresholds:
        """A version's thresholds (its operating point read once, then kept: it never changes)."""
        if version not in self._thresholds:
            self._thresholds[version] = self._rules.thresholds(self._operating_point(version))
        return self._thresholds[version]

    def forget(self) -> None:
        """Look the endpoint up again on the next call (it went missing or changed)."""
        self._version = None

    def _version_in_service(self) -> int:
        try:
            described = self._sagemaker.describe_endpoint(EndpointName=self._endpoint)
        except ClientError as error:
            if error_code(error) in ("ValidationException", "ValidationError") or is_transient(error):
                raise DecisionUnavailable(f"endpoint {self._endpoint}: {error_message(error)}") from None
            raise
        config = described.get("EndpointConfigName")
        version = version_in_service(config)
        if version is None:
            if described.get("EndpointStatus") != "InService":
                raise DecisionUnavailable(f"endpoint {self._endpoint} is {described.get('EndpointStatus')}")
            raise ValueError(f"endpoint {self._endpoint} serves the config {config!r}, not one a deployment made")
        return version

    def _operating_point(self, version: int) -> float:
        arn = f"{self._prefix}{version}"
        package = self._sagemaker.describe_model_package(ModelPackageName=arn)
        uri = evaluation_uri_of(package)
        if uri is None:
            raise ValueError(f"model package {arn} records no evaluation: no operating point to decide with")
        bucket, key = parse_s3_uri(uri)
        document = json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return operating_point_of(document, uri)


# ---- the model ----------------------------------------------------------------------------------------------------
def invoke_model(runtime: Any, endpoint: str, vector: Sequence[float], inference_id: str) -> ModelAnswer:
    """The model's answer for one feature vector: its score, and the version that answered when the container
    says. The request is tagged with the inference id (the capture record carries it). A missing or
    not-in-service endpoint and throttling are DecisionUnavailable, the model's own error ModelFailed; any other
    client error is raised as is."""
    try:
        answer = runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=model_request_body(vector).encode("utf-8"),
            ContentType=MODEL_CONTENT_TYPE,
            Accept=MODEL_ACCEPT,
            InferenceId=inference_id,
        )
    except ClientError as error:
        code = error_code(error)
        if code == "ModelError":
            raise ModelFailed(f"endpoint {endpoint}: the model erred: {error_message(error)}") from None
        if code in ("ValidationError", "ValidationException") or is_transient(error):
            # "Endpoint X of account Y not found." / "... is Creating, not InService." / throttling
            raise DecisionUnavailable(f"endpoint {endpoint}: {error_message(error)}") from None
        raise
    return parse_model_answer(answer["Body"].read(), answer.get("ContentType"))


# ---- the decision -------------------------------------------------------------------------------------------------
def publish_decision(events: Any, entry: Mapping[str, Any]) -> None:
    answer = events.put_events(Entries=[dict(entry)])
    if answer.get("FailedEntryCount"):
        failed = answer["Entries"][0]
        raise DecisionNotPublished(
            f"EventBridge refused the Decision Made event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}"
        )


@dataclass(frozen=True)
class DecisionClients:
    """The clients of a decision; `background` (one worker thread, made once per environment) publishes the event
    while the state is written, which takes one call off the request's path."""

    dynamodb: Any
    runtime: Any
    events: Any
    background: Executor | None = None


@dataclass(frozen=True)
class Decided:
    """What `make_decision` did: the outcome answered, the feature vector sent (None for a retried order, which is
    answered from its record without scoring), and whether it was such a replay."""

    outcome: DecisionOutcome
    vector: list[float] | None
    replayed: bool = False


def make_decision(
    order: Mapping[str, Any],
    *,
    clients: DecisionClients,
    model: ModelInService,
    table: str,
    endpoint: str,
    inference_id: str,
    bus: str = "default",
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Decided:
    """Collect the features, run the model, apply the rules, act: the customer's item read, the vector of
    `features_for`, InvokeEndpoint, the answering version's thresholds, the state written with the order and its
    decision, the event published (while the state is written, given a background executor).

    An order whose id is among the customer's recorded decisions is a retry: it gets its first answer again, with
    no second score, state update or event (OrderConflict when its fields differ). The state is written only once
    the model answered: an order that got no decision (and will be sent again) is not counted twice."""
    customer = str(order[CUSTOMER])
    order_id = str(order[ORDERS.key.name])
    fingerprint = order_fingerprint(order)
    record = read_customer(clients.dynamodb, table, customer)
    earlier = decided_before(record.decisions, order_id, fingerprint)
    if earlier is not None:
        return Decided(earlier, None, replayed=True)
    try:
        vector = features_for(order, record.state)
    except OrderFieldError as error:
        raise InvalidOrder(error.field, str(error)) from None
    serving = model.current()
    try:
        answer = invoke_model(clients.runtime, endpoint, vector, inference_id)
    except DecisionUnavailable:
        model.forget()
        raise
    version = answer.model_version or serving.version
    thresholds = serving.thresholds if version == serving.version else model.thresholds_of(version)
    outcome = DecisionOutcome(
        inference_id=inference_id,
        order_id=order_id,
        customer_id=customer,
        decision=decide(answer.score, thresholds),
        score=answer.score,
        model_version=version,
        thresholds=thresholds,
    )
    entry = outcome.event_entry(endpoint=endpoint, decided_at=now(), order=order, bus=bus)
    if clients.background is None:
        kept = save_decision(clients.dynamodb, table, order, record, outcome, fingerprint)
        if kept is outcome:
            publish_decision(clients.events, entry)
        return Decided(kept, vector, replayed=kept is not outcome)
    published = clients.background.submit(publish_decision, clients.events, entry)
    try:
        kept = save_decision(clients.dynamodb, table, order, record, outcome, fingerprint)
    except BaseException:
        published.exception()  # waited for: the event may announce a decision the client does not get (documented)
        raise
    published.result()
    # A retry that raced its first attempt: the first one's decision stands; this attempt's event (already sent,
    # by its own inference id) announces a decision nobody got (docs/decisions.md, retried orders).
    return Decided(kept, vector, replayed=kept is not outcome)
