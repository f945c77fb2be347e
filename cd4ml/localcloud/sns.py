"""SNS on moto, with Lambda subscriptions delivered to the local Lambda runtime as AWS's SNS events, and every
message published to a topic shown to the `listeners` (what a person subscribed by e-mail would read)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .lambda_.hooks import ACTIVE_RUNTIME

log = logging.getLogger(__name__)

# Called with (topic ARN, subject or None, message) after each publish to a topic has been delivered to its
# subscribers: an e-mail subscription reaches nobody locally, so `cd4ml local up` and tests watch here instead.
# Process-wide like moto's backends (one local cloud per process); a listener that raises is logged and skipped.
PublishListener = Callable[[str, str | None, str], None]
listeners: list[PublishListener] = []


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
    """moto hands Lambda subscriptions to its own Lambda backend, which needs Docker; deliver them here. And tell
    the `listeners` about every message a topic publishes."""
    _install_topic_hook()
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


def _install_topic_hook() -> None:
    from moto.sns.models import Topic

    if getattr(Topic.publish, "_cd4ml_hook", False):
        return
    original = Topic.publish

    @functools.wraps(original)
    def publish(self: Any, message: str, subject: str | None = None, *args: Any, **kwargs: Any) -> str:
        message_id: str = original(self, message, subject, *args, **kwargs)
        for listener in list(listeners):
            try:
                listener(self.arn, subject, message)
            except Exception:
                log.exception("SNS publish listener failed")
        return message_id

    publish._cd4ml_hook = True  # type: ignore[attr-defined]
    Topic.publish = publish  # type: ignore[method-assign]
