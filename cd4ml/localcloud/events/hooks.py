"""Where EventBridge on the local cloud hooks into moto: rule delivery, PutEvents (to tell unmatched events apart)
and S3's EventBridge notification reach the active router. With no local cloud running, moto answers as it always
did."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from ..context import ActiveSlot
from .s3_notifications import has_tags, s3_object_event

if TYPE_CHECKING:
    from .router import EventRouter

log = logging.getLogger(__name__)

ACTIVE_ROUTER: ActiveSlot[EventRouter] = ActiveSlot()


def install_event_hooks() -> None:
    """Hook moto's rule delivery, PutEvents and S3's EventBridge notification into the active router."""
    import moto.s3.notifications as s3_notifications
    from moto.events import models as events_models

    if getattr(events_models.Rule.send_to_targets, "_cd4ml_hook", False):
        return
    original_send = events_models.Rule.send_to_targets

    @functools.wraps(original_send)
    def send_to_targets(self: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        router = ACTIVE_ROUTER()
        if router is None:
            return original_send(self, event, transform_input)  # type: ignore[arg-type]
        router.on_rule_matched(self, event)
        return None

    send_to_targets._cd4ml_hook = True  # type: ignore[attr-defined]
    events_models.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]

    original_put_events = events_models.EventsBackend.put_events

    @functools.wraps(original_put_events)
    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        router = ACTIVE_ROUTER()
        if router is None:
            return original_put_events(self, events)
        entries = []
        for entry in events:  # one at a time, so that an unmatched entry can be told apart
            if entry.get("Time") is None:  # stamped by the cloud's clock, which may run ahead of wall time
                entry = {**entry, "Time": router.clock.now().timestamp()}
            router.begin_put()
            result = original_put_events(self, [entry])
            entries.extend(result)
            if result and "EventId" in result[0]:
                router.end_put(
                    {
                        "id": result[0]["EventId"],
                        "source": entry.get("Source"),
                        "detail-type": entry.get("DetailType"),
                        "detail": entry.get("Detail"),
                        "bus": entry.get("EventBusName", "default"),
                    }
                )
        return entries

    events_models.EventsBackend.put_events = put_events  # type: ignore[method-assign]

    original_s3 = s3_notifications._send_event_bridge_message

    @functools.wraps(original_s3)
    def send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        router = ACTIVE_ROUTER()
        if router is None:
            return original_s3(account_id, bucket, event_name, key)
        if event_name.endswith("ObjectTagging:Put") and not has_tags(account_id, key):
            return None  # moto tags every new object with an empty set; AWS says nothing for that
        event = s3_object_event(account_id, bucket, event_name, key)
        try:
            router.put_event("aws.s3", event["detail-type"], event["detail"], event["resources"])
        except Exception:
            log.exception("S3 notification for s3://%s/%s could not be emitted", bucket.name, key.name)
        return None

    s3_notifications._send_event_bridge_message = send_event_bridge_message
