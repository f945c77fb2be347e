"""IAM authorisation of an HTTP API route, as far as the local cloud checks it: the request must carry a SigV4
signature (an `Authorization` header or a presigned query) of the right shape, scoped to `execute-api` in the API's
region and signed within 15 minutes. The signature itself is not verified: the local cloud knows no secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
MAX_SKEW_S = 15 * 60  # AWS refuses a signature more than 15 minutes from its clock
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


class NotSigned(Exception):
    """The request carries no SigV4 signature at all: API Gateway answers 403 Forbidden."""


class BadSignature(Exception):
    """The request carries a signature API Gateway would refuse; the message is the one it answers with."""


@dataclass(frozen=True)
class Credential:
    access_key: str
    date: str
    region: str
    service: str


def check_signature(
    headers: dict[str, str], raw_query_string: str, region: str, now: datetime | None = None
) -> Credential:
    """The credential of a SigV4-signed request (header names lower-cased), or NotSigned / BadSignature."""
    authorization = headers.get("authorization")
    query = parse_qs(raw_query_string, keep_blank_values=True)
    if authorization:
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise BadSignature(f"Authorization header has an unsupported algorithm {algorithm!r}")
        fields = {}
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
        if missing:
            raise BadSignature(f"Authorization header requires '{missing[0]}' parameter.")
        credential, signed_headers, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
        amz_date = headers.get("x-amz-date")
        if not amz_date:
            raise BadSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    elif "X-Amz-Signature" in query or "X-Amz-Credential" in query:
        if query.get("X-Amz-Algorithm", [""])[0] != ALGORITHM:
            raise BadSignature(f"X-Amz-Algorithm must be {ALGORITHM}")
        credential = query.get("X-Amz-Credential", [""])[0]
        signed_headers = query.get("X-Amz-SignedHeaders", [""])[0]
        signature = query.get("X-Amz-Signature", [""])[0]
        amz_date = query.get("X-Amz-Date", [""])[0]
    else:
        raise NotSigned("no SigV4 Authorization header or presigned query")
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not scope[0]:
        raise BadSignature(f"Credential should be 'access key/date/region/service/aws4_request', not {credential!r}.")
    access_key, date, scope_region, service = scope[:4]
    if service != SERVICE:
        raise BadSignature(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if scope_region != region:
        raise BadSignature(f"Credential should be scoped to a valid region, not '{scope_region}'. ")
    if "host" not in signed_headers.lower().split(";"):
        raise BadSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if not _SIGNATURE.match(signature):
        raise BadSignature("The request signature is not 64 hexadecimal characters.")
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise BadSignature(f"X-Amz-Date {amz_date!r} is not in the form YYYYMMDDTHHMMSSZ.") from None
    if signed_at.strftime("%Y%m%d") != date:
        raise BadSignature(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date: {date}")
    skew = abs(((now or datetime.now(UTC)) - signed_at).total_seconds())
    if skew > MAX_SKEW_S:
        raise BadSignature("Signature expired: the request was signed more than 15 minutes from now.")
    return Credential(access_key, date, scope_region, service)


def iam_context(credential: Credential, user_id: str, user_arn: str, account_id: str) -> dict[str, object]:
    """`requestContext.authorizer.iam` as API Gateway fills it for the caller."""
    return {
        "accessKey": credential.access_key,
        "accountId": account_id,
        "callerId": user_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": user_arn,
        "userId": user_id,
    }
