"""Where the local cloud serves an HTTP API, and the stack outputs that name one: AWS's
`https://<api id>.execute-api.<region>.amazonaws.com/<stage path>` becomes
`http://127.0.0.1:<port>/_aws/execute-api/<api id>/<stage path>` on the local endpoint."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

LOCAL_PATH_PREFIX = "/_aws/execute-api/"
_EXECUTE_API_URL = re.compile(r"https://([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?![A-Za-z0-9.-])")


def local_api_url(endpoint_url: str, api_id: str) -> str:
    """Where the local cloud serves an API: its execute-api URL in path form on the local endpoint."""
    return f"{endpoint_url.rstrip('/')}{LOCAL_PATH_PREFIX}{api_id}"


def localise_urls(value: Any, endpoint_url: str, api_ids: Iterable[str]) -> Any:
    """`value` with every `https://<id>.execute-api.<region>.amazonaws.com` of a local API replaced by its local
    URL (strings inside lists and maps too), so that a stack output built with `!Sub` works as it is."""
    known = set(api_ids)

    def replace(match: re.Match[str]) -> str:
        api_id = match.group(1)
        return local_api_url(endpoint_url, api_id) if api_id in known else match.group(0)

    if isinstance(value, str):
        return _EXECUTE_API_URL.sub(replace, value)
    if isinstance(value, list):
        return [localise_urls(v, endpoint_url, known) for v in value]
    if isinstance(value, dict):
        return {k: localise_urls(v, endpoint_url, known) for k, v in value.items()}
    return value
