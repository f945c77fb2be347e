"""The demo's and the bench's decision client: SigV4-signed POSTs over a kept-alive connection (reopened once when
the server closed it), answers parsed and timed; the tally of a stream of answers; steady traffic that stops when
asked and reports running out of orders."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.credentials import Credentials

from cd4ml.decision_client import DecisionClient, DecisionReply, decision_requests, percentile
from cd4ml.demo_serving import DecisionTally, SteadyTraffic, decide_all


class _Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Api.seen.append({"path": self.path, "authorization": self.headers.get("Authorization", ""), "body": body})
        status = 400 if body.get("order_amount") == "bad" else 200
        answer = json.dumps({"decision": "approve", "model_version": 3} if status == 200 else {"message": "bad"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        if body.get("close"):
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def api():
    _Api.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/_aws/execute-api/abc/"
    server.shutdown()


def client(url: str) -> DecisionClient:
    return DecisionClient(url, region="eu-west-1", credentials=Credentials("AKIDEXAMPLE", "secret"))


def test_a_decision_is_a_signed_post_to_decisions_and_its_answer_parsed(api):
    reply = client(api).decide({"order_id": "o-1"})

    assert reply.ok and reply.body == {"decision": "approve", "model_version": 3} and reply.seconds > 0
    (request,) = _Api.seen
    assert request["path"] == "/_aws/execute-api/abc/decisions" and request["body"] == {"order_id": "o-1"}
    assert request["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in request["authorization"]


def test_a_connection_the_server_closed_is_opened_again(api):
    decisions = client(api)
    assert decisions.decide({"close": True}).ok
    assert decisions.decide({"order_id": "o-2"}).ok and len(_Api.seen) == 2


def test_a_url_that_is_not_http_is_refused():
    with pytest.raises(ValueError, match="not an http"):
        client("ftp://example.com/")


def test_the_tally_counts_codes_decisions_and_versions_and_keeps_the_first_failures(api):
    tally = decide_all(client(api), [{"order_id": "a"}, {"order_amount": "bad"}, {"order_id": "b"}], threads=2)

    assert (tally.sent, tally.failed) == (3, 1)
    assert tally.statuses == {200: 2, 400: 1} and tally.versions == {3: 2} and tally.decisions == {"approve": 2}
    assert tally.failures == ["400 bad"] and len(tally.seconds) == 2
    assert tally.outcome_line() == "approve 2 (HTTP 200: 2, 400: 1)"


def test_steady_traffic_sends_until_stopped_and_reports_running_out():
    class Instant:
        def decide(self, order):
            return DecisionReply(200, {"decision": "review", "model_version": 1}, 0.001)

    with SteadyTraffic(Instant(), iter([{}] * 1000), rate=200.0) as traffic:  # type: ignore[arg-type]
        threading.Event().wait(0.1)
    assert 5 <= traffic.tally.sent <= 40 and traffic.tally.failed == 0

    short = SteadyTraffic(Instant(), iter([{}]), rate=1000.0)  # type: ignore[arg-type]
    short.__enter__()
    threading.Event().wait(0.05)
    with pytest.raises(RuntimeError, match="ran out of orders"):
        short.stop()


def test_orders_become_request_bodies_without_the_label_and_percentiles_are_nearest_rank():
    rows = [{"order_id": "o", "order_ts": datetime(2026, 12, 1, tzinfo=UTC), "is_fraud": 1}]
    assert decision_requests(rows) == [{"order_id": "o", "order_ts": "2026-12-01T00:00:00+00:00"}]
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0 and percentile([1.0, 2.0], 0.99) == 2.0
    assert DecisionTally().latency_line().startswith("p50 nan ms")
