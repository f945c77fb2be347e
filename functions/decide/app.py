"""`POST /decisions`: one card-payment order in, approve / review / decline out. The customer's online features are
read from (and the order folded into) CustomerFeaturesTable, the endpoint in service scores the feature vector
(InferenceId = the decision's inference id), the version's thresholds decide, and a `Decision Made` event is the
action. A retried order (an order id among the customer's recorded decisions) gets its first answer again, an
order id reused with other fields 409. Bad input answers 400 naming the field; bad days 503 with Retry-After (no
endpoint, throttled, contended) or 502 (the model erred); anything else 500 with a message, never a traceback.

Only what the request path needs is imported: no pydantic, no numpy, and not powertools' event classes either (its
`data_classes` package imports every event class, about 20 ms, to read two fields of payload format 2.0;
`docs/decisions.md`, cold start)."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.decisions import DecisionClients, ModelInService, make_decision
from cd4ml_shared.decisions import (
    REPLAYED_HEADER,
    DecisionNotPublished,
    DecisionSettings,
    DecisionUnavailable,
    InvalidOrder,
    ModelFailed,
    OrderConflict,
    http_answer,
    invalid_order_answer,
    parse_order,
    request_body,
)

logger = Logger()
metrics = Metrics()
SETTINGS = DecisionSettings.from_environment()
clients = DecisionClients(
    dynamodb=boto3.client("dynamodb"),
    runtime=boto3.client("sagemaker-runtime"),
    events=boto3.client("events"),
    background=ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish"),
)
model = ModelInService(
    sagemaker=boto3.client("sagemaker"),
    s3=boto3.client("s3"),
    endpoint=SETTINGS.endpoint_name,
    package_arn_prefix=SETTINGS.package_arn_prefix,
    rules=SETTINGS.rules,
    refresh_s=SETTINGS.model_refresh_s,
)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    inference_id = str(uuid.uuid4())
    # the inference id is what the caller quotes, the capture and the labels carry: the decision's correlation id;
    # the HTTP API's request id stays beside it
    logger.append_keys(inference_id=inference_id, api_request_id=(event.get("requestContext") or {}).get("requestId"))
    logger.set_correlation_id(inference_id)
    try:
        order = parse_order(request_body(event))
        decided = make_decision(
            order,
            clients=clients,
            model=model,
            table=SETTINGS.state_table,
            endpoint=SETTINGS.endpoint_name,
            inference_id=inference_id,
            bus=SETTINGS.event_bus,
        )
    except InvalidOrder as error:
        metrics.add_metric(name="InvalidOrders", unit=MetricUnit.Count, value=1)
        logger.info("invalid order", extra={"field": error.field, "problem": error.problem})
        return invalid_order_answer(error)
    except OrderConflict as error:
        metrics.add_metric(name="OrderConflicts", unit=MetricUnit.Count, value=1)
        logger.warning("order id reused", extra={"order_id": error.order_id})
        return http_answer(409, {"message": str(error), "order_id": error.order_id})
    except DecisionUnavailable as error:
        metrics.add_metric(name="DecisionsUnavailable", unit=MetricUnit.Count, value=1)
        logger.warning("no decision now", extra={"reason": str(error)})
        return http_answer(503, {"message": f"no decision now: {error}"}, retry_after_s=SETTINGS.retry_after_s)
    except ModelFailed as error:
        metrics.add_metric(name="ModelErrors", unit=MetricUnit.Count, value=1)
        logger.error("model error", extra={"reason": str(error)})
        return http_answer(502, {"message": f"the model failed on this order: {error}"})
    except DecisionNotPublished as error:
        metrics.add_metric(name="DecisionsNotPublished", unit=MetricUnit.Count, value=1)
        logger.error("decision not published", extra={"reason": str(error)})
        return http_answer(500, {"message": "the decision could not be published; send the order again"})
    except Exception:
        logger.exception("decision failed")
        return http_answer(500, {"message": f"internal error; quote inference id {inference_id}"})
    outcome = decided.outcome
    if decided.replayed:
        metrics.add_metric(name="DecisionsReplayed", unit=MetricUnit.Count, value=1)
        logger.info("retried order answered again", extra={"order_id": outcome.order_id, "first": outcome.inference_id})
        return http_answer(200, outcome.answer(), headers={REPLAYED_HEADER: "true"})
    metrics.add_metric(name="Decisions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"Decisions_{outcome.decision}", unit=MetricUnit.Count, value=1)
    logger.info(
        "decided",
        extra={"decision": outcome.decision, "score": outcome.score, "model_version": outcome.model_version},
    )
    return http_answer(200, outcome.answer())
