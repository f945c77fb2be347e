"""Delivery of records to the destinations AWS services name by ARN: SQS, SNS, Lambda and EventBridge buses."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..aws import ClientFactory

log = logging.getLogger(__name__)


class Destinations:
    """Sends one JSON record to a destination ARN, as Lambda's on-success/on-failure destinations and DLQs do."""

    def __init__(self, clients: ClientFactory, invoke_async: Callable[[str, bytes], str]) -> None:
        self._clients = clients
        self._invoke_async = invoke_async

    def send(
        self,
        destination_arn: str,
        record: dict[str, Any] | str,
        *,
        detail_type: str = "Lambda Function Invocation Result - Failure",
        source: str = "lambda",
        message_attributes: dict[str, str] | None = None,
    ) -> None:
        body = record if isinstance(record, str) else json.dumps(record, default=str)
        service = destination_arn.split(":")[2]
        if service == "sqs":
            queue_name = destination_arn.split(":")[5]
            sqs = self._clients("sqs")
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            attrs = {k: {"DataType": "String", "StringValue": v} for k, v in (message_attributes or {}).items()}
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
        elif service == "sns":
            attrs = {k: {"DataType": "String", "StringValue": v} for k, v in (message_attributes or {}).items()}
            self._clients("sns").publish(TopicArn=destination_arn, Message=body, MessageAttributes=attrs)
        elif service == "lambda":
            self._invoke_async(destination_arn, body.encode())
        elif service == "events":
            bus = destination_arn.split(":")[5].split("/", 1)[-1]
            self._clients("events").put_events(
                Entries=[{"Source": source, "DetailType": detail_type, "Detail": body, "EventBusName": bus}]
            )
        else:
            raise ValueError(f"destination {destination_arn!r}: only SQS, SNS, Lambda and EventBridge are supported")
        log.info("delivered a record to %s", destination_arn)
