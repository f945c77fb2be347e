"""Schedule rules fire on the local cloud's clock, which tests advance."""

from datetime import UTC, datetime

from cd4ml.localcloud import LocalCloud, ManualClock


def _ticks(cloud):
    items = cloud.client("dynamodb").scan(TableName=cloud.physical_id("EventsTable"))["Items"]
    return [item for item in items if item["pk"]["S"].startswith("tick#")]


def test_rate_schedule_fires_once_per_interval_as_the_clock_advances(core_template):
    clock = ManualClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    with LocalCloud.deployed(core_template, clock=clock) as cloud:
        [(rule, next_at)] = cloud.scheduler.pending()
        assert "RecorderFunctionTick" in rule
        assert next_at == datetime(2026, 11, 25, 12, 5, tzinfo=UTC)

        cloud.advance(minutes=4)
        cloud.wait_idle()
        assert _ticks(cloud) == []

        cloud.advance(minutes=1)
        cloud.wait_idle()
        assert len(_ticks(cloud)) == 1

        cloud.advance(minutes=10)
        cloud.wait_idle()
        assert len(_ticks(cloud)) == 3  # 12:10 and 12:15 too
        deliveries = [d for d in cloud.router.deliveries if d.detail_type == "Scheduled Event"]
        assert len(deliveries) == 3 and all(d.outcome == "delivered" for d in deliveries)
