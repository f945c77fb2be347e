"""Fixed identity of the local cloud and boto3 clients bound to its endpoint."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
PARTITION = "aws"

# Credentials the local cloud accepts; they are never sent anywhere but 127.0.0.1.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# Variables of this machine a child process keeps: enough to find programs and GPU libraries, nothing that
# points at AWS (credentials, profiles, endpoints of the developer's machine stay out).
HOST_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH", "CUDA_HOME", "SYSTEMROOT")


def host_environment() -> dict[str, str]:
    """The part of this machine's environment that handlers, jobs and model servers inherit."""
    return {k: v for k, v in os.environ.items() if k in HOST_VARIABLES}


# Environment every process of the local cloud (handlers, jobs) gets, so that no SDK call can leave the machine.
def local_environment(endpoint_url: str, region: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


_SESSIONS: dict[str, boto3.session.Session] = {}
_SESSION_LOCK = threading.Lock()  # botocore sessions are not safe for concurrent client creation


def _session(region: str) -> boto3.session.Session:
    """One session per region for the whole process: it caches the parsed service models (seconds of work)."""
    with _SESSION_LOCK:
        if region not in _SESSIONS:
            _SESSIONS[region] = boto3.session.Session(region_name=region, **LOCAL_CREDENTIALS)
        return _SESSIONS[region]


class ClientFactory:
    """One boto3 client per (service, thread-safe) bound to the local endpoint; clients are thread-safe, reuse them."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = _session(region)
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        with _SESSION_LOCK:
            client = self._clients.get(service)
            if client is None:
                client = self._session.client(
                    service,
                    endpoint_url=self.endpoint_url,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32),
                )
                self._clients[service] = client
            return client


def arn(service: str, region: str, resource: str, account: str = ACCOUNT_ID) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def epoch_millis(value: Any) -> Any:
    """AWS service events carry timestamps as epoch milliseconds; moto keeps (often naive, UTC) datetimes.

    Converts a datetime, or every datetime inside dicts and lists; anything else is returned as it is."""
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)
    if isinstance(value, dict):
        return {k: epoch_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [epoch_millis(v) for v in value]
    return value
