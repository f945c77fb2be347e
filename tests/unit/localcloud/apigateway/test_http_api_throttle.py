"""Throttling of HTTP API routes: a token bucket of the burst limit refilled at the rate limit."""

from cd4ml.localcloud.apigateway.throttle import ACCOUNT_BURST_LIMIT, Limits, Throttles, TokenBucket, limits_of


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_burst_is_admitted_then_requests_are_throttled_until_tokens_refill():
    clock = FakeClock()
    bucket = TokenBucket(Limits(rate_per_s=2.0, burst=3), clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.4  # 0.8 of a token
    assert bucket.take() is False
    clock.now += 0.1  # one token
    assert bucket.take() is True and bucket.take() is False
    clock.now += 60  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


def test_a_burst_of_zero_admits_nothing():
    assert TokenBucket(Limits(rate_per_s=100.0, burst=0), FakeClock()).take() is False


def test_route_settings_win_over_the_stage_default_and_the_account_default_fills_in():
    default = {"throttlingBurstLimit": 10, "throttlingRateLimit": 5.0}
    assert limits_of(default, {"throttlingBurstLimit": 2}) == Limits(5.0, 2)
    assert limits_of(default, None) == Limits(5.0, 10)
    assert limits_of({"detailedMetricsEnabled": False}, None).burst == ACCOUNT_BURST_LIMIT


def test_each_route_of_each_stage_has_its_own_bucket_and_new_limits_make_a_new_one():
    throttles = Throttles(FakeClock())
    one = Limits(rate_per_s=0.0, burst=1)
    assert throttles.admit("api", "live", "GET /a", one) is True
    assert throttles.admit("api", "live", "GET /a", one) is False
    assert throttles.admit("api", "live", "GET /b", one) is True
    assert throttles.admit("api", "$default", "GET /a", one) is True
    assert throttles.admit("api", "live", "GET /a", Limits(rate_per_s=0.0, burst=2)) is True
