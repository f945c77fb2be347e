"""SNS on moto, with Lambda subscriptions delivered to the local Lambda runtime as AWS's SNS events."""

from __future__ import annotations

import functools
import json
import logging
from datetime import UTC, datetime
from typing import Any

from .lambda_.hooks import ACTIVE_RUNTIME

log = logging.getLogger(__name__)


def sns_event(
    subscription_arn: str,
    topic_arn: str,
    message: str,
    message_id: str,
    subject: str | None,
    attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    """The event a Lambda subscribed to a topic receives, in the shape AWS documents."""
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "Signature": "",
                    "SigningCertUrl": "",
                    "MessageId": message_id,
                    "Message": message,
                    # moto hands attributes over already in the {"Type", "Value"} form SNS delivers
                    "MessageAttributes": dict(attributes or {}),
                    "Type": "Notification",
                    "UnsubscribeUrl": "",
                    "TopicArn": topic_arn,
                    "Subject": subject,
                },
            }
        ]
    }


def install() -> None:
    """moto hands Lambda subscriptions to its own Lambda backend, which needs Docker; deliver them here."""
    from moto.sns.models import Subscription

    if getattr(Subscription.publish, "_cd4ml_hook", False):
        return
    original = Subscription.publish

    @functools.wraps(original)
    def publish(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        runtime = ACTIVE_RUNTIME()
        if runtime is None or self.protocol != "lambda":
            return original(self, message, message_id, subject, message_attributes, *args, **kwargs)
        matcher = self._filter_policy_matcher
        if matcher is not None and not matcher.matches(message_attributes, message):
            return None
        structure = kwargs.get("message_structure") or (args[2] if len(args) > 2 else None)
        if structure == "json":
            per_protocol = json.loads(message)
            message = per_protocol.get("lambda", per_protocol["default"])
        event = sns_event(self.arn, self.topic.arn, message, message_id, subject, message_attributes)
        # SNS invokes its Lambda subscribers asynchronously, so their retries and destinations apply
        runtime.invoke_async(self.endpoint, json.dumps(event).encode("utf-8"))
        return None

    publish._cd4ml_hook = True  # type: ignore[attr-defined]
    Subscription.publish = publish  # type: ignore[method-assign]
