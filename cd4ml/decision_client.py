"""A client of `POST /decisions` as a payment service calls it: each request signed with SigV4 for `execute-api`
(the API's IAM authorisation), one kept-alive HTTP connection per thread, the answer timed. Used by `make demo` and
the decision bench; any HTTP client that signs requests (curl --aws-sigv4, requests with a SigV4 auth) does the same.

Also: orders of a generated table as request bodies (the contract's raw fields, timestamps in ISO 8601, no label),
and nearest-rank percentiles of the latencies seen.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cd4ml_shared.contract import ORDERS


@dataclass(frozen=True)
class DecisionReply:
    status: int
    body: dict[str, Any]
    seconds: float
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def replayed(self) -> bool:
        return self.headers.get("idempotent-replayed") == "true"


class DecisionClient:
    """Signed `POST <DecisionApiUrl>decisions`; safe to share between threads (each keeps its own connection)."""

    def __init__(self, api_url: str, *, region: str, credentials: Credentials, timeout_s: float = 30.0) -> None:
        self.url = api_url.rstrip("/") + "/decisions"
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{api_url!r} is not an http(s) URL of the decision API (the stack's DecisionApiUrl)")
        self._parts, self._region, self._credentials, self._timeout = parts, region, credentials, timeout_s
        self._local = threading.local()

    def decide(self, order: Mapping[str, Any]) -> DecisionReply:
        body = json.dumps(order).encode("utf-8")
        signed = AWSRequest(method="POST", url=self.url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(self._credentials, "execute-api", self._region).add_auth(signed)
        path = self._parts.path + (f"?{self._parts.query}" if self._parts.query else "")
        started = time.perf_counter()
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile is opened again, once
            connection = self._connection()
            try:
                connection.request("POST", path, body=body, headers=dict(signed.headers.items()))
                answer = connection.getresponse()
                payload = answer.read()
                break
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        seconds = time.perf_counter() - started
        try:
            parsed = json.loads(payload) if payload else {}
        except ValueError:
            parsed = {"message": payload[:200].decode("utf-8", "replace")}
        headers = {k.lower(): v for k, v in answer.getheaders()}
        return DecisionReply(answer.status, parsed if isinstance(parsed, dict) else {"body": parsed}, seconds, headers)

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
            connection = kind(self._parts.hostname or "", self._parts.port, timeout=self._timeout)
            self._local.connection = connection
        return connection


def decision_requests(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a generated orders table (`table.to_pylist()`) as decision request bodies: the label left out,
    datetimes in ISO 8601."""
    label = ORDERS.label.name
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != label} for row in rows
    ]


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (a value that was observed); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
