"""S3 on moto, with bucket policies evaluated against the condition keys a local request carries, and the checksums
of multipart objects and their copies answered as AWS answers them."""

from __future__ import annotations

import fnmatch
import functools
import json
from typing import Any

# The local endpoint stands in for S3's TLS endpoint and is reached only on 127.0.0.1, so requests are evaluated
# as aws:SecureTransport=true.
LOCAL_REQUEST_CONDITIONS = {"aws:SecureTransport": "true"}


def condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """IAM condition evaluation for the keys a local request carries (AWS semantics: a missing key fails the
    condition unless the operator ends in IfExists, or is Null). Operators beyond these are treated as not
    holding, so the statement does not apply locally."""
    for operator, tests in condition.items():
        base = operator.removesuffix("IfExists")
        for key, expected in tests.items():
            wanted = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
            actual = context.get(key)
            if base == "Null":
                if (actual is None) != (wanted[0].lower() == "true"):
                    return False
                continue
            if actual is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            if base == "Bool":
                held = actual.lower() in [w.lower() for w in wanted]
            elif base == "StringEquals":
                held = actual in wanted
            elif base == "StringEqualsIgnoreCase":
                held = actual.lower() in [w.lower() for w in wanted]
            elif base == "StringNotEquals":
                held = actual not in wanted
            elif base in ("StringLike", "ArnLike", "ArnEquals"):
                held = any(fnmatch.fnmatchcase(actual, w) for w in wanted)
            elif base in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
                held = not any(fnmatch.fnmatchcase(actual, w) for w in wanted)
            else:
                return False
            if not held:
                return False
    return True


def effective_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements whose conditions hold for a local request, with their conditions removed.

    moto 5.2.5 answers DENIED for any statement whose condition does not hold, even an Allow or a Deny that
    should not apply, and does not evaluate Bool; so a TLS-only Deny (the secure default) would block every
    request. Conditions are evaluated here before moto evaluates actions, resources and effects.
    """
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    kept = []
    for statement in statements:
        if "Condition" in statement:
            if not condition_holds(statement["Condition"], LOCAL_REQUEST_CONDITIONS):
                continue
            statement = {k: v for k, v in statement.items() if k != "Condition"}
        kept.append(statement)
    return kept


def qualified_checksum(value: str, checksum_type: str | None, parts: int | None) -> str:
    """The object checksum as S3 answers it: a composite checksum (a checksum of the part checksums) carries
    `-<parts>`, which tells a client not to compare it with a checksum of the bytes it received."""
    if checksum_type == "COMPOSITE" and parts and not value.endswith(f"-{parts}"):
        return f"{value}-{parts}"
    return value


def answer_checksum(headers: dict[str, Any], key: Any) -> None:
    """Make a GetObject/HeadObject answer carry the key's checksum as S3 does: qualified and with its type.

    moto 5.2.5 answers HeadObject of a completed multipart upload with the composite value and no `-<parts>`
    and no type, so a client takes it for a full-object checksum. Only headers moto chose to send (checksum mode
    on, a whole object) are corrected; ranged answers have none, as on AWS.
    """
    algorithm = getattr(key, "checksum_algorithm", None)
    if not algorithm or not key.checksum_value:
        return
    header = f"x-amz-checksum-{algorithm.lower()}"
    if header not in headers:
        return
    headers[header] = qualified_checksum(key.checksum_value, key.checksum_type, key.checksum_parts)
    headers["x-amz-checksum-type"] = key.checksum_type or "FULL_OBJECT"


def copied_as_single_part(copy: Any) -> None:
    """A CopyObject result is a new single-part object: its checksum, in the source's algorithm (or the one the
    request named, which moto applies after this), is a checksum of all its bytes, and it has no parts.

    moto 5.2.5 copies the source's checksum value without its type and part count (a composite value then reads
    as a full-object checksum that no download can match: FlexibleChecksumError) and shares the source's parts.
    """
    from moto.s3.utils import compute_checksum

    copy.multipart = None
    if copy.checksum_algorithm and copy.checksum_value:
        copy.checksum_value = compute_checksum(copy.value, algorithm=copy.checksum_algorithm).decode("ascii")
        copy.checksum_type = "FULL_OBJECT"
        copy.checksum_parts = None


def install() -> None:
    _install_policy_evaluation()
    _install_checksum_answers()


def _install_policy_evaluation() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.get_permission, "_cd4ml_hook", False):
        return

    @functools.wraps(FakeBucket.get_permission)
    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = effective_statements(document)
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": statements})).is_action_permitted(action, resource)

    get_permission._cd4ml_hook = True  # type: ignore[attr-defined]
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def _install_checksum_answers() -> None:
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    if getattr(S3Backend.copy_object, "_cd4ml_hook", False):
        return
    original_copy = S3Backend.copy_object
    original_head = S3Response.head_object
    original_get = S3Response.get_object

    @functools.wraps(original_copy)
    def copy_object(self: Any, src_key: Any, dest_bucket_name: str, dest_key_name: str, *args: Any, **kw: Any) -> None:
        original_copy(self, src_key, dest_bucket_name, dest_key_name, *args, **kw)
        copy = self.get_object(dest_bucket_name, dest_key_name)
        if copy is not None:
            copied_as_single_part(copy)

    @functools.wraps(original_head)
    def head_object(self: Any, bucket_name: str, query: dict[str, Any], key_name: str, headers: Any) -> Any:
        status, response_headers, body = original_head(self, bucket_name, query, key_name, headers)
        if status == 200 and not query.get("partNumber"):
            version_id = query.get("versionId", [None])[0]
            answer_checksum(response_headers, self.backend.get_object(bucket_name, key_name, version_id))
        return status, response_headers, body

    @functools.wraps(original_get)
    def get_object(self: Any) -> Any:
        status, response_headers, body = original_get(self)
        if status == 200 and not self.querystring.get("partNumber"):
            version_id = self.querystring.get("versionId", [None])[0]
            answer_checksum(
                response_headers, self.backend.get_object(self.bucket_name, self.parse_key_name(), version_id)
            )
        return status, response_headers, body

    for hook in (copy_object, head_object, get_object):
        setattr(hook, "_cd4ml_hook", True)  # noqa: B010 (a marker attribute on a function)
    S3Backend.copy_object = copy_object  # type: ignore[method-assign]
    S3Response.head_object = head_object  # type: ignore[method-assign]
    S3Response.get_object = get_object  # type: ignore[method-assign]
