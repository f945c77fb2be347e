"""IAM authorisation of HTTP API routes: a SigV4 signature of the right shape and scope is required."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cd4ml.localcloud.apigateway.iam_auth import BadSignature, NotSigned, check_signature

URL = "http://127.0.0.1:4566/_aws/execute-api/abcdefgh/things/1"
KEYS = Credentials("AKIAEXAMPLEKEY", "secret", "session-token")


def _signed(service="execute-api", region="us-east-1", query=False):
    request = AWSRequest(method="POST", url=URL + ("?x=1" if query else ""), data=b"{}")
    (SigV4QueryAuth(KEYS, service, region, expires=300) if query else SigV4Auth(KEYS, service, region)).add_auth(
        request
    )
    headers = {k.lower(): v for k, v in request.headers.items()}
    return headers, request.url.partition("?")[2]


def test_a_request_signed_by_botocore_is_accepted_with_its_access_key():
    headers, query = _signed()
    credential = check_signature(headers, query, "us-east-1")
    assert (credential.access_key, credential.service, credential.region) == (
        "AKIAEXAMPLEKEY",
        "execute-api",
        "us-east-1",
    )


def test_a_presigned_url_is_accepted():
    headers, query = _signed(query=True)
    assert "authorization" not in headers
    assert check_signature(headers, query, "us-east-1").access_key == "AKIAEXAMPLEKEY"


def test_an_unsigned_request_is_not_signed():
    with pytest.raises(NotSigned):
        check_signature({"host": "127.0.0.1"}, "x=1", "us-east-1")


@pytest.mark.parametrize(
    ("service", "region", "message"),
    [("s3", "us-east-1", "correct service: 'execute-api'"), ("execute-api", "eu-west-1", "valid region")],
)
def test_a_signature_for_another_service_or_region_is_refused(service, region, message):
    headers, query = _signed(service=service, region=region)
    with pytest.raises(BadSignature, match=message):
        check_signature(headers, query, "us-east-1")


def test_a_signature_older_than_15_minutes_is_refused():
    headers, query = _signed()
    later = datetime.now(UTC) + timedelta(minutes=16)
    with pytest.raises(BadSignature, match="expired"):
        check_signature(headers, query, "us-east-1", now=later)


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=" + "a" * 64,
        "AWS4-HMAC-SHA256 Credential=K/20261201/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=xyz",
        "AWS4-HMAC-SHA256 Credential=K/20261201/us-east-1/execute-api/aws4_request, SignedHeaders=x-amz-date, "
        "Signature=" + "a" * 64,
        "Bearer abc",
    ],
)
def test_a_malformed_authorization_header_is_refused(authorization):
    with pytest.raises(BadSignature):
        check_signature({"authorization": authorization, "x-amz-date": "20261201T221500Z"}, "", "us-east-1")
