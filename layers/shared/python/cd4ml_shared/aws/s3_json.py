"""A JSON document in S3, or None when there is none: standard library and botocore only, so a small function
(announce_breach) reads a report without importing the monitor's numpy and pyarrow at its cold start."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .client_errors import error_code

MISSING_KEY = frozenset({"NoSuchKey", "404", "NotFound"})


def read_json(s3: Any, bucket: str, key: str) -> Any | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) in MISSING_KEY:
            return None
        raise
    return json.loads(body)
